"""``pvd report``: results.csv, tables and figures from run records (never from logs).

Sub-commands, one per report step; the workflow (workflow/rules/report.smk) runs each as its own job
and is the one place that orders them (``snakemake --configfile ...`` writes every report file)::

    pvd report collect METRICS.json... | --results DIR   --out results.csv
    pvd report tables    --csv results.csv [--dataset D ...] --out DIR   # D.md, D.tex, D.html
    pvd report figures   --csv results.csv [--dataset D ...] --out DIR   # D_{heatmap,bars,scatter}.{png,pdf}
    pvd report reference --csv results.csv --out DIR                     # reference.{md,tex,html}
    pvd report cost RECORD.json... | --results DIR --out DIR [--grid_scenes N]   # cost.{md,tex,html}
    pvd report curves RECORD.json... | --results DIR   --out curves.csv    # learning curves of the runs
    pvd report run-table RECORD.json... | --results DIR --out DIR [--gap_bar DB] [--seconds_bar S]
                                   # runs.{md,tex,html}: every train/distill run's own figures, the bars
    pvd report time-to-quality --curves curves.csv --figures DIR --tables DIR
                                   # D_time_to_quality.{png,pdf}, time_to_quality.{md,tex,html}
    pvd report ablation --csv results.csv --out DIR                      # ablation.{md,tex,html}
    pvd report qualitative METRICS.json... --view V [--crop X Y W H] --out DIR
                                   # <dataset>_<scene>_qualitative.{png,pdf} (one scene's evaluations)
    pvd report edits METRICS.json... | --results DIR [--csv results.csv] --out DIR   # edits.{md,tex,html}
    pvd report edit-figure METRICS.json... --view V --out DIR   # edit_<edit>.{png,pdf} (one edit's evaluations)
    pvd report runs WS... --out DIR           # the workflow's report from workspaces in any layout (pvd.report.runs):
                                              # each part it can build; one line on each it cannot
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pvd.data import DATA_TYPES as DATASETS
from pvd.errors import UserError

# the report modules (and pandas, ~1 s) are imported by the parts that use them, not with every
# `pvd` command


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="report_command", metavar="PART", required=True)
    c = sub.add_parser("collect", help="metrics.json + record.json files -> results.csv")
    c.add_argument("metrics", nargs="*", type=Path, help="<dataset>/<scene>/eval/<model>/metrics.json files")
    c.add_argument("--results", type=Path, help="instead of METRICS: every metrics.json under this folder")
    c.add_argument("--out", required=True, type=Path, help="results.csv to write")
    for name, what in (
        ("tables", "teacher x student matrices and per-scene tables (md, tex, html)"),
        ("figures", "PSNR heatmap, teacher-vs-student bars, quality-vs-time scatter (png, pdf)"),
    ):
        t = sub.add_parser(name, help=what)
        t.add_argument("--csv", required=True, type=Path, help="results.csv")
        t.add_argument("--dataset", nargs="+", choices=DATASETS, help="datasets (default: all in the CSV)")
        t.add_argument("--out", required=True, type=Path, help="output folder")
    r = sub.add_parser("reference", help="ours vs the paper's reference numbers (docs/method.md; md, tex, html)")
    r.add_argument("--csv", required=True, type=Path, help="results.csv")
    r.add_argument("--out", required=True, type=Path, help="output folder")
    k = sub.add_parser("cost", help="device-hours and peak GPU memory per stage and architecture (md, tex, html)")
    k.add_argument("records", nargs="*", type=Path, help="<dataset>/<scene>/<stage>/<model>/record.json files")
    k.add_argument("--results", type=Path, help="instead of RECORDS: every run record under this folder")
    k.add_argument("--out", required=True, type=Path, help="output folder")
    k.add_argument("--grid_scenes", type=int, default=21, help="scenes of the grid to extrapolate to (paper: 21)")
    c = sub.add_parser("curves", help="train/distill record.json files -> curves.csv (their learning curves)")
    c.add_argument(
        "records", nargs="*", type=Path, help="<dataset>/<scene>/(teacher|distill)/<model>/record.json files"
    )
    c.add_argument("--results", type=Path, help="instead of RECORDS: every such record under this folder")
    c.add_argument("--out", required=True, type=Path, help="curves.csv to write")
    u = sub.add_parser(
        "run-table", help="every train and distill run's own figures, and the students' bars (md, tex, html)"
    )
    u.add_argument(
        "records", nargs="*", type=Path, help="<dataset>/<scene>/(teacher|distill)/<model>/record.json files"
    )
    u.add_argument("--results", type=Path, help="instead of RECORDS: every such record under this folder")
    u.add_argument("--out", required=True, type=Path, help="output folder")
    u.add_argument("--gap_bar", type=float, help="bar: each student within this many dB of its teacher")
    u.add_argument("--seconds_bar", type=float, help="bar: each distillation within this many seconds")
    t = sub.add_parser("time-to-quality", help="PSNR-vs-time figures per dataset and the speed-up table")
    t.add_argument("--curves", required=True, type=Path, help="curves.csv")
    t.add_argument("--figures", required=True, type=Path, help="folder of D_time_to_quality.{png,pdf}")
    t.add_argument(
        "--dataset",
        nargs="+",
        choices=DATASETS,
        help="datasets to draw, with or without curves (default: those in the CSV)",
    )
    t.add_argument("--tables", required=True, type=Path, help="folder of time_to_quality.{md,tex,html}")
    t = sub.add_parser("ablation", help="ablation variants against their pair's default (md, tex, html)")
    t.add_argument("--csv", required=True, type=Path, help="results.csv")
    t.add_argument("--out", required=True, type=Path, help="output folder")
    q = sub.add_parser("qualitative", help="one scene's grid of renders and error maps on one test view")
    q.add_argument("metrics", nargs="+", type=Path, help="<dataset>/<scene>/eval/<model>/metrics.json of one scene")
    q.add_argument("--view", required=True, type=int, help="the view index (evaluated with --render_views)")
    q.add_argument("--crop", type=int, nargs=4, metavar=("X", "Y", "W", "H"), help="show only this pixel region")
    q.add_argument("--caption", default="", help="a line under the title (e.g. presets, steps, device)")
    q.add_argument("--out", required=True, type=Path, help="output folder")
    e = sub.add_parser("edits", help="edit, then distil: every edit x teacher x student (md, tex, html)")
    e.add_argument("metrics", nargs="*", type=Path, help="edits/<edit>/<teacher>/eval/<evaluated>/metrics.json files")
    e.add_argument("--results", type=Path, help="instead of METRICS: every such file under this folder")
    e.add_argument("--csv", type=Path, help="results.csv of the main grid (the unedited pairs; default: none)")
    e.add_argument("--out", required=True, type=Path, help="output folder")
    f = sub.add_parser("edit-figure", help="one edit's renders on one test view: truth, teachers, students")
    f.add_argument(
        "metrics", nargs="+", type=Path, help="edits/<edit>/<teacher>/eval/<evaluated>/metrics.json of one edit"
    )
    f.add_argument("--view", required=True, type=int, help="the view index (evaluated with --render_views)")
    f.add_argument("--out", required=True, type=Path, help="output folder")
    w = sub.add_parser("runs", help="the workflow's report from workspaces in any layout, identified by their records")
    w.add_argument(
        "runs", nargs="+", type=Path, metavar="WS", help="workspaces of pvd train / import / distill / evaluate"
    )
    w.add_argument("--out", required=True, type=Path, help="report folder (results.csv, curves.csv, tables/, figures/)")


def _inputs(files: list[Path], results: Path | None, name: str, find) -> list[Path]:
    """The given files, or ``find(results)``: exactly one of the two must be given."""
    if bool(files) == bool(results):
        raise UserError(f"give either {name} files or --results DIR (exactly one of them)")
    return files or find(results)


def _datasets(frame, requested: list[str] | None) -> list[str]:
    present = [d for d in DATASETS if d in set(frame["dataset"])]
    if not requested:
        return present
    missing = [d for d in requested if d not in present]
    if missing:
        raise UserError(f"--dataset {missing}: results.csv has no rows of them (it has {present})")
    return list(requested)


def _collect(args: argparse.Namespace) -> list[Path]:
    from pvd.report.collect import collect, find_metrics, write_csv

    rows = collect(_inputs(args.metrics, args.results, "METRICS", find_metrics))
    write_csv(rows, args.out)
    print(f"{len(rows)} evaluated models -> {args.out}")
    return [args.out]


def _tables(csv: Path, datasets: list[str] | None, out: Path) -> list[Path]:
    from pvd.report.collect import read_csv
    from pvd.report.tables import write_dataset_tables

    frame = read_csv(csv)
    return [p for d in _datasets(frame, datasets) for p in write_dataset_tables(frame, d, out)]


def _figures(csv: Path, datasets: list[str] | None, out: Path) -> list[Path]:
    from pvd.report.collect import read_csv
    from pvd.report.figures import write_dataset_figures

    frame = read_csv(csv)
    return [p for d in _datasets(frame, datasets) for p in write_dataset_figures(frame, d, out)]


def _reference(csv: Path, out: Path) -> list[Path]:
    from pvd.report.collect import read_csv
    from pvd.report.reference import compare, comparison_table
    from pvd.report.tables import write_documents

    table = comparison_table(compare(read_csv(csv)))
    return write_documents([table], "Comparison with the reference results", out, "reference")


def _curves(records: list[Path], results: Path | None, out: Path) -> list[Path]:
    from pvd.report.cost import find_records
    from pvd.report.curves import collect_curves, write_curves

    rows = collect_curves(_inputs(records, results, "RECORDS", lambda r: find_records(r, ("teacher", "distill"))))
    write_curves(rows, out)
    print(f"{len(rows)} curve points -> {out}")
    return [out]


def _time_to_quality(curves: Path, figures: Path, tables: Path, datasets: list[str] | None = None) -> list[Path]:
    from pvd.report.curves import read_curves
    from pvd.report.tables import write_documents
    from pvd.report.time_to_quality import speed_tables, time_to_quality_figure

    frame = read_curves(curves)
    datasets = datasets or [d for d in DATASETS if d in set(frame["dataset"])]
    written = [p for d in datasets for p in time_to_quality_figure(frame, d, figures)]
    return written + write_documents(speed_tables(frame), "Time to quality", tables, "time_to_quality")


def _ablation(csv: Path, out: Path) -> list[Path]:
    from pvd.report.ablation import ablation_tables
    from pvd.report.collect import read_csv
    from pvd.report.tables import write_documents

    return write_documents(ablation_tables(read_csv(csv)), "Ablations", out, "ablation")


def _edits(metrics: list[Path], results: Path | None, csv: Path | None, out: Path) -> list[Path]:
    from pvd.report.collect import read_csv
    from pvd.report.edits import edits_table, find_edit_metrics
    from pvd.report.tables import write_documents

    def find(root: Path) -> list[Path]:
        found = find_edit_metrics(root)
        if not found:
            raise UserError(f"--results {root} holds no edits/<edit>/<teacher>/eval/<evaluated>/metrics.json")
        return found

    table = edits_table(_inputs(metrics, results, "METRICS", find), read_csv(csv) if csv is not None else None)
    return write_documents([table], "Edits", out, "edits")


def _runs(folders: list[Path], out: Path) -> list[Path]:
    from pvd.report.collect import write_csv

    """The workflow's report over hand-made workspaces: every part the runs allow; each one they do not is named
    with the reason in one line (nothing at all to write is an error)."""
    from pvd.report.cost import cost_tables, run_cost
    from pvd.report.curves import write_curves
    from pvd.report.runs import Runs
    from pvd.report.tables import write_documents

    runs = Runs.read(folders)
    written, skipped = [], []
    rows = runs.results()
    if rows:
        csv = out / "results.csv"
        write_csv(rows, csv)
        written += [csv] + _tables(csv, None, out / "tables") + _figures(csv, None, out / "figures")
        written += _reference(csv, out / "tables") + _ablation(csv, out / "tables")
    else:
        skipped.append(f"no results.csv, tables or figures: {runs.why_no_results()}")
    curves = runs.curves()
    if curves:
        write_curves(curves, out / "curves.csv")
        written += [out / "curves.csv"] + _time_to_quality(out / "curves.csv", out / "figures", out / "tables")
    else:
        skipped.append(f"no curves.csv or time to quality: {runs.why_no_curves()}")
    costed = runs.costed()
    tables = cost_tables([run_cost(r) for r in costed]) if costed else []
    written += write_documents(tables, "Benchmark cost", out / "tables", "cost") if tables else []
    for line in runs.notes + skipped:
        print(line)
    if not written:
        raise UserError(f"nothing to report from the {runs.given} run(s) given: {runs.why_no_results()}")
    return written


def run(args: argparse.Namespace) -> int:
    from pvd.report.cost import find_records, write_cost_tables

    part = args.report_command
    if part == "collect":
        written = _collect(args)
    elif part == "tables":
        written = _tables(args.csv, args.dataset, args.out)
    elif part == "figures":
        written = _figures(args.csv, args.dataset, args.out)
    elif part == "reference":
        written = _reference(args.csv, args.out)
    elif part == "cost":
        if args.grid_scenes < 1:
            raise UserError(f"--grid_scenes must be >= 1, got {args.grid_scenes}")
        written = write_cost_tables(
            _inputs(args.records, args.results, "RECORDS", find_records), args.out, args.grid_scenes
        )
    elif part == "curves":
        written = _curves(args.records, args.results, args.out)
    elif part == "run-table":
        from pvd.report.run_table import Bars, write_runs_tables

        records = _inputs(args.records, args.results, "RECORDS", lambda r: find_records(r, ("teacher", "distill")))
        written = write_runs_tables(records, args.out, Bars(args.gap_bar, args.seconds_bar))
    elif part == "time-to-quality":
        written = _time_to_quality(args.curves, args.figures, args.tables, args.dataset)
    elif part == "ablation":
        written = _ablation(args.csv, args.out)
    elif part == "qualitative":
        from pvd.report.qualitative import qualitative_figure

        written = qualitative_figure(
            args.metrics, args.view, args.out, tuple(args.crop) if args.crop else None, args.caption
        )
    elif part == "edits":
        written = _edits(args.metrics, args.results, args.csv, args.out)
    elif part == "runs":
        written = _runs(args.runs, args.out)
    else:  # edit-figure
        from pvd.report.edits import edit_figure

        written = edit_figure(args.metrics, args.view, args.out)
    for path in written:
        print(f"wrote {path}")
    return 0
