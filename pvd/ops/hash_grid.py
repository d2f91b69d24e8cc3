"""Multiresolution hash-grid encoding (Instant-NGP), the op behind the ``hash`` field.

Layout contract (shared by the PyTorch twin and the native kernels):

* ``x``: [n, 3] float32 positions in **[0, 1]^3** (points outside are clamped to the cube).
* ``table``: [n_entries, F] float32, all levels' rows stacked; level ``l`` owns rows
  ``offsets[l] : offsets[l+1]``.
* ``offsets``: [L + 1] int64 cumulative row offsets (``offsets[0] = 0``).
* ``resolutions``: [L] int64 cells per axis of each level; level ``l`` has ``(res + 1)^3`` vertices and
  a point's continuous vertex coordinate is ``x * res``.
* A level whose ``(res + 1)^3`` vertices fit in its rows is indexed densely
  (``i + j (res+1) + k (res+1)^2``); otherwise vertices are hashed with
  ``(i * 1) ^ (j * 2654435761) ^ (k * 805459861)`` modulo the level's row count.
* Output: [n, L * F], level-major (level 0's F features first), trilinear interpolation of the 8
  corner vertices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from pvd.ops.backend import native_module

PRIMES = (1, 2654435761, 805459861)


@dataclass(frozen=True)
class HashGridLayout:
    """Sizes of a hash grid: which rows each level owns and its resolution."""

    offsets: tuple[int, ...]
    resolutions: tuple[int, ...]
    n_features: int

    @property
    def n_levels(self) -> int:
        return len(self.resolutions)

    @property
    def n_entries(self) -> int:
        return self.offsets[-1]


def make_layout(n_levels: int, n_features: int, log2_table_size: int, base_resolution: int,
                finest_resolution: int) -> HashGridLayout:
    """Geometric progression of resolutions from ``base`` to ``finest``; dense levels where they fit."""
    if n_levels < 1:
        raise ValueError(f"n_levels must be >= 1, got {n_levels}")
    growth = math.exp(math.log(finest_resolution / base_resolution) / max(n_levels - 1, 1))
    cap = 2 ** log2_table_size
    offsets, resolutions = [0], []
    for level in range(n_levels):
        res = int(math.floor(base_resolution * growth ** level + 1e-6))
        rows = min(cap, (res + 1) ** 3)
        resolutions.append(res)
        offsets.append(offsets[-1] + rows)
    return HashGridLayout(tuple(offsets), tuple(resolutions), n_features)


def corner_indices(x: Tensor, offsets: Tensor, resolutions: Tensor) -> tuple[Tensor, Tensor]:
    """Row indices and trilinear weights of the 8 corners at every level.

    Returns:
        rows: [n, L, 8] int64 rows into the stacked table.
        weights: [n, L, 8] float32 trilinear weights (sum to 1 over the corners).
    """
    # clamp to the cube with gradient 1 inside the open cube (0, 1) and 0 on and beyond its faces:
    # spelled out, since torch versions disagree on clamp's gradient at the bounds (the native
    # kernels use this rule)
    inside = (x > 0) & (x < 1)
    x = torch.where(inside, x, x.detach().clamp(0.0, 1.0))
    res = resolutions.to(x.device)
    pos = x[:, None, :] * res[None, :, None].to(x.dtype)          # [n, L, 3]
    base = pos.floor().clamp_max(res[None, :, None].to(x.dtype) - 1)
    frac = pos - base
    base = base.nan_to_num_(0.0).long()  # a NaN coordinate takes cell 0 and NaN weights (as the native kernels)
    corners = torch.tensor([[(c >> 0) & 1, (c >> 1) & 1, (c >> 2) & 1] for c in range(8)],
                           device=x.device)                        # [8, 3]
    vert = base[:, :, None, :] + corners[None, None]               # [n, L, 8, 3]
    w_axis = torch.where(corners[None, None].bool(), frac[:, :, None, :], 1 - frac[:, :, None, :])
    weights = w_axis.prod(dim=-1)                                  # [n, L, 8]

    offs = offsets.to(x.device)
    rows_per_level = (offs[1:] - offs[:-1])[None, :, None]         # [1, L, 1]
    side = (res + 1)[None, :, None]
    dense = vert[..., 0] + vert[..., 1] * side + vert[..., 2] * side * side
    hashed = (vert[..., 0] * PRIMES[0]) ^ (vert[..., 1] * PRIMES[1]) ^ (vert[..., 2] * PRIMES[2])
    hashed = hashed & 0xFFFFFFFF
    is_dense = side ** 3 <= rows_per_level
    local = torch.where(is_dense, dense, hashed % rows_per_level)
    rows = local + offs[:-1][None, :, None]
    return rows, weights


def hash_grid_torch(x: Tensor, table: Tensor, offsets: Tensor, resolutions: Tensor) -> Tensor:
    """Pure-PyTorch hash-grid encoding (the twin and oracle of ``hash_grid_fwd``/``_bwd``).

    Args:
        x: [n, 3] positions in [0, 1]^3.
        table: [n_entries, F] feature table (gradients flow into it).
        offsets: [L + 1] int64 row offsets.
        resolutions: [L] int64 resolutions.
    Returns:
        [n, L * F] interpolated features.
    """
    n = x.shape[0]
    rows, weights = corner_indices(x, offsets, resolutions)
    feats = table.index_select(0, rows.reshape(-1)).view(n, rows.shape[1], 8, table.shape[1])
    out = (feats * weights[..., None].to(table.dtype)).sum(dim=2)  # [n, L, F]
    return out.reshape(n, -1)


class _HashGridNative(torch.autograd.Function):
    """``hash_grid_fwd`` / ``hash_grid_bwd`` of a native build as one differentiable op."""

    @staticmethod
    def forward(ctx, x: Tensor, table: Tensor, offsets: Tensor, resolutions: Tensor, ext) -> Tensor:
        ctx.save_for_backward(x, table, offsets, resolutions)
        ctx.ext = ext
        return ext.hash_grid_fwd(x, table, offsets, resolutions)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        x, table, offsets, resolutions = ctx.saved_tensors
        grad_table, grad_x = ctx.ext.hash_grid_bwd(grad_out.contiguous(), x, table, offsets, resolutions,
                                                   ctx.needs_input_grad[0])
        return grad_x, grad_table if ctx.needs_input_grad[1] else None, None, None, None


def hash_grid(x: Tensor, table: Tensor, offsets: Tensor, resolutions: Tensor) -> Tensor:
    """Hash-grid encoding through the best available backend (see :mod:`pvd.ops.backend`).

    Same arguments, result and gradients (to ``table`` and ``x``) as :func:`hash_grid_torch`; float32
    CPU/CUDA inputs run the native kernels when they build, anything else runs the twin.
    """
    ext = None
    if x.dtype == torch.float32 and table.dtype == torch.float32 and x.device == table.device:
        ext = native_module(x.device.type)
    if ext is None:
        return hash_grid_torch(x, table, offsets, resolutions)
    return _HashGridNative.apply(x.contiguous(), table.contiguous(), offsets.to(x.device).contiguous(),
                                 resolutions.to(x.device).contiguous(), ext)
