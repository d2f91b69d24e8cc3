"""``pvd train``: train a teacher field on a scene and write its checkpoint and record."""

from __future__ import annotations

import argparse
from pathlib import Path

ARCHS = ("hash", "vm", "mlp", "tensors")


def add_scene_arguments(p: argparse.ArgumentParser) -> None:
    """Flags shared by the commands that read a scene (train, distill)."""
    p.add_argument("scene_dir", type=Path, help="scene folder (Blender, LLFF or NSVF layout)")
    p.add_argument("--data_type", required=True, choices=("synthetic", "llff", "tank"),
                   help="on-disk format of SCENE_DIR")
    p.add_argument("--workspace", required=True, type=Path, help="output folder")
    p.add_argument("--preset", default="tiny", choices=("tiny", "paper"),
                   help="model and schedule sizes (tiny: CPU minutes; paper: METHOD §3)")
    p.add_argument("--iters", type=int, help="optimisation steps (default: the preset's)")
    p.add_argument("--batch_rays", type=int, help="rays per step (default: the preset's)")
    p.add_argument("--lr", type=float, help="base learning rate (default: the preset's)")
    p.add_argument("--downscale", type=int, default=1, help="image downscale factor K (>= 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--resume", action="store_true", help="continue from WS/checkpoint.pt")
    p.add_argument("--ckpt_every", type=int, help="steps between resumable checkpoints (default: the preset's)")
    p.add_argument("--stop_at", type=int, help="stop at this step with a resumable checkpoint and no "
                   "record (for time-limited cluster slots; continue with --resume)")
    p.add_argument("--no_progress", action="store_true", help="no progress bar")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_scene_arguments(p)
    p.add_argument("--model_type", required=True, choices=ARCHS, help="architecture to train")
    p.add_argument("--bound", type=float, help="box half-size (default: the dataset's)")
    p.add_argument("--scale", type=float, help="world -> box scale (default: the dataset's)")
    p.add_argument("--dt_gamma", type=float, help="step growth with distance (default: the dataset's)")
    p.add_argument("--density_range", type=float, nargs=2, default=(-2.0, 7.0), metavar=("LO", "HI"),
                   help="clamp of the log-density s")


def run(args: argparse.Namespace) -> int:
    from pvd.train.session import prepare_device, run_teacher

    device = prepare_device(args.device)
    return run_teacher(args, device)
