"""PVD-AL's active-learning options for distillation (arXiv 2304.04012), each off by default.

* **Hard poses** — :class:`HardPoseTracker` accumulates each view's rendered-colour error over an
  epoch; the hardest share (10 %) is re-used in the next epoch, orbited by up to ±9°.
* **Hard rays** — :class:`HardRayPool` keeps the hardest share (10 %) of every batch's rays in a
  bounded first-in-first-out pool (614,400 rays in the paper) that is mixed into later batches.
* **Point selection** — :func:`top_weight_mask` restricts the per-sample losses to the top 30 %
  samples by compositing weight on rays whose opacity is at least 0.5.

All state is plain tensors so that it can be saved for ``--resume``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from pvd.data.cameras import Rays


@dataclass(frozen=True)
class ActiveConfig:
    """PVD-AL switches and their parameters.

    Attributes:
        hard_poses: re-use the hardest poses of each epoch, jittered.
        hard_pose_ratio: share of an epoch's poses re-used.
        hard_pose_jitter_deg: maximum orbit angle of a re-used pose.
        hard_rays: keep a pool of hard rays and mix it into batches.
        hard_ray_ratio: share of each batch's rays added to the pool.
        hard_ray_pool: pool capacity (rays).
        hard_ray_mix: share of each batch drawn from the pool once it holds rays.
        point_top: restrict per-sample losses to high-weight samples of opaque rays.
        point_top_ratio: share of a ray's samples kept, by weight.
        point_min_opacity: rays below this opacity contribute no per-sample loss.
    """

    hard_poses: bool = False
    hard_pose_ratio: float = 0.1
    hard_pose_jitter_deg: float = 9.0
    hard_rays: bool = False
    hard_ray_ratio: float = 0.1
    hard_ray_pool: int = 614400
    hard_ray_mix: float = 0.1
    point_top: bool = False
    point_top_ratio: float = 0.3
    point_min_opacity: float = 0.5

    @property
    def needs_ray_errors(self) -> bool:
        return self.hard_poses or self.hard_rays


def top_weight_mask(
    weights: Tensor, ray_indices: Tensor, opacity: Tensor, top_ratio: float, min_opacity: float
) -> Tensor:
    """[n_samples] bool: per ray with ``opacity >= min_opacity``, its ``ceil(top_ratio * k)``
    samples of largest weight (``k`` = the ray's sample count).

    Args:
        weights: [n_samples] compositing weights (the teacher's).
        ray_indices: [n_samples] sorted int64 ray of each sample.
        opacity: [n_rays] accumulated weights.
    """
    n = weights.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.bool, device=weights.device)
    by_weight = torch.argsort(weights.detach(), descending=True, stable=True)
    order = by_weight[torch.argsort(ray_indices[by_weight], stable=True)]
    counts = torch.bincount(ray_indices, minlength=opacity.shape[0])
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty(n, dtype=torch.long, device=weights.device)
    rank[order] = torch.arange(n, device=weights.device) - starts[ray_indices[order]]
    keep_count = torch.ceil(counts.float() * top_ratio).long()
    opaque = opacity.detach() >= min_opacity
    return (rank < keep_count[ray_indices]) & opaque[ray_indices]


class HardPoseTracker:
    """Mean rendered-colour error per view of the current epoch."""

    def __init__(self, n_views: int):
        self.error = torch.zeros(n_views, dtype=torch.float64)
        self.count = torch.zeros(n_views, dtype=torch.float64)

    def add(self, view: Tensor, ray_error: Tensor) -> None:
        """Accumulate [n] per-ray errors of rays from views ``view`` [n] (negative: not a pose ray)."""
        keep = view >= 0
        v = view[keep].cpu()
        self.error.index_add_(0, v, ray_error[keep].detach().double().cpu())
        self.count.index_add_(0, v, torch.ones_like(v, dtype=torch.float64))

    def hardest(self, ratio: float) -> Tensor:
        """Indices of the ``ceil(ratio * n_views)`` views with the largest mean error (seen views only)."""
        seen = self.count > 0
        k = min(int(seen.sum()), math.ceil(ratio * len(self.count)))
        if k == 0:
            return torch.zeros(0, dtype=torch.long)
        mean = torch.where(seen, self.error / self.count.clamp_min(1), torch.full_like(self.error, -1.0))
        return torch.topk(mean, k).indices

    def state_dict(self) -> dict:
        return {"error": self.error, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.error, self.count = state["error"].clone(), state["count"].clone()


class HardRayPool:
    """A bounded pool of hard rays (box coordinates), oldest replaced first."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self.origins = torch.zeros(0, 3)
        self.directions = torch.zeros(0, 3)

    def __len__(self) -> int:
        return self.origins.shape[0]

    def add(self, rays: Rays, ray_error: Tensor, ratio: float) -> None:
        """Add the ``ceil(ratio * n)`` rays of largest error among ``rays`` [n]."""
        k = min(len(rays), math.ceil(ratio * len(rays)))
        if k == 0 or self.capacity == 0:
            return
        top = torch.topk(ray_error.detach(), k).indices
        self.origins = torch.cat([self.origins, rays.origins[top].detach().cpu()])[-self.capacity :]
        self.directions = torch.cat([self.directions, rays.directions[top].detach().cpu()])[-self.capacity :]

    def sample(self, n: int, generator: torch.Generator) -> Rays:
        """``n`` rays drawn uniformly (with replacement) from the pool."""
        idx = torch.randint(len(self), (n,), generator=generator)
        return Rays(self.origins[idx], self.directions[idx])

    def state_dict(self) -> dict:
        return {"origins": self.origins, "directions": self.directions}

    def load_state_dict(self, state: dict) -> None:
        self.origins, self.directions = state["origins"].clone(), state["directions"].clone()
