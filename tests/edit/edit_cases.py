"""Small models with known content for the edit tests: a ``tensors`` field holding one opaque ball."""

from __future__ import annotations

import torch

from pvd.data.cameras import Normalization
from pvd.edit.apply import rebuild_grid
from pvd.model import Model, ModelMeta, build_model
from pvd.render import RenderConfig

RES = 33


def ball_model(
    centre=(0.3, 0.0, 0.2),
    radius=0.25,
    colour_logit=(2.0, -1.0, 0.0),
    tilt=0.0,
    norm: Normalization | None = None,
    outside: float = -5.0,
    resolution: int = RES,
    per_bound: bool = False,
) -> Model:
    """A tensors model with log-density 5 inside a world ball, ``outside`` elsewhere; colour logits
    ``colour_logit / C0`` in the SH DC channel plus ``tilt`` on the +x band-1 coefficient (view
    dependent), on a grid of ``resolution`` points per axis (per unit of bound with ``per_bound``).
    The grid is rebuilt from the density."""
    from pvd.fields.tensors import TensorsConfig

    norm = norm or Normalization(1.0, 0.8, (0.0, 0.0, 0.0))
    meta = ModelMeta(
        model_type="tensors",
        preset="tiny",
        field_config=TensorsConfig(resolution=resolution, per_bound=per_bound),
        render_config=RenderConfig(max_steps=64, grid_resolution=16),
        bound=norm.bound,
        normalization=norm,
        kind="teacher",
        data_type="synthetic",
    )
    model = build_model(meta)
    lin = torch.linspace(-norm.bound, norm.bound, model.field.res)
    z, y, x = torch.meshgrid(lin, lin, lin, indexing="ij")  # row (k * R + j) * R + i
    box = torch.stack([x, y, z], -1).reshape(-1, 3)
    world = (box - torch.tensor(norm.offset)) / norm.scale
    inside = (world - torch.tensor(centre)).norm(dim=-1) <= radius
    with torch.no_grad():
        grid = model.field.grid
        grid.zero_()
        grid[:, 0] = torch.where(inside, 5.0, outside)
        for c in range(3):
            grid[:, 1 + 9 * c] = colour_logit[c] / 0.28209479177387814
            grid[:, 1 + 9 * c + 3] = -tilt  # SH term -C1 * x: coefficient -tilt gives +tilt * C1 * x
    rebuild_grid(model, 8, torch.Generator().manual_seed(0))  # as pvd edit does, seed 0
    return model
