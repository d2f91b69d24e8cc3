"""Tables and figures of a benchmark run, built from its metrics.json and record.json files only.

:mod:`~pvd.report.collect` gathers one row per evaluated model into ``results.csv``;
:mod:`~pvd.report.tables` renders per-dataset teacher x student matrices and per-scene tables
(Markdown, LaTeX booktabs, HTML); :mod:`~pvd.report.figures` draws heatmaps, bars and scatter plots
(PNG, PDF); :mod:`~pvd.report.reference` compares against the reference results of docs/method.md.
``pvd report`` drives them.
"""

from pvd.report.collect import COLUMNS, ResultRow, collect, find_metrics, read_csv, read_row, write_csv

__all__ = ["COLUMNS", "ResultRow", "collect", "find_metrics", "read_csv", "read_row", "write_csv"]
