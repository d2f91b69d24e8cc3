"""`pvd build-ext [--cuda] [--arch LIST] [--verbose]`: build the native kernels ahead of time.

Builds the CPU extension, and with ``--cuda`` also the CUDA one, into the cache that the ops load from
lazily (see :mod:`pvd.ops.backend`), then prints one line per build: kind, whether it was compiled now
or found in the cache, the time taken and the directory. A failed build prints the compiler's output
and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys

from pvd.errors import UserError
from pvd.ops import backend


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cuda", action="store_true", help="also build the CUDA kernels (needs torch with CUDA and nvcc)"
    )
    parser.add_argument(
        "--arch",
        default=None,
        metavar="LIST",
        help="CUDA compute capabilities, e.g. 9.0 or '8.0;9.0' (default: $TORCH_CUDA_ARCH_LIST, else the visible GPUs)",
    )
    parser.add_argument("--verbose", action="store_true", help="show the compiler commands and output")


def run(args: argparse.Namespace) -> int:
    if args.arch is not None and not args.cuda:
        raise UserError("--arch only applies to the CUDA build: add --cuda")
    arch = backend.normalize_arch_list(args.arch) if args.arch else None
    kinds = ("cpu", "cuda") if args.cuda else ("cpu",)
    for kind in kinds:
        try:
            result = backend.build(kind, arch_list=arch if kind == "cuda" else None, verbose=args.verbose)
        except backend.NativeBuildError as exc:
            message = str(exc)
            if "\n" not in message:
                raise UserError(f"the {kind} native build failed: {message}") from exc
            print(message, file=sys.stderr)
            raise UserError(f"the {kind} native build failed (compiler output above)") from exc
        state = "built" if result.compiled else "cached"
        arch_note = f" [arch {result.arch_list}]" if kind == "cuda" else ""
        print(f"{kind}: {state} in {result.seconds:.1f} s{arch_note} -> {result.directory}")
    return 0
