"""``pvd export``: a pvd checkpoint -> the reference's checkpoint format (METHOD §9).

    pvd export --ckpt WS/checkpoint.pt --out hash_ep0000.pth

Only models whose field is the reference architecture can be written: ``paper``-preset fields in
torch-ngp's frame (imported teachers and the students distilled from them) with the density clamp
[-2, 7]; anything else (``tiny`` sizes above all) is a clear error naming what differs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pvd.errors import UserError
from pvd.interop import export_reference, write_reference
from pvd.model import load_model


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ckpt", required=True, type=Path, help="pvd teacher or student checkpoint.pt")
    p.add_argument("--out", required=True, type=Path, help="reference checkpoint to write (.pth)")
    p.add_argument("--epoch", type=int, default=0, help="the file's 'epoch' entry (default 0)")


def run(args: argparse.Namespace) -> int:
    if args.out.suffix != ".pth":
        raise UserError(f"--out {args.out}: the reference's checkpoints end in .pth")
    model = load_model(args.ckpt)
    if model.meta.preset != "paper":
        raise UserError(
            f"--ckpt {args.ckpt} is a {model.meta.preset!r}-preset {model.model_type} model; the "
            f"reference holds only its own sizes (the 'paper' preset)"
        )
    state, extras = export_reference(model, epoch=args.epoch)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_reference(args.out, state, extras)
    print(f"exported {model.model_type} ({model.meta.kind}, step {model.meta.step}) -> {args.out}")
    return 0
