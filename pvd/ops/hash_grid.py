"""Multiresolution hash-grid encoding (Instant-NGP), the op behind the ``hash`` field.

Layout contract (shared by the PyTorch twin and the native kernels):

* ``x``: [n, 3] float32 positions in **[0, 1]^3**. Points outside are clamped to the cube, or,
  with ``outside_zero``, encode to zero (all levels; no gradient) as in the reference code.
* ``table``: [n_entries, F] float32, all levels' rows stacked; level ``l`` owns rows
  ``offsets[l] : offsets[l+1]``.
* ``offsets``: [L + 1] int64 cumulative row offsets (``offsets[0] = 0``).
* ``resolutions``: [L] int64, the largest vertex index of each level: level ``l`` has
  ``(res + 1)^3`` vertices.
* ``scales``: [L] float32 (optional, default ``resolutions``), and ``shift`` (float): a point's
  continuous vertex coordinate is ``x * scale + shift``; its cell's lower vertex is the floor of
  that, at most ``res - 1``. pvd's own layout uses ``scale = res``, ``shift = 0`` (vertices on the
  cube's faces); the reference's (torch-ngp, ``align_corners=False``) uses
  ``scale = 16 * s^l - 1`` (float32), ``shift = 0.5`` and ``res = ceil(scale) + 1``.
* A level whose ``(res + 1)^3`` vertices fit in its rows is indexed densely
  (``i + j (res+1) + k (res+1)^2``); otherwise vertices are hashed with
  ``(i * 1) ^ (j * 2654435761) ^ (k * 805459861)`` (uint32) modulo the level's row count.
* Output: [n, L * F], level-major (level 0's F features first), trilinear interpolation of the 8
  corner vertices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pvd.ops.backend import native_module

PRIMES = (1, 2654435761, 805459861)
ROUNDINGS = ("floor", "ceil")


@dataclass(frozen=True)
class HashGridLayout:
    """Sizes of a hash grid: which rows each level owns, its vertices and its coordinate map.

    Attributes:
        offsets: [L + 1] cumulative row offsets.
        resolutions: [L] largest vertex index per level (``res + 1`` vertices per axis).
        scales: [L] float32 values of the per-level coordinate scale.
        n_features: features per row.
        shift: added to ``x * scale`` (0 or 0.5).
    """

    offsets: tuple[int, ...]
    resolutions: tuple[int, ...]
    scales: tuple[float, ...]
    n_features: int
    shift: float = 0.0

    @property
    def n_levels(self) -> int:
        return len(self.resolutions)

    @property
    def n_entries(self) -> int:
        return self.offsets[-1]


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


# vertices per axis of a level: its dense index (side^3) stays a 64-bit integer in the kernels and the twin
MAX_SIDE = 2**21 - 1


def make_layout(
    n_levels: int,
    n_features: int,
    log2_table_size: int,
    base_resolution: int,
    finest_resolution: float,
    rounding: str = "floor",
    row_multiple: int = 1,
    shift: float = 0.0,
) -> HashGridLayout:
    """Levels in a geometric progression from ``base`` to ``finest`` cells per axis.

    ``rounding="floor"`` (pvd's own): level ``l`` has ``N = floor(base * g^l)`` cells, ``scale = N``,
    ``N + 1`` vertices per axis, ``min(2^log2, (N+1)^3)`` rows; ``shift`` must be 0.
    ``rounding="ceil"`` (the reference's GridEncoder): ``g = 2^(log2(finest/base)/(L-1))`` (float64),
    ``scale = 2^(l * float32(log2 g)) * base - 1`` in float32 (as its kernel computes it), vertices
    ``0 .. ceil(scale) + (1 if shift else 0)``, rows ``min(2^log2, (ceil(base g^l) + (1 if shift else
    0))^3)`` (float64, as its constructor computes them). Rows are then rounded up to a multiple of
    ``row_multiple`` (the reference: 8).
    """
    if n_levels < 1:
        raise ValueError(f"n_levels must be >= 1, got {n_levels}")
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    if shift not in (0.0, 0.5):
        raise ValueError(f"shift must be 0 or 0.5, got {shift!r}")
    if rounding == "floor" and shift != 0.0:
        raise ValueError("shift 0.5 needs rounding='ceil' (the reference's convention)")
    if row_multiple < 1:
        raise ValueError(f"row_multiple must be >= 1, got {row_multiple}")
    cap = 2**log2_table_size
    offsets, resolutions, scales = [0], [], []
    if rounding == "floor":
        growth = math.exp(math.log(finest_resolution / base_resolution) / max(n_levels - 1, 1))
        for level in range(n_levels):
            res = math.floor(base_resolution * growth**level + 1e-6)
            resolutions.append(res)
            scales.append(float(res))
            offsets.append(offsets[-1] + _round_up(min(cap, (res + 1) ** 3), row_multiple))
    else:
        growth = float(np.exp2(np.log2(finest_resolution / base_resolution) / max(n_levels - 1, 1)))
        log2_growth = np.float32(np.log2(growth))
        extra = 1 if shift else 0
        for level in range(n_levels):
            scale = np.float32(np.exp2(np.float32(level) * log2_growth)) * np.float32(base_resolution) - np.float32(1.0)
            resolutions.append(math.ceil(scale) + extra)
            scales.append(float(scale))
            side = math.ceil(base_resolution * growth**level) + extra
            offsets.append(offsets[-1] + _round_up(min(cap, side**3), row_multiple))
    if resolutions[-1] + 1 > MAX_SIDE:
        raise ValueError(
            f"the finest level would have {resolutions[-1] + 1} vertices per axis; the kernels' index "
            f"allows at most {MAX_SIDE} (finest resolution {finest_resolution:g})"
        )
    return HashGridLayout(tuple(offsets), tuple(resolutions), tuple(scales), n_features, float(shift))


def corner_indices(
    x: Tensor,
    offsets: Tensor,
    resolutions: Tensor,
    scales: Tensor | None = None,
    shift: float = 0.0,
    outside_zero: bool = False,
) -> tuple[Tensor, Tensor]:
    """Row indices and trilinear weights of the 8 corners at every level.

    Returns:
        rows: [n, L, 8] int64 rows into the stacked table.
        weights: [n, L, 8] float32 trilinear weights (sum to 1 over the corners; 0 for points
            outside the cube when ``outside_zero``).
    """
    if outside_zero:
        # no clamp: gradient everywhere inside the closed cube; outside points get zero weights
        # (their position is only moved into the cube to keep the row indices valid)
        keep = ((x >= 0) & (x <= 1)).all(dim=1)
        x = torch.where(keep[:, None], x, x.detach().clamp(0.0, 1.0))
    else:
        # clamp to the cube with gradient 1 inside the open cube (0, 1) and 0 on and beyond its
        # faces: spelled out, since torch versions disagree on clamp's gradient at the bounds (the
        # native kernels use this rule)
        inside = (x > 0) & (x < 1)
        x = torch.where(inside, x, x.detach().clamp(0.0, 1.0))
    res = resolutions.to(x.device)
    scale = (res if scales is None else scales.to(x.device)).to(x.dtype)
    pos = x[:, None, :] * scale[None, :, None]  # [n, L, 3]
    if shift:
        pos = pos + shift
    base = pos.floor().clamp(min=0).clamp_max(res[None, :, None].to(x.dtype) - 1)
    frac = pos - base
    base = base.nan_to_num_(0.0).long()  # a NaN coordinate takes cell 0 and NaN weights (as the native kernels)
    corners = torch.tensor([[(c >> 0) & 1, (c >> 1) & 1, (c >> 2) & 1] for c in range(8)], device=x.device)  # [8, 3]
    vert = base[:, :, None, :] + corners[None, None]  # [n, L, 8, 3]
    w_axis = torch.where(corners[None, None].bool(), frac[:, :, None, :], 1 - frac[:, :, None, :])
    weights = w_axis.prod(dim=-1)  # [n, L, 8]
    if outside_zero:
        weights = weights * keep[:, None, None].to(weights.dtype)

    offs = offsets.to(x.device)
    rows_per_level = (offs[1:] - offs[:-1])[None, :, None]  # [1, L, 1]
    side = (res + 1)[None, :, None]
    dense = vert[..., 0] + vert[..., 1] * side + vert[..., 2] * side * side
    hashed = (vert[..., 0] * PRIMES[0]) ^ (vert[..., 1] * PRIMES[1]) ^ (vert[..., 2] * PRIMES[2])
    hashed = hashed & 0xFFFFFFFF
    is_dense = side**3 <= rows_per_level
    local = torch.where(is_dense, dense, hashed % rows_per_level)
    rows = local + offs[:-1][None, :, None]
    return rows, weights


def hash_grid_torch(
    x: Tensor,
    table: Tensor,
    offsets: Tensor,
    resolutions: Tensor,
    scales: Tensor | None = None,
    shift: float = 0.0,
    outside_zero: bool = False,
) -> Tensor:
    """Pure-PyTorch hash-grid encoding (the twin and oracle of ``hash_grid_fwd``/``_bwd``).

    Args:
        x: [n, 3] positions in [0, 1]^3.
        table: [n_entries, F] feature table (gradients flow into it).
        offsets: [L + 1] int64 row offsets.
        resolutions: [L] int64 largest vertex index per level.
        scales: [L] float32 coordinate scales (default: ``resolutions``).
        shift: added to ``x * scale`` (0 or 0.5).
        outside_zero: points outside the cube encode to zero instead of being clamped.
    Returns:
        [n, L * F] interpolated features.
    """
    n = x.shape[0]
    rows, weights = corner_indices(x, offsets, resolutions, scales, shift, outside_zero)
    feats = table.index_select(0, rows.reshape(-1)).view(n, rows.shape[1], 8, table.shape[1])
    out = (feats * weights[..., None].to(table.dtype)).sum(dim=2)  # [n, L, F]
    return out.reshape(n, -1)


class _HashGridNative(torch.autograd.Function):
    """``hash_grid_fwd`` / ``hash_grid_bwd`` of a native build as one differentiable op."""

    @staticmethod
    def forward(
        ctx,
        x: Tensor,
        table: Tensor,
        offsets: Tensor,
        resolutions: Tensor,
        scales: Tensor,
        shift: float,
        outside_zero: bool,
        ext,
    ) -> Tensor:
        ctx.save_for_backward(x, table, offsets, resolutions, scales)
        ctx.ext, ctx.shift, ctx.outside_zero = ext, shift, outside_zero
        return ext.hash_grid_fwd(x, table, offsets, resolutions, scales, shift, outside_zero)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        x, table, offsets, resolutions, scales = ctx.saved_tensors
        grad_table, grad_x = ctx.ext.hash_grid_bwd(
            grad_out.contiguous(),
            x,
            table,
            offsets,
            resolutions,
            ctx.needs_input_grad[0],
            scales,
            ctx.shift,
            ctx.outside_zero,
        )
        return grad_x, grad_table if ctx.needs_input_grad[1] else None, None, None, None, None, None, None


def hash_grid(
    x: Tensor,
    table: Tensor,
    offsets: Tensor,
    resolutions: Tensor,
    scales: Tensor | None = None,
    shift: float = 0.0,
    outside_zero: bool = False,
) -> Tensor:
    """Hash-grid encoding through the best available backend (see :mod:`pvd.ops.backend`).

    Same arguments, result and gradients (to ``table`` and ``x``) as :func:`hash_grid_torch`; float32
    CPU/CUDA inputs run the native kernels when they build, anything else runs the twin.
    """
    ext = None
    if x.dtype == torch.float32 and table.dtype == torch.float32 and x.device == table.device:
        ext = native_module(x.device.type)
    if ext is None:
        return hash_grid_torch(x, table, offsets, resolutions, scales, shift, outside_zero)
    scales = resolutions.to(torch.float32) if scales is None else scales
    return _HashGridNative.apply(
        x.contiguous(),
        table.contiguous(),
        offsets.to(x.device).contiguous(),
        resolutions.to(x.device).contiguous(),
        scales.to(x.device, torch.float32).contiguous(),
        float(shift),
        bool(outside_zero),
        ext,
    )
