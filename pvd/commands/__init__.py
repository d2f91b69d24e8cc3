"""The ``pvd`` verbs, one module each (``train``, ``distill``, ``evaluate``, ``render``, ``report``,
``data``, ``build_ext``): each exposes ``add_arguments(parser)`` and ``run(args) -> int``.

argparse lives here and in :mod:`pvd.cli` only; flags shared by several verbs are declared once in
:mod:`pvd.commands.flags`, and every run's ``record.json`` is written by :mod:`pvd.commands.record`.
"""
