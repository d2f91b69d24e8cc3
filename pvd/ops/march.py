"""Ray marching through an occupancy grid: packed samples in occupied cells only.

Step rule (Instant-NGP): from ``t`` the next step is ``dt(t) = clamp(t * dt_gamma, dt_min, dt_max)``.
Starting at ``near`` this defines interval boundaries ``b_0 = near < b_1 < ...``; interval ``k`` is
``[b_k, min(b_{k+1}, far))``. Its sample sits at ``b_k + offset * (upper - lower)`` (``offset`` is a
per-ray jitter in [0, 1), 0.5 = midpoint) and its ``delta`` is the interval length. Only samples whose
cell is occupied are kept, at most ``max_samples`` per ray, in ray-major, front-to-back order.

The boundaries have a closed form (three phases: constant ``dt_min``, geometric growth by
``1 + dt_gamma``, constant ``dt_max``), so the twin tests every candidate of every ray at once instead of
stepping in a Python loop.

Layout contract (shared by the PyTorch twin and any native kernel):

* ``origins``, ``directions``: [n_rays, 3] float32, box units, unit directions.
* ``near``, ``far``: [n_rays] float32 ray parameters; rays with ``near >= far`` get no samples, and so
  do rays whose ``near`` or ``far`` is not finite (their ``t_end`` is ``far``): marching examines at
  most ``max_candidates`` intervals per ray and call, and never loops on NaN or infinite input.
* ``offsets``: [n_rays] float32 in [0, 1).
* ``occupancy``: [C, R, R, R] bool, cascade ``c`` covers ``[-s_c, s_c]^3`` with
  ``s_c = min(2^c, bound)``; cell ``[c, i, j, k]`` is indexed by x (i), y (j), z (k). A point uses the
  finest cascade that contains it.
* Output ``(ray_indices [m] int64, t [m], deltas [m], t_end [n_rays])``: ``t_end`` is where marching
  stopped — ``far`` when the ray was fully traversed, else the end of the last consumed interval
  (because ``max_samples`` or ``max_candidates`` ran out); marching again from ``t_end`` continues the
  same boundaries.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pvd.ops.backend import native_module

DEFAULT_BUDGET = 1 << 21


class StepRule:
    """Closed-form interval boundaries of the ``clamp(t * dt_gamma, dt_min, dt_max)`` stepping."""

    def __init__(self, dt_min: float, dt_max: float, dt_gamma: float):
        self.dt_min = float(dt_min)
        self.dt_max = max(float(dt_max), self.dt_min)
        self.gamma = float(dt_gamma)
        self.linear = self.gamma <= 0.0 or self.dt_max == self.dt_min

    def _phases(self, t0: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Per-ray phase lengths: (k1 steps of dt_min reaching T1, m2 geometric steps reaching T2)."""
        g = self.gamma
        a, b = self.dt_min / g, self.dt_max / g
        k1 = torch.where(t0 <= a, torch.floor((a - t0) / self.dt_min) + 1, torch.zeros_like(t0))
        t1 = t0 + k1 * self.dt_min
        m2 = torch.ceil(torch.log(b / t1.clamp_min(1e-30)) / math.log1p(g)).clamp_min(0)
        t2 = t1 * (1 + g) ** m2
        return k1, t1, m2, t2

    def boundaries(self, t0: Tensor, k: Tensor) -> Tensor:
        """[n, 1] starts and [n, W] (or [W]) step counts -> [n, W] boundaries ``b_k``."""
        if self.linear:
            return t0 + k * self.dt_min
        k1, t1, m2, t2 = self._phases(t0)
        lin1 = t0 + k * self.dt_min
        geo = t1 * (1 + self.gamma) ** (k - k1).clamp(min=0)
        lin3 = t2 + (k - k1 - m2) * self.dt_max
        return torch.where(k <= k1, lin1, torch.where(k <= k1 + m2, geo, lin3))

    def count(self, t0: Tensor, t_stop: Tensor) -> Tensor:
        """[n] starts and stops -> [n] number of intervals needed to reach ``t_stop`` (float)."""
        span = (t_stop - t0).clamp_min(0)
        if self.linear:
            return torch.ceil(span / self.dt_min)
        k1, t1, m2, t2 = self._phases(t0)
        n1 = torch.ceil(span / self.dt_min)
        n2 = k1 + torch.ceil(torch.log(t_stop.clamp_min(1e-30) / t1) / math.log1p(self.gamma))
        n3 = k1 + m2 + torch.ceil((t_stop - t2) / self.dt_max)
        return torch.where(t_stop <= t1, n1, torch.where(t_stop <= t2, n2, n3)).clamp_min(0)


