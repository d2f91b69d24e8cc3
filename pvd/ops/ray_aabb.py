"""Ray / axis-aligned box intersection (slab method), the first op of the renderer.

Layout contract (shared by the PyTorch twin and any native kernel):

* ``origins``: [n_rays, 3] float32 ray origins (box units).
* ``directions``: [n_rays, 3] float32 directions (unit length expected, not required).
* ``aabb``: [6] float32 box ``(xmin, ymin, zmin, xmax, ymax, zmax)``.
* Output ``(t_near [n_rays], t_far [n_rays], hit [n_rays] bool)``: the ray parameters where the
  line enters and leaves the box. ``t_near`` is negative for a ray starting inside the box. A ray
  hits when ``t_near <= t_far`` and ``t_far > 0`` (the box is not entirely behind the origin);
  for a miss both ``t`` values are ``+inf``.

Direction components equal to zero are handled: the ray is parallel to that slab and hits only
if its origin lies between the slab's planes. A ray with a non-finite (NaN or infinite) origin or
direction component misses.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pvd.ops.backend import native_module

_TINY = 1e-12


def ray_aabb_torch(origins: Tensor, directions: Tensor, aabb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Pure-PyTorch twin of ``ray_aabb_fwd``: see the module docstring for the layout."""
    lo, hi = aabb[:3], aabb[3:]
    parallel = directions.abs() < _TINY
    safe_d = torch.where(parallel, torch.full_like(directions, _TINY), directions)
    inv = 1.0 / safe_d
    t0 = (lo - origins) * inv
    t1 = (hi - origins) * inv
    t_min = torch.minimum(t0, t1)
    t_max = torch.maximum(t0, t1)
    inside_slab = (origins >= lo) & (origins <= hi)
    big = torch.full_like(t_min, float("inf"))
    t_min = torch.where(parallel, torch.where(inside_slab, -big, big), t_min)
    t_max = torch.where(parallel, torch.where(inside_slab, big, -big), t_max)
    t_near = t_min.amax(dim=-1)
    t_far = t_max.amin(dim=-1)
    finite = torch.isfinite(origins).all(dim=-1) & torch.isfinite(directions).all(dim=-1)
    hit = (t_near <= t_far) & (t_far > 0) & finite
    inf = torch.full_like(t_near, float("inf"))
    return torch.where(hit, t_near, inf), torch.where(hit, t_far, inf), hit


def ray_aabb(origins: Tensor, directions: Tensor, aabb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Ray-box intersection through the best available backend (see :mod:`pvd.ops.backend`).

    Same arguments and results as :func:`ray_aabb_torch`. Float32 CPU/CUDA inputs that need no
    gradient run ``ray_aabb_fwd`` of the native build when it builds; anything else runs the twin.
    """
    ext = None
    if (
        origins.dtype == directions.dtype == aabb.dtype == torch.float32
        and origins.device == directions.device
        and not (torch.is_grad_enabled() and (origins.requires_grad or directions.requires_grad))
    ):
        ext = native_module(origins.device.type)
    if ext is None:
        return ray_aabb_torch(origins, directions, aabb)
    return ext.ray_aabb_fwd(origins.contiguous(), directions.contiguous(), aabb.to(origins.device).contiguous())
