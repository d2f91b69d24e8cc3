"""The reference's occupancy-grid order: Morton (Z-curve) cell indices and the packed bitfield.

torch-ngp stores a cascade's ``R^3`` densities (``R`` a power of two, 128) at the Morton index of
the cell ``(i, j, k)`` along (x, y, z): bit ``b`` of ``i`` goes to bit ``3b``, of ``j`` to ``3b + 1``,
of ``k`` to ``3b + 2``. Its ``density_bitfield`` packs occupancy eight cells a byte: bit ``m % 8`` of
byte ``m // 8`` is the cell with flat index ``m`` (cascade-major, Morton order within a cascade).
pvd's grid (:mod:`pvd.render.occupancy`) is ``[C, R, R, R]`` indexed (x, y, z), row-major.
"""

from __future__ import annotations

import torch
from torch import Tensor


def morton_codes(resolution: int) -> Tensor:
    """[R, R, R] int64: the Morton index of cell (i, j, k) (``R`` a power of two)."""
    if resolution < 1 or resolution & (resolution - 1):
        raise ValueError(f"Morton order needs a power-of-two resolution, got {resolution}")
    axis = torch.arange(resolution, dtype=torch.int64)
    spread = torch.zeros_like(axis)
    for b in range(resolution.bit_length()):
        spread |= ((axis >> b) & 1) << (3 * b)
    return spread[:, None, None] | (spread[None, :, None] << 1) | (spread[None, None, :] << 2)


def from_morton(flat: Tensor) -> Tensor:
    """[C, R^3] values in Morton order -> [C, R, R, R] indexed (x, y, z)."""
    c, n = flat.shape
    r = round(n ** (1 / 3))
    if r**3 != n:
        raise ValueError(f"a cascade must hold R^3 cells, got {n}")
    return flat[:, morton_codes(r).reshape(-1)].reshape(c, r, r, r)


def to_morton(grid: Tensor) -> Tensor:
    """[C, R, R, R] indexed (x, y, z) -> [C, R^3] in Morton order (inverse of :func:`from_morton`)."""
    c, r = grid.shape[0], grid.shape[1]
    out = torch.empty(c, r**3, dtype=grid.dtype)
    out[:, morton_codes(r).reshape(-1)] = grid.reshape(c, -1).cpu()
    return out


def unpack_bits(bitfield: Tensor, n_cells: int) -> Tensor:
    """[n_cells / 8] uint8 -> [n_cells] bool (bit ``m % 8`` of byte ``m // 8``)."""
    bits = (bitfield.to(torch.int64)[:, None] >> torch.arange(8)) & 1
    return bits.reshape(-1)[:n_cells].bool()


def pack_bits(cells: Tensor) -> Tensor:
    """[n_cells] bool (n_cells a multiple of 8) -> [n_cells / 8] uint8 (inverse of :func:`unpack_bits`)."""
    weights = 1 << torch.arange(8, dtype=torch.int64)
    return (cells.reshape(-1, 8).to(torch.int64) * weights).sum(dim=1).to(torch.uint8)
