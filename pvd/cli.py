"""The `pvd` command line: ``pvd train | distill | evaluate | render | edit | report | data | import | export``.

Each verb is a module of :mod:`pvd.commands` exposing ``add_arguments(parser)`` and
``run(args) -> int``; this module only lists them (an explicit registry) and dispatches.
Errors of the user's making (:class:`pvd.errors.UserError`) print one clear line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from pvd.commands.workspace import release_all
from pvd.errors import UserError
from pvd.records import write_error

# name -> (module implementing add_arguments/run, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("pvd.commands.data", "dataset tools: demo scene, download, LPIPS weights"),
    "train": ("pvd.commands.train", "train a teacher field on a scene"),
    "distill": ("pvd.commands.distill", "distill a teacher checkpoint into another architecture"),
    "evaluate": ("pvd.commands.evaluate", "evaluate a checkpoint on a split (PSNR/SSIM/LPIPS)"),
    "render": ("pvd.commands.render", "render a camera-path video of a checkpoint"),
    "edit": ("pvd.commands.edit", "edit a checkpoint's scene (erase, keep, move, insert)"),
    "report": ("pvd.commands.report", "build tables and figures from run records"),
    "import": ("pvd.commands.import_ckpt", "convert a checkpoint of the reference code into a pvd checkpoint"),
    "export": ("pvd.commands.export_ckpt", "write a paper-preset checkpoint in the reference code's format"),
    "build-ext": ("pvd.commands.build_ext", "build the native kernels ahead of time"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pvd", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sp = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sp)
        sp.add_argument(
            "--threads",
            type=int,
            default=None,
            help="CPU threads for tensor math (default: $PVD_THREADS, else torch's choice; "
            "1 is fastest for the tiny presets and when jobs share the cores)",
        )
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        set_threads(args.threads)
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"pvd {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pvd {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a full disk or read-only folder at a write not made through atomic_path
        error = write_error(exc, exc.filename or "a file")
        if error is None:
            raise
        print(f"pvd {args.command}: error: {error}", file=sys.stderr)
        return 2
    finally:
        release_all()


if __name__ == "__main__":
    sys.exit(main())
