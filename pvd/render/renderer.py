"""The volume renderer: march rays through the occupancy grid, query a field, composite.

Typical use::

    grid = OccupancyGrid(bound, config.grid_resolution)
    renderer = Renderer(field, grid, config)
    renderer.update_grid(step, generator)                      # every step; acts every update_every
    out = renderer.render_rays(rays, bg, train=True, generator=g)

Distillation marches once and composites two fields on the same samples::

    samples = renderer.march(rays, train=True, generator=g)
    teacher = renderer.composite(samples, evaluate_field(teacher_field, samples), bg)
    student = renderer.composite(samples, evaluate_field(student_field, samples), bg)

Units and conventions: box coordinates throughout (:mod:`pvd.render.marching`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor

from pvd.data.cameras import Rays
from pvd.errors import UserError
from pvd.fields.base import Field, FieldOutput
from pvd.ops.composite import composite as composite_op
from pvd.render.compositing import RenderOutput, background, composite_samples
from pvd.render.marching import Samples, march_rays, near_far, step_limits
from pvd.render.occupancy import OccupancyGrid, uniform

__all__ = ["RenderConfig", "Renderer", "RenderOutput", "Samples", "evaluate_field"]

_UNLIMITED = 1 << 30


@dataclass(frozen=True)
class RenderConfig:
    """Renderer and occupancy-grid settings (defaults: the reference's paper values).

    Attributes:
        dt_gamma: step growth with distance, ``dt = clamp(t * dt_gamma, dt_min, dt_max)``.
        max_steps: finest steps across the unit cube's diagonal: ``dt_min = 2 sqrt(3) / max_steps``.
        min_near: rays start no closer than this to their origin (box units).
        t_thresh: inference stops a ray once its transmittance falls below this.
        grid_resolution: occupancy cells per axis and cascade.
        density_thresh: occupancy threshold cap, ``min(mean density, density_thresh)``.
        update_every: the grid is updated on steps divisible by this.
        grid_decay: decay of a cell's previous density estimate at each visit.
        full_updates: the first this-many grid updates visit every cell.
        max_samples: cap on samples per ray in training (None: ``max_steps``).
        prune_warmup: no pruning before this step (densities are still tracked).
        empty_keep_ratio: in training, each step also samples this share of the empty-but-seen cells
            (chosen at random per step) so that geometry pruned too early can come back.
        infer_block: inference marches at most this many samples per live ray per round.
        density_chunk: points per field call during grid updates.
    """

    dt_gamma: float = 0.0
    max_steps: int = 1024
    min_near: float = 0.2
    t_thresh: float = 1e-4
    grid_resolution: int = 128
    density_thresh: float = 10.0
    update_every: int = 16
    grid_decay: float = 0.95
    full_updates: int = 16
    max_samples: int | None = None
    prune_warmup: int = 0
    empty_keep_ratio: float = 0.0
    infer_block: int = 64
    density_chunk: int = 1 << 16

    def __post_init__(self):
        positive = ("max_steps", "grid_resolution", "update_every", "infer_block", "density_chunk")
        for name in positive:
            if getattr(self, name) < 1:
                raise UserError(f"render config: {name} must be >= 1, got {getattr(self, name)}")
        if self.max_samples is not None and self.max_samples < 1:
            raise UserError(f"render config: max_samples must be >= 1 or None, got {self.max_samples}")
        for name in ("dt_gamma", "min_near", "t_thresh", "density_thresh", "full_updates", "prune_warmup"):
            if getattr(self, name) < 0:
                raise UserError(f"render config: {name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.grid_decay <= 1:
            raise UserError(f"render config: grid_decay must be in (0, 1], got {self.grid_decay}")
        if not 0 <= self.empty_keep_ratio <= 1:
            raise UserError(f"render config: empty_keep_ratio must be in [0, 1], got {self.empty_keep_ratio}")

    @property
    def samples_cap(self) -> int:
        return self.max_samples if self.max_samples is not None else self.max_steps

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict) -> RenderConfig:
        """Inverse of :meth:`to_dict`; unknown keys are a :class:`UserError`."""
        known = {f.name for f in dataclasses.fields(RenderConfig)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"render config: unknown keys {unknown}; known keys are {sorted(known)}")
        return RenderConfig(**d)


def evaluate_field(field: Field, samples: Samples) -> FieldOutput:
    """Run ``field`` on every sample ([n_samples, 3] positions and directions) -> FieldOutput.

    With no samples the field still runs (on one box-centre point, then sliced to zero rows), so
    the outputs stay connected to the field's parameters and a loss built on them can backpropagate.
    """
    if samples.n_samples:
        return field(samples.positions, samples.directions)
    one = samples.positions.new_zeros(1, 3)
    out = field(one, one + torch.tensor([0.0, 0.0, 1.0], device=one.device))
    return FieldOutput(s=out.s[:0], sigma=out.sigma[:0], rgb=out.rgb[:0], h=None if out.h is None else out.h[:0])


class Renderer:
    """Renders rays of the box ``[-bound, bound]^3`` with ``field``, skipping cells empty in ``grid``."""

    def __init__(self, field: Field, grid: OccupancyGrid, config: RenderConfig = RenderConfig()):
        if abs(field.bound - grid.bound) > 1e-6:
            raise UserError(f"renderer: field bound {field.bound} differs from occupancy-grid bound {grid.bound}")
        self.field = field
        self.grid = grid
        self.config = config
        self.dt_min, self.dt_max = step_limits(config.max_steps, grid.resolution, grid.cascades)

    @property
    def bound(self) -> float:
        return self.grid.bound

    def update_grid(self, step: int, generator: torch.Generator | None = None) -> bool:
        """Grid update with the field's density at the configured schedule; returns whether it ran."""
        c = self.config
        return self.grid.update(
            self.field.density,
            step,
            density_thresh=c.density_thresh,
            decay=c.grid_decay,
            update_every=c.update_every,
            warmup_steps=c.prune_warmup,
            full_updates=c.full_updates,
            chunk=c.density_chunk,
            generator=generator,
        )

    def _training_occupancy(self, generator: torch.Generator | None) -> Tensor:
        occ = self.grid.occupancy
        ratio = self.config.empty_keep_ratio
        if ratio <= 0:
            return occ
        # ~ratio of all cells, drawn with replacement: cheaper than a full random mask per step
        n_cells = occ.numel()
        n_keep = max(1, int(round(ratio * n_cells)))
        cells = (uniform((n_keep,), generator, occ.device) * n_cells).long().clamp_max(n_cells - 1)
        kept = occ.clone().reshape(-1)
        kept[cells] |= self.grid.seen.reshape(-1)[cells]
        return kept.reshape(occ.shape)

    def march(self, rays: Rays, train: bool, generator: torch.Generator | None = None) -> Samples:
        """Samples of ``rays`` in occupied cells, at most ``config.samples_cap`` per ray.

        Training (``train=True``) jitters each ray's samples by one random offset within their
        intervals (from ``generator``) and adds the ``empty_keep_ratio`` share of empty cells;
        otherwise samples sit at interval midpoints.
        """
        c = self.config
        near, far = near_far(rays, self.bound, c.min_near)
        if train:
            offsets = uniform((len(rays),), generator, near.device)
            occupancy = self._training_occupancy(generator)
        else:
            offsets = torch.full_like(near, 0.5)
            occupancy = self.grid.occupancy
        samples, _ = march_rays(
            rays,
            near,
            far,
            offsets,
            occupancy,
            self.bound,
            self.dt_min,
            self.dt_max,
            c.dt_gamma,
            c.samples_cap,
            _UNLIMITED,
        )
        return samples

    def composite(self, samples: Samples, out: FieldOutput, bg) -> RenderOutput:
        """Composite any field's outputs on ``samples`` over ``bg`` ([3] or [n_rays, 3])."""
        return composite_samples(samples, out, bg)

    def render_rays(self, rays: Rays, bg, train: bool, generator: torch.Generator | None = None) -> RenderOutput:
        """March, evaluate the field on every sample and composite (differentiable)."""
        samples = self.march(rays, train, generator)
        return self.composite(samples, evaluate_field(self.field, samples), bg)

    @torch.no_grad()
    def render_image(self, rays: Rays, bg, chunk: int = 4096) -> RenderOutput:
        """Inference render of any number of rays in chunks, stopping rays once opaque.

        Each round marches at most ``config.infer_block`` samples per live ray, composites them
        behind what the ray already holds and drops rays that reached ``far`` or whose
        transmittance fell below ``config.t_thresh``. Returns rgb [n_rays, 3], opacity and depth
        [n_rays]; ``weights`` and ``samples`` are None.
        """
        n = len(rays)
        bg = background(bg, n, rays.origins.device)
        parts = [self._render_chunk(rays[s : s + chunk], bg[s : s + chunk]) for s in range(0, n, chunk)]
        if not parts:
            empty = bg.new_zeros(0)
            return RenderOutput(rgb=bg.new_zeros(0, 3), opacity=empty, depth=empty)
        rgb, opacity, depth = (torch.cat(p) for p in zip(*parts))
        return RenderOutput(rgb=rgb, opacity=opacity, depth=depth)

    def _render_chunk(self, rays: Rays, bg: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        c = self.config
        near, far = near_far(rays, self.bound, c.min_near)
        n = len(rays)
        rgb = near.new_zeros(n, 3)
        depth = near.new_zeros(n)
        transmittance = near.new_ones(n)
        t_cur = near.clone()
        alive = t_cur < far
        while bool(alive.any()):
            idx = alive.nonzero().squeeze(1)
            sub = rays[idx]
            samples, t_end = march_rays(
                sub,
                t_cur[idx],
                far[idx],
                torch.full_like(t_cur[idx], 0.5),
                self.grid.occupancy,
                self.bound,
                self.dt_min,
                self.dt_max,
                c.dt_gamma,
                c.infer_block,
                c.max_steps,
            )
            if samples.n_samples:
                out = evaluate_field(self.field, samples)
                _, blk_rgb, blk_depth, blk_opacity = composite_op(
                    out.sigma.reshape(-1), out.rgb, samples.deltas, samples.t, samples.ray_indices, len(idx)
                )
                t_before = transmittance[idx]
                rgb[idx] += t_before.unsqueeze(1) * blk_rgb
                depth[idx] += t_before * blk_depth
                transmittance[idx] = t_before * (1 - blk_opacity)
            moved = t_end > t_cur[idx]
            t_cur[idx] = t_end
            alive[idx] = moved & (t_end < far[idx]) & (transmittance[idx] > c.t_thresh)
        opacity = 1 - transmittance
        return rgb + transmittance.unsqueeze(1) * bg, opacity, depth
