"""A capture's automatic box, shrunk by the occupancy of a short warm-up (``pvd train --box_warmup``).

The box :mod:`pvd.data.capture` derives from the cameras holds everything that most cameras see;
when the object fills only part of the frames that region is much larger than the object, and a
field spread over it wastes resolution. The warm-up trains the run's own field in that box for
``box_warmup`` steps (the run's schedule and seed, stopped early, then thrown away), takes the
occupancy grid's occupied cells (cascade 0, each axis trimmed by :data:`TRIM` of them at either
end), and centres the run's box on them with half-size their largest half extent plus
:data:`PAD_CELLS` grid cells; never larger than the first box, never smaller than :data:`MIN_SHARE`
of it; its axes stay the capture's (up is box +z). (A 10 % margin on top cost 1.7 dB on the
off-centre lego capture of ``benchmarks/capture_box.py``: tiny fields are that sensitive to the
box's size.)
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from pvd.data.cameras import Normalization
from pvd.data.scene import SceneSplit
from pvd.model import ModelMeta, build_model
from pvd.train.teacher import TeacherConfig, train_teacher

TRIM = 0.002
PAD_CELLS = 1
MIN_SHARE = 0.1


@dataclass(frozen=True)
class WarmBox:
    """The shrunk box: ``norm`` (world -> box) and what the record keeps (``to_dict``)."""

    norm: Normalization
    steps: int
    share: float  # new half-size / first half-size
    seconds: float  # the warm-up's wall time (not in the run's own seconds)

    def to_dict(self) -> dict:
        return {
            **box_fields(self.norm),
            "warmup_steps": self.steps,
            "share_of_seen_box": self.share,
            "seconds": round(self.seconds, 3),
        }


def box_fields(norm: Normalization) -> dict:
    """The record's words for a warmed-up box: its world centre and scale."""
    centre = norm.to_world(torch.zeros(1, 3, dtype=torch.float64))[0]
    return {"rule": "seen+warmup", "centre": centre.tolist(), "scale": norm.scale}


def shrink_to(norm: Normalization, lo: torch.Tensor, hi: torch.Tensor, cell: float) -> tuple[Normalization, float]:
    """``norm`` re-centred and re-scaled so the box-unit region ``[lo, hi]`` ([3] each) fills its box
    (module doc); returns it and the share of the old half-size."""
    lo, hi = lo.double(), hi.double()
    half = float((0.5 * (hi - lo)).max()) + PAD_CELLS * cell
    share = min(1.0, max(MIN_SHARE, half / norm.bound))
    mid = 0.5 * (lo + hi)
    mid = mid.clamp(-norm.bound * (1 - share), norm.bound * (1 - share))  # the new box stays inside the old
    centre = norm.to_world(mid[None])[0]
    scale = norm.scale / share
    turned = torch.tensor(norm.rotation, dtype=torch.float64) @ centre
    offset = tuple(-scale * float(v) for v in turned)
    return Normalization(norm.bound, scale, offset, norm.rotation), share


def warm_box(
    meta_for: Callable[[Normalization], ModelMeta],
    norm: Normalization,
    train: SceneSplit,
    cfg: TeacherConfig,
    steps: int,
    seed: int,
    device: torch.device,
    scratch: Path,
) -> WarmBox:
    """Train ``steps`` steps of the model ``meta_for(norm)`` on ``train`` and shrink ``norm`` to its
    occupied cells (module doc); ``scratch`` is a folder its throw-away checkpoint may use."""
    t0 = time.perf_counter()
    steps = min(steps, cfg.iters - 1)
    model = build_model(meta_for(norm), device)
    torch.manual_seed(seed)
    model.grid.mark_untrained(train.cameras, norm)
    with tempfile.TemporaryDirectory(prefix=".box_warmup.", dir=scratch) as tmp:
        train_teacher(model, train, cfg, Path(tmp), device, progress=False, stop_at=steps)
    bounds = model.grid.occupied_bounds(TRIM)
    if bounds is None:
        return WarmBox(norm, steps, 1.0, time.perf_counter() - t0)
    cell = 2 * model.grid.cascade_extent(0) / model.grid.resolution
    shrunk, share = shrink_to(norm, *bounds, cell)
    return WarmBox(shrunk, steps, share, time.perf_counter() - t0)
