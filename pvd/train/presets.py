"""Named presets: per-architecture training schedules, renderer settings and dataset defaults.

``paper`` reproduces METHOD §3; ``tiny`` is sized to train in about a minute on 2 CPU cores
(same code, smaller numbers). Per-scene values (bound, scale, dt_gamma) come from the workflow's
config; the dataset defaults below are used when a flag is not given.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pvd.errors import UserError
from pvd.render import RenderConfig
from pvd.train.teacher import TeacherConfig

PRESETS = ("tiny", "paper")


@dataclass(frozen=True)
class SceneDefaults:
    """Box and step defaults of a dataset type (world -> box: ``scale``, box half-size ``bound``)."""

    bound: float
    scale: float
    dt_gamma: float


DATASET_DEFAULTS = {
    "synthetic": SceneDefaults(bound=1.0, scale=0.8, dt_gamma=0.0),
    "llff": SceneDefaults(bound=2.0, scale=0.33, dt_gamma=0.003),
    "tank": SceneDefaults(bound=1.0, scale=0.5, dt_gamma=0.0),
}

# model_type -> (iters, lr, regulariser weight)
_PAPER_SCHEDULE = {"hash": (40000, 1e-2, 0.0), "vm": (30000, 2e-2, 1e-4),
                   "mlp": (50000, 2e-3, 0.0), "tensors": (15000, 2e-2, 0.0)}
_TINY_SCHEDULE = {"hash": (1500, 1e-2, 0.0), "vm": (1500, 2e-2, 1e-4),
                  "mlp": (1500, 1e-2, 0.0), "tensors": (1500, 3e-2, 0.0)}


def check_preset(preset: str) -> None:
    if preset not in PRESETS:
        raise UserError(f"--preset {preset!r} is unknown; expected one of {list(PRESETS)}")


def teacher_defaults(model_type: str, preset: str) -> TeacherConfig:
    """Teacher schedule for an architecture at a preset."""
    check_preset(preset)
    table = _PAPER_SCHEDULE if preset == "paper" else _TINY_SCHEDULE
    iters, lr, reg = table[model_type]
    if preset == "paper":
        return TeacherConfig(iters=iters, batch_rays=8192, lr=lr, reg_weight=reg,
                             rays_from_one_image=True, ckpt_every=5000)
    return TeacherConfig(iters=iters, batch_rays=1024, lr=lr, reg_weight=reg, ckpt_every=500)


def render_defaults(preset: str, dt_gamma: float) -> RenderConfig:
    """Renderer settings: the reference's 128^3 grid and fine steps, or a coarse CPU version."""
    check_preset(preset)
    if preset == "paper":
        return replace(RenderConfig(), dt_gamma=dt_gamma, max_steps=1024, grid_resolution=128)
    return replace(RenderConfig(), dt_gamma=dt_gamma, max_steps=192, grid_resolution=48,
                   prune_warmup=64, empty_keep_ratio=0.02)
