"""The one writer of a run's ``record.json`` (see :mod:`pvd.records` for the layout).

The record's ``config`` is the run's spec as it ran (:func:`pvd.runs.spec.spec_dict`: every option,
defaults included) plus the engine config the run resolved (the preset's schedule with the spec's
overrides); ``device_request`` is the spec's ``device`` and ``device`` the one used.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pvd.ops.backend import active_backend
from pvd.records import make_record, write_json
from pvd.runs import device as run_device
from pvd.runs.spec import spec_dict
from pvd.train.loop import autocast_dtype


def peak_memory_mb(device: torch.device) -> float | None:
    """Peak GPU memory the run's tensors took on ``device`` (MiB); None on the CPU."""
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)


def curve_fields(probe, curve: list[dict], seconds: float, cpu_seconds: float) -> dict:
    """The record's learning curve: ``curve`` (points) and ``curve_probe`` (what was probed and the
    probes' own wall and processor seconds, kept out of the run's ``seconds``); ``{}`` without a probe."""
    if probe is None:
        return {}
    return {
        "curve": curve,
        "curve_probe": {**probe.describe(), "seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds, 3)},
    }


def size_fields(model) -> dict:
    """What a record says of a trained model's size: ``gaussians`` (the count at the end of the run)
    for a gs model (densification and pruning change it), nothing for the fixed-size fields."""
    return {"gaussians": len(model.field)} if model.model_type == "gs" else {}


def write_run_record(
    workspace: Path,
    kind: str,
    spec,
    device: torch.device,
    seconds: float,
    metrics: dict,
    config: dict | None = None,
    file: str = "record.json",
    **extra,
) -> dict:
    """Write ``workspace/file`` (default ``record.json``) of a ``kind`` run of ``spec``: its options
    (plus ``config``), code version, the backend of the hot ops on ``device``, the device asked for and
    the GPU slot held (``device="auto"``), peak GPU memory, seconds, ``metrics`` and ``extra`` fields; for training
    runs (a ``precision`` option) also ``precision``, the dtype the steps ran in (float32, float16, bfloat16)."""
    if hasattr(spec, "precision"):
        dtype = autocast_dtype(spec.precision or "auto", device, spec.model_type if kind == "distill" else None)
        extra = {"precision": str(dtype or torch.float32).removeprefix("torch."), **extra}
    slot = run_device.HELD_SLOT
    record = make_record(
        kind,
        config={**spec_dict(spec), **(config or {})},
        device=str(device),
        backend=active_backend(device),
        seconds=seconds,
        metrics=metrics,
        device_request=getattr(spec, "device", str(device)),
        gpu_slot=slot.to_dict() if slot is not None else None,
        gpu_peak_memory_mb=peak_memory_mb(device),
        **extra,
    )
    write_json(workspace / file, record)
    return record
