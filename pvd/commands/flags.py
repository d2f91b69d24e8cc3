"""Flags shared by several verbs, declared once, with choices taken from the registries."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from pvd.data import DATA_TYPES
from pvd.errors import UserError
from pvd.evaluate.probe import ProbeConfig
from pvd.fields import ARCHS
from pvd.ops.backend import active_backend
from pvd.presets import PRESET_NAMES


def add_data_type(p: argparse.ArgumentParser, required: bool = True, help: str = "on-disk format of SCENE_DIR") -> None:
    p.add_argument("--data_type", required=required, choices=DATA_TYPES, help=help)


def add_arch(p: argparse.ArgumentParser, flag: str, help: str) -> None:
    p.add_argument(flag, required=True, choices=ARCHS, help=help)


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")


def add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no_progress", "--no-progress", action="store_true", dest="no_progress",
                   help="no progress bar")


def add_checkpoint(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ckpt", required=True, type=Path, help="teacher or student checkpoint.pt")
    p.add_argument("--workspace", required=True, type=Path, help="output folder")


def add_training(p: argparse.ArgumentParser) -> None:
    """Flags of the commands that train on a scene (train, distill)."""
    p.add_argument("scene_dir", type=Path, help="scene folder (Blender, LLFF or NSVF layout)")
    add_data_type(p)
    p.add_argument("--workspace", required=True, type=Path, help="output folder")
    p.add_argument("--preset", default="tiny", choices=PRESET_NAMES,
                   help="model and schedule sizes (tiny: CPU minutes; paper: METHOD §3)")
    p.add_argument("--iters", type=int, help="optimisation steps (default: the preset's)")
    p.add_argument("--batch_rays", type=int, help="rays per step (default: the preset's)")
    p.add_argument("--lr", type=float, help="base learning rate (default: the preset's)")
    p.add_argument("--downscale", type=int, default=1, help="image downscale factor K (>= 1)")
    p.add_argument("--seed", type=int, default=0)
    add_device(p)
    p.add_argument("--resume", action="store_true", help="continue from WS/checkpoint.pt")
    p.add_argument("--ckpt_every", type=int, help="steps between resumable checkpoints (default: the preset's)")
    p.add_argument("--stop_at", type=int, help="stop at this step with a resumable checkpoint and no "
                   "record (for time-limited cluster slots; continue with --resume)")
    add_progress(p)
    defaults = ProbeConfig()
    p.add_argument("--curve_points", type=int, default=defaults.points,
                   help="learning-curve probes per run, evenly spaced, first and last step included (0: none)")
    p.add_argument("--probe_views", type=int, default=defaults.views, help="test views of the learning curve")
    p.add_argument("--probe_size", type=int, default=defaults.size,
                   help="longest side in pixels of a probed view (area-averaged down)")


def probe_config(args: argparse.Namespace) -> ProbeConfig:
    """The learning-curve probe of the parsed flags (checked)."""
    cfg = ProbeConfig(points=args.curve_points, views=args.probe_views, size=args.probe_size)
    cfg.check()
    return cfg


def check_training(args: argparse.Namespace) -> None:
    """Validate the flags of :func:`add_training`."""
    if not args.scene_dir.is_dir():
        raise UserError(f"SCENE_DIR {args.scene_dir} is not a directory")
    if args.downscale < 1:
        raise UserError(f"--downscale must be >= 1, got {args.downscale}")
    for flag in ("iters", "batch_rays", "stop_at"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise UserError(f"--{flag} must be >= 1, got {value}")
    if getattr(args, "lr", None) is not None and not args.lr > 0:
        raise UserError(f"--lr must be > 0, got {args.lr}")


def prepare_device(name: str) -> torch.device:
    """Parse ``--device``; a CUDA device without CUDA is a clear error. Loads the native kernels for the
    device (building them if this is their first use), so that a one-off build is timed as part of no
    run's training, probe or render seconds."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name!r} is not a device; expected cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: this machine has no usable CUDA GPU; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"--device {name!r}: expected cpu, cuda or cuda:N")
    active_backend(device)
    return device