def cell_index(x: Tensor, bound: float, cascades: int, resolution: int) -> Tensor:
    """[..., 3] box points -> [...] int64 flat index into a [C, R, R, R] grid (finest containing cascade)."""
    return _cell_index_axes(x[..., 0], x[..., 1], x[..., 2], bound, cascades, resolution)


def _cell_index_axes(x: Tensor, y: Tensor, z: Tensor, bound: float, cascades: int, resolution: int) -> Tensor:
    """Same as :func:`cell_index` for coordinates given as three same-shape tensors."""
    if cascades == 1:
        inv = 0.5 * resolution / min(1.0, bound)
        level = None
    else:
        extent = torch.fmax(torch.fmax(x.abs(), y.abs()), z.abs()).nan_to_num_(nan=1e-30).clamp_min_(1e-30)
        level = torch.log2(extent).ceil_().clamp_(0, cascades - 1)
        inv = 0.5 * resolution / torch.exp2(level).clamp_(max=bound)
    exact_in_float = cascades * resolution**3 <= 1 << 24
    flat = None
    for coord in (x, y, z):
        # NaN coordinates take cell 0, infinite ones the border cell (as the native kernels)
        cell = (coord * inv).add_(0.5 * resolution).nan_to_num_(nan=0.0).clamp_(0, resolution - 1).floor_()
        if not exact_in_float:
            cell = cell.long()
        flat = cell if flat is None else flat.mul_(resolution).add_(cell)
    if level is not None:
        flat = flat.add_((level if exact_in_float else level.long()) * resolution**3)
    return flat.long()


def _march_chunk(
    origins,
    directions,
    near,
    far,
    offsets,
    occ_flat,
    bound,
    cascades,
    resolution,
    rule: StepRule,
    max_samples: int,
    width: int,
):
    """March one chunk of rays over ``width`` candidate intervals each (see :func:`march_torch`)."""
    k = torch.arange(width, device=origins.device, dtype=origins.dtype)
    t0, far2, u = near.unsqueeze(1), far.unsqueeze(1), offsets.unsqueeze(1)
    if rule.linear:
        # samples at near + (k + u) dt; the last, partial interval's sample is pulled inside [lower, far)
        count = rule.count(near, far)
        last_lower = near + (count - 1).clamp_min(0) * rule.dt_min
        t = (k * rule.dt_min).unsqueeze(0) + (t0 + u * rule.dt_min)
        t = torch.minimum(t, (last_lower + offsets * (far - last_lower)).unsqueeze(1))
        valid = k.unsqueeze(0) < count.unsqueeze(1)
    else:
        lower = rule.boundaries(t0, k)
        upper = torch.minimum(lower + (lower * rule.gamma).clamp_(rule.dt_min, rule.dt_max), far2)
        t = torch.addcmul(lower, upper - lower, u)
        valid = lower < far2
    axes = [torch.addcmul(origins[:, i : i + 1], t, directions[:, i : i + 1]) for i in range(3)]
    keep = occ_flat[_cell_index_axes(*axes, bound, cascades, resolution)].logical_and_(valid)
    n_kept = keep.sum(dim=1)
    if int(n_kept.max()) > max_samples:
        keep &= keep.cumsum(dim=1) <= max_samples
        n_kept = n_kept.clamp(max=max_samples)
    flat = keep.view(-1).nonzero().squeeze(1)
    rows = flat // width
    kk = (flat - rows * width).to(origins.dtype)
    lower, upper = _interval(rule, near[rows], far[rows], kk)
    delta = upper - lower
    t_kept = torch.addcmul(lower, delta, offsets[rows])
    window_end = _interval(rule, near, far, torch.full_like(near, width - 1))[1]
    t_end = window_end
    capped = n_kept >= max_samples
    if bool(capped.any()):
        last = kk[(torch.cumsum(n_kept, 0) - 1).clamp_min(0)] if kk.numel() else torch.zeros_like(near)
        last_upper = _interval(rule, near, far, last)[1]
        t_end = torch.where(capped, last_upper, window_end)
    return rows, t_kept, delta, t_end


