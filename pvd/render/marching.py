"""Ray marching for the renderer: near/far from the box, step limits, packed :class:`Samples`.

Units: everything is in box coordinates (``[-bound, bound]^3``, see :mod:`pvd.data.cameras`);
``t`` is the distance along a unit direction from the ray origin. The finest step is
``dt_min = 2 sqrt(3) / max_steps`` and the coarsest ``dt_max = 2 sqrt(3) 2^(C-1) / R`` (``R`` the
grid resolution, ``C`` its cascades) — the reference's definitions, so ``max_steps`` counts finest
steps across the diagonal of the unit cube ``[-1, 1]^3`` whatever the bound. A sample's step is
``clamp(t * dt_gamma, dt_min, dt_max)`` (see :mod:`pvd.ops.march`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from pvd.data.cameras import Rays
from pvd.ops.march import march
from pvd.ops.ray_aabb import ray_aabb


@dataclass
class Samples:
    """Packed samples of a batch of rays (nerfacc style), ray-major and front to back per ray.

    Attributes:
        positions: [n_samples, 3] box points.
        directions: [n_samples, 3] unit directions (the ray's).
        t: [n_samples] distance of the sample along its ray (box units).
        deltas: [n_samples] length of the interval the sample stands for (box units).
        ray_indices: [n_samples] int64 ray of each sample, sorted, in ``[0, n_rays)``.
        n_rays: number of rays in the batch (rays may have no samples).
    """

    positions: Tensor
    directions: Tensor
    t: Tensor
    deltas: Tensor
    ray_indices: Tensor
    n_rays: int

    @property
    def n_samples(self) -> int:
        return self.t.shape[0]

    def samples_per_ray(self) -> Tensor:
        """[n_rays] int64 number of samples of each ray."""
        return torch.bincount(self.ray_indices, minlength=self.n_rays)

    def select(self, keep: Tensor) -> Samples:
        """The samples where ``keep`` ([n_samples] bool) is set, in order (still packed per ray)."""
        return Samples(
            self.positions[keep],
            self.directions[keep],
            self.t[keep],
            self.deltas[keep],
            self.ray_indices[keep],
            self.n_rays,
        )


def step_limits(max_steps: int, grid_resolution: int, cascades: int) -> tuple[float, float]:
    """(dt_min, dt_max) in box units; ``dt_max`` is raised to ``dt_min`` when it would be smaller."""
    dt_min = 2 * math.sqrt(3) / max_steps
    dt_max = 2 * math.sqrt(3) * 2 ** (cascades - 1) / grid_resolution
    return dt_min, max(dt_min, dt_max)


def near_far(rays: Rays, bound: float, min_near: float) -> tuple[Tensor, Tensor]:
    """[n_rays] (near, far) of each ray in the box; ``near = max(entry, min_near)``.

    Rays that miss the box, or leave it before ``min_near``, get ``near == far`` (no samples); so do
    rays with a non-finite or zero direction, whose far would be infinite.
    """
    aabb = torch.tensor([-bound] * 3 + [bound] * 3, dtype=rays.origins.dtype, device=rays.origins.device)
    t_near, t_far, hit = ray_aabb(rays.origins, rays.directions, aabb)
    near = t_near.clamp_min(min_near)
    hit = hit & torch.isfinite(t_far)  # a zero direction inside the box "hits" up to t = inf
    far = torch.where(hit & (t_far > near), t_far, near)
    near = torch.where(hit, near, torch.zeros_like(near))
    far = torch.where(hit, far, torch.zeros_like(far))
    return near, far


def march_rays(
    rays: Rays,
    near: Tensor,
    far: Tensor,
    offsets: Tensor,
    occupancy: Tensor,
    bound: float,
    dt_min: float,
    dt_max: float,
    dt_gamma: float,
    max_samples: int,
    max_candidates: int,
) -> tuple[Samples, Tensor]:
    """March ``rays`` from ``near`` to ``far`` through ``occupancy`` ([C, R, R, R] bool).

    Args:
        offsets: [n_rays] sample position inside each interval, in [0, 1) (0.5 = midpoint).
        max_samples: keep at most this many samples per ray.
        max_candidates: examine at most this many intervals per ray.
    Returns:
        (samples, t_end): ``t_end`` [n_rays] is where each ray stopped (``far`` when traversed).
    """
    ray_indices, t, deltas, t_end = march(
        rays.origins,
        rays.directions,
        near,
        far,
        offsets,
        occupancy,
        bound,
        dt_min,
        dt_max,
        dt_gamma,
        max_samples,
        max_candidates,
    )
    directions = rays.directions[ray_indices]
    positions = rays.origins[ray_indices] + t.unsqueeze(1) * directions
    return Samples(positions, directions, t, deltas, ray_indices, len(rays)), t_end
