"""The `pvd` command line: ``pvd train | distill | evaluate | render | edit | import | export | report | data | view``.

The run verbs are derived from their specs (:data:`pvd.runs.RUN_KINDS`, flags by
:mod:`pvd.commands.args`); the tool verbs (``data``, ``report``, ``build-ext``, ``view``) are modules of
:mod:`pvd.commands` exposing ``add_arguments(parser)`` and ``run(args) -> int``. Errors of the user's
making (:class:`pvd.errors.UserError`) print one clear line and exit 2; a spec error names the flag.
SIGINT and SIGTERM unwind the run (its unfinished files are removed) and exit 130 and 143.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

import pvd
from pvd.commands.args import SpecHelpFormatter, add_spec_arguments, flag, spec_from_args
from pvd.errors import UserError
from pvd.records import write_error
from pvd.runs import RUN_KINDS, SpecError
from pvd.runs.staging import Terminated, stop_handlers
from pvd.runs.workspace import release_all
from pvd.train.loop import skip_dynamo_import

# the verbs that are not runs: name -> (module implementing add_arguments/run, one-line help)
TOOLS: dict[str, tuple[str, str]] = {
    "report": ("pvd.commands.report", "build tables and figures from run records"),
    "data": ("pvd.commands.data", "dataset tools: demo scene, download, LPIPS weights"),
    "build-ext": ("pvd.commands.build_ext", "build the native kernels ahead of time"),
    "view": ("pvd.commands.view", "look at checkpoints in a browser (RGB, depth, opacity; cameras)"),
}


def _add_threads(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for tensor math (default: $PVD_THREADS, else torch's choice; 1 is fastest for the tiny "
        "presets and when jobs share the cores)",
    )


def _spec_runner(kind):
    """The ``_run`` of a run verb: the spec of the parsed flags, then the kind's lifecycle (exit 0)."""

    def run(args: argparse.Namespace) -> int:
        kind.run(spec_from_args(kind.spec, args))
        return 0

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pvd", description=__doc__.splitlines()[0], formatter_class=SpecHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pvd {pvd.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, kind in RUN_KINDS.items():
        sp = sub.add_parser(name, help=kind.help, description=kind.help, formatter_class=SpecHelpFormatter)
        add_spec_arguments(sp, kind.spec)
        _add_threads(sp)
        sp.set_defaults(_run=_spec_runner(kind))
    for name, (module_name, help_text) in TOOLS.items():
        module = importlib.import_module(module_name)
        sp = sub.add_parser(name, help=help_text, description=help_text, formatter_class=SpecHelpFormatter)
        module.add_arguments(sp)
        _add_threads(sp)
        sp.set_defaults(_run=module.run)
    return parser


def set_threads(threads: int | None) -> None:
    """Apply ``--threads`` (or ``$PVD_THREADS``) to torch's intra-op thread pool."""
    if threads is None:
        env = os.environ.get("PVD_THREADS")
        if not env:
            return
        try:
            threads = int(env)
        except ValueError:
            raise UserError(f"$PVD_THREADS must be a positive integer, got {env!r}") from None
    if threads < 1:
        raise UserError(f"--threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def error_line(exc: UserError, command: str) -> str:
    """The one line a user error prints: a spec error names the option by its flag."""
    kind = RUN_KINDS.get(command)
    name_of = lambda name: flag(name, kind.spec if kind else None)  # noqa: E731
    if isinstance(exc, SpecError):
        text = exc.render(name_of)
    else:  # other user errors write the options they mention in backticks too
        text = re.sub(r"`(\w+)`", lambda m: name_of(m.group(1)), str(exc))
    return f"pvd {command}: error: {text}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        set_threads(args.threads)
        skip_dynamo_import()  # this process never compiles
        with stop_handlers():
            return int(args._run(args) or 0)
    except UserError as exc:
        print(error_line(exc, args.command), file=sys.stderr)
        return 2
    except Terminated:
        print(f"pvd {args.command}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"pvd {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a full disk or read-only folder at a write not made through atomic_path
        error = write_error(exc, exc.filename or "a file")
        if error is None:
            raise
        print(error_line(error, args.command), file=sys.stderr)
        return 2
    finally:
        release_all()


if __name__ == "__main__":
    sys.exit(main())