def _interval(rule: StepRule, near: Tensor, far: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
    """Interval ``k`` of rays starting at ``near``: (lower, upper clipped to ``far``), all [m]."""
    lower = rule.boundaries(near.unsqueeze(1), k.unsqueeze(1)).squeeze(1)
    if rule.linear:
        step = torch.full_like(lower, rule.dt_min)
    else:
        step = (lower * rule.gamma).clamp_(rule.dt_min, rule.dt_max)
    return lower, torch.minimum(lower + step, far)


def march_torch(
    origins: Tensor,
    directions: Tensor,
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
    budget: int = DEFAULT_BUDGET,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Pure-PyTorch twin of ``march_fwd``: see the module docstring for the layout.

    ``max_candidates`` caps the intervals examined per ray in this call; ``budget`` caps the
    candidates held in memory at once (rays are processed in chunks).
    """
    n_rays = origins.shape[0]
    cascades, resolution = occupancy.shape[0], occupancy.shape[1]
    rule = StepRule(dt_min, dt_max, dt_gamma)
    far = torch.where(near < far, far, near)
    ok = torch.isfinite(near) & torch.isfinite(far)
    near = torch.where(ok, near, far)
    counts = torch.where(ok, rule.count(near, far), torch.zeros_like(near))
    width = int(min(max_candidates, counts.max().item())) if n_rays else 0
    empty_f = origins.new_zeros(0)
    if width <= 0:
        return torch.zeros(0, dtype=torch.long, device=origins.device), empty_f, empty_f, far.clone()
    occ_flat = occupancy.reshape(-1)
    chunk = max(1, budget // width)
    parts = []
    for start in range(0, n_rays, chunk):
        sl = slice(start, start + chunk)
        rows, t, delta, t_end = _march_chunk(
            origins[sl],
            directions[sl],
            near[sl],
            far[sl],
            offsets[sl],
            occ_flat,
            bound,
            cascades,
            resolution,
            rule,
            max_samples,
            width,
        )
        parts.append((rows + start, t, delta, t_end))
    ray_indices, t, deltas, t_end = parts[0] if len(parts) == 1 else (torch.cat(p) for p in zip(*parts))
    return ray_indices, t, deltas, torch.where(ok, t_end, far)


def march(
    origins: Tensor,
    directions: Tensor,
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
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Ray marching through the best available backend (see :mod:`pvd.ops.backend`).

    Same arguments and results as :func:`march_torch` (whose ``budget`` only bounds the twin's
    memory). Float32 CPU/CUDA rays with a bool occupancy grid and ``max_samples >= 1`` run
    ``march_fwd`` of the native build when it builds; anything else runs the twin.
    """
    floats = (origins, directions, near, far, offsets)
    ext = None
    if (
        all(t.dtype == torch.float32 and t.device == origins.device for t in floats)
        and occupancy.dtype == torch.bool
        and occupancy.device == origins.device
        and max_samples >= 1
        and not (torch.is_grad_enabled() and any(t.requires_grad for t in floats))
    ):
        ext = native_module(origins.device.type)
    if ext is None:
        return march_torch(
            origins,
            directions,
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
    return ext.march_fwd(
        *(t.contiguous() for t in floats),
        occupancy.contiguous(),
        float(bound),
        float(dt_min),
        float(dt_max),
        float(dt_gamma),
        int(max_samples),
        int(max_candidates),
    )
