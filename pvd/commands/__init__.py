"""The command line's verbs besides the runs: ``data``, ``report``, ``build-ext`` (one module each,
exposing ``add_arguments(parser)`` and ``run(args) -> int``), and :mod:`pvd.commands.args`, which
derives the run verbs' flags from their specs (:mod:`pvd.runs`). argparse lives here and in
:mod:`pvd.cli` only.
"""
