"""The device of a run: ``auto`` (the default: a free GPU slot, else the CPU), ``cpu``, ``cuda``, ``cuda:N``.

The GPU slot that ``auto`` claims (:mod:`pvd.devices`) is held until the process ends; the record
names it. The native kernels for the device are loaded (built on their first use) by
:func:`prepare_device`, after the run's inputs were checked, so that an argument error never waits
for a build and a one-off build is timed as part of no run's training, probe or render seconds.
"""

from __future__ import annotations

import os

import torch

from pvd.devices import SlotClaim, claim_slot
from pvd.errors import UserError
from pvd.ops.backend import active_backend
from pvd.runs.spec import SpecError

DEVICE_HELP = "cpu | cuda | cuda:N | auto (a free GPU slot when a GPU is present, else the CPU; see gpu_slots)"

# the GPU slot this process holds (``device="auto"``): kept for the life of the process
HELD_SLOT: SlotClaim | None = None


def device_problem(name: str) -> str | None:
    """Why ``name`` is not a device name (None when it is one): the spec's check of ``device``."""
    if name == "auto":
        return None
    try:
        device = torch.device(name)
    except RuntimeError:
        return f"{name!r} is not a device; expected cpu, cuda, cuda:N or auto"
    if device.type not in ("cpu", "cuda"):
        return f"{name!r}: expected cpu, cuda, cuda:N or auto"
    return None


def gpu_slots(requested: int | None) -> int:
    """``gpu_slots`` of the spec, else ``$PVD_GPU_SLOTS``, else 1."""
    if requested is not None:
        return requested
    env = os.environ.get("PVD_GPU_SLOTS", "1")
    try:
        return int(env)
    except ValueError:
        raise UserError(f"$PVD_GPU_SLOTS must be a positive integer, got {env!r}") from None


def resolve_device(name: str, slots: int | None = None) -> torch.device:
    """The torch device of a spec's ``device``; a CUDA device without CUDA is a clear error. ``auto``
    claims a free GPU slot, held until the process ends, or runs on the CPU without a GPU (said)."""
    global HELD_SLOT
    if name == "auto":
        HELD_SLOT = claim_slot(gpu_slots(slots), on_wait=lambda message: print(message, flush=True))
        if HELD_SLOT is None:
            print("device auto: no CUDA GPU on this machine; running on the CPU", flush=True)
            return torch.device("cpu")
        print(f"device auto: GPU {HELD_SLOT.gpu_id} (cuda:{HELD_SLOT.index}), slot {HELD_SLOT.slot}", flush=True)
        return torch.device("cuda", HELD_SLOT.index)
    problem = device_problem(name)
    if problem is not None:
        raise SpecError("device", problem)
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SpecError("device", f"{name}: this machine has no usable CUDA GPU; use cpu or auto")
    return device


def prepare_device(name: str, slots: int | None = None) -> torch.device:
    """:func:`resolve_device`, then load the native kernels for it (building them on first use)."""
    device = resolve_device(name, slots)
    active_backend(device)
    return device
