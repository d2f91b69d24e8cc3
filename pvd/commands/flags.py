"""Flags shared by several verbs, declared once, with choices taken from the registries."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import torch

from pvd.data import DATA_TYPES
from pvd.devices import SlotClaim, claim_slot
from pvd.errors import UserError
from pvd.evaluate.probe import ProbeConfig
from pvd.fields import ARCHS
from pvd.ops.backend import active_backend
from pvd.presets import PRESET_NAMES
from pvd.train.loop import PRECISIONS


def finite_float(text: str) -> float:
    """argparse type of every real-valued flag: a finite number (``inf`` and ``nan`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def add_overwrite(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace what --workspace holds (another model's or another run's results; an "
        "unfinished run's checkpoint) instead of refusing",
    )


def add_data_type(p: argparse.ArgumentParser, required: bool = True, help: str = "on-disk format of SCENE_DIR") -> None:
    p.add_argument("--data_type", required=required, choices=DATA_TYPES, help=help)


def add_arch(p: argparse.ArgumentParser, flag: str, help: str, choices: tuple[str, ...] = ARCHS) -> None:
    p.add_argument(flag, required=True, choices=choices, help=help)


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device", default="cpu", help="cpu | cuda | cuda:N | auto (a free GPU slot, else the CPU: see --gpu_slots)"
    )
    p.add_argument(
        "--gpu_slots",
        type=int,
        default=None,
        help="with --device auto: jobs that may share one GPU (default: $PVD_GPU_SLOTS, else 1)",
    )


def add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no_progress", "--no-progress", action="store_true", dest="no_progress", help="no progress bar")


def add_checkpoint(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ckpt", required=True, type=Path, help="teacher or student checkpoint.pt")
    p.add_argument("--workspace", required=True, type=Path, help="output folder")
    add_overwrite(p)


def add_training(p: argparse.ArgumentParser) -> None:
    """Flags of the commands that train on a scene (train, distill)."""
    p.add_argument("scene_dir", type=Path, help="scene folder (Blender, LLFF or NSVF layout)")
    add_data_type(p)
    p.add_argument("--workspace", required=True, type=Path, help="output folder")
    p.add_argument(
        "--preset",
        default="tiny",
        choices=PRESET_NAMES,
        help="model and schedule sizes (tiny: CPU minutes; paper: METHOD §3)",
    )
    p.add_argument("--iters", type=int, help="optimisation steps (default: the preset's)")
    p.add_argument("--batch_rays", type=int, help="rays per step (default: the preset's)")
    p.add_argument("--lr", type=finite_float, help="base learning rate (default: the preset's)")
    p.add_argument("--downscale", type=int, default=1, help="image downscale factor K (>= 1)")
    p.add_argument("--seed", type=int, default=0)
    add_device(p)
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="arithmetic of the training steps: auto (default: fp16 autocast with loss scaling on "
        "CUDA, float32 on the CPU), fp32, or bf16 (bfloat16 autocast: cheaper mlp steps on "
        "CPUs with AVX512-BF16 or AMX, slower where bfloat16 is emulated)",
    )
    p.add_argument("--resume", action="store_true", help="continue from WS/checkpoint.pt")
    add_overwrite(p)
    p.add_argument("--ckpt_every", type=int, help="steps between resumable checkpoints (default: the preset's)")
    p.add_argument(
        "--stop_at",
        type=int,
        help="stop at this step with a resumable checkpoint and no "
        "record (for time-limited cluster slots; continue with --resume)",
    )
    add_progress(p)
    defaults = ProbeConfig()
    p.add_argument(
        "--curve_points",
        type=int,
        default=defaults.points,
        help="learning-curve probes per run, evenly spaced, first and last step included (0: none)",
    )
    p.add_argument("--probe_views", type=int, default=defaults.views, help="test views of the learning curve")
    p.add_argument(
        "--probe_size",
        type=int,
        default=defaults.size,
        help="longest side in pixels of a probed view (area-averaged down)",
    )


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
    if args.ckpt_every is not None and args.ckpt_every < 0:
        raise UserError(f"--ckpt_every must be >= 0 (0: only when stopped), got {args.ckpt_every}")
    for flag in ("iters", "batch_rays", "stop_at"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise UserError(f"--{flag} must be >= 1, got {value}")
    if getattr(args, "lr", None) is not None and not args.lr > 0:
        raise UserError(f"--lr must be > 0, got {args.lr}")


# the GPU slot this process holds (``--device auto``): kept for the life of the process
HELD_SLOT: SlotClaim | None = None


def gpu_slots(flag: int | None) -> int:
    """``--gpu_slots``, else ``$PVD_GPU_SLOTS``, else 1."""
    if flag is not None:
        return flag
    env = os.environ.get("PVD_GPU_SLOTS", "1")
    try:
        return int(env)
    except ValueError:
        raise UserError(f"$PVD_GPU_SLOTS must be a positive integer, got {env!r}") from None


def parse_device(name: str, slots: int | None = None) -> torch.device:
    """``--device`` as a torch device; a CUDA device without CUDA is a clear error. ``auto`` claims a
    free GPU slot (:mod:`pvd.devices`), held until the process ends, or runs on the CPU without a GPU."""
    global HELD_SLOT
    if name == "auto":
        HELD_SLOT = claim_slot(gpu_slots(slots), on_wait=lambda message: print(message, flush=True))
        if HELD_SLOT is None:
            print("--device auto: no CUDA GPU on this machine; running on the CPU", flush=True)
            return torch.device("cpu")
        print(f"--device auto: GPU {HELD_SLOT.gpu_id} (cuda:{HELD_SLOT.index}), slot {HELD_SLOT.slot}", flush=True)
        return torch.device("cuda", HELD_SLOT.index)
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name!r} is not a device; expected cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: this machine has no usable CUDA GPU; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"--device {name!r}: expected cpu, cuda, cuda:N or auto")
    return device


def prepare_device(name: str, slots: int | None = None) -> torch.device:
    """:func:`parse_device`, then load the native kernels for the device (building them if this is
    their first use), so that a one-off build is timed as part of no run's training, probe or render
    seconds."""
    device = parse_device(name, slots)
    active_backend(device)
    return device
