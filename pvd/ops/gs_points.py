"""Point queries of a set of 3D Gaussians: density and kernel-weighted values at box points, through
a uniform-grid index (the op behind :meth:`pvd.fields.gs.GSField.raw_density_and_feature`).

Layout contract (shared by the PyTorch twin and the native CPU kernel):

* ``x``: [n, 3] box points; ``means``: [N, 3]; ``prec6``: [N, 6] the distinct entries (xx, yy, zz,
  xy, xz, yz) of each Gaussian's precision matrix ``Sigma^-1``; ``peak``: [N] kernel peak densities;
  ``values``: [N, C] what is averaged (the field's SH coefficients).
* The Gaussians considered at a point are those listed in its :class:`GaussianIndex` cell plus the
  index's ``big`` ones; of these, those with squared Mahalanobis distance ``m2 < cutoff2`` count,
  with weight ``w = peak exp(-m2 / 2)``.
* Output: ``sigma`` [n] = sum of ``w``, ``weighted`` [n, C] = sum of ``w * values``.

The native kernel (``gs_points_fwd``, float32 CPU tensors) has no backward: it serves queries that
need no gradient (a frozen teacher, occupancy updates, renders). Anything else runs the twin, which
autograd differentiates as any PyTorch code.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pvd.ops.backend import native_module


class GaussianIndex:
    """Uniform grid over ``[-bound, bound]^3``: per cell, the Gaussians whose 3-sigma box overlaps it.

    Args:
        means: [n, 3]; covs: [n, 3, 3] covariances (those the queries use); bound: the box half-size;
        resolution: at most this many cells per axis (fewer when the Gaussians are large: a cell is
        half as wide as a typical Gaussian's 3-sigma radius); max_cells: Gaussians overlapping more
        cells than this go to ``big`` instead.
    Attributes:
        res: cells per axis; starts: [res^3 + 1] CSR offsets into ``ids`` per cell (row
        ``(k res + j) res + i``); ids: [m] Gaussian ids, grouped by cell; big: [b] ids of the
        Gaussians tested against every point.
    """

    def __init__(self, means: Tensor, covs: Tensor, bound: float, resolution: int, max_cells: int):
        with torch.no_grad():
            extent = 3.0 * torch.diagonal(covs, dim1=1, dim2=2).clamp_min(0).sqrt()
            if len(means):
                typical = float(extent.max(dim=1).values.median())
                resolution = max(1, min(resolution, int(4 * bound / max(typical, 1e-9))))
            self.bound, self.res = bound, resolution
            to_cell = resolution / (2 * bound)
            lo = torch.floor((means - extent + bound) * to_cell).clamp(0, resolution).long()
            hi = torch.floor((means + extent + bound) * to_cell).clamp(-1, resolution - 1).long()
            size = (hi - lo + 1).clamp_min(0)
            counts = size.prod(dim=1)
            big = counts > max_cells
            self.big = big.nonzero().squeeze(1)
            counts = counts * ~big
            gid = torch.repeat_interleave(torch.arange(len(means), device=means.device), counts)
            local = torch.arange(gid.numel(), device=means.device) - (torch.cumsum(counts, 0) - counts)[gid]
            sx, sy = size[gid, 0].clamp_min(1), size[gid, 1].clamp_min(1)
            i = lo[gid, 0] + local % sx
            j = lo[gid, 1] + (local // sx) % sy
            k = lo[gid, 2] + local // (sx * sy)
            cell = (k * resolution + j) * resolution + i
            cell, order = torch.sort(cell, stable=True)
            self.ids = gid[order]
            per_cell = torch.bincount(cell, minlength=resolution**3)
            self.starts = torch.cat([per_cell.new_zeros(1), torch.cumsum(per_cell, 0)])

    def pairs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """[n, 3] points -> (point index [m], Gaussian id [m]) of every candidate pair."""
        res = self.res
        c = ((x.detach() + self.bound) * (res / (2 * self.bound))).floor().long().clamp(0, res - 1)
        cell = (c[:, 2] * res + c[:, 1]) * res + c[:, 0]
        start, count = self.starts[cell], self.starts[cell + 1] - self.starts[cell]
        point = torch.repeat_interleave(torch.arange(len(x), device=x.device), count)
        offset = torch.arange(point.numel(), device=x.device) - (torch.cumsum(count, 0) - count)[point]
        gid = self.ids[start[point] + offset]
        if self.big.numel():
            n, b = len(x), self.big.numel()
            point = torch.cat([point, torch.arange(n, device=x.device).repeat_interleave(b)])
            gid = torch.cat([gid, self.big.repeat(n)])
        return point, gid


def _check(x: Tensor, means: Tensor, prec6: Tensor, peak: Tensor, values: Tensor) -> None:
    """Shapes of the contract above, with the argument's name in the error."""
    n = means.shape[0] if means.dim() == 2 else -1
    for name, t, shape in (
        ("x", x, (None, 3)),
        ("means", means, (None, 3)),
        ("prec6", prec6, (n, 6)),
        ("peak", peak, (n,)),
        ("values", values, (n, None)),
    ):
        if t.dim() != len(shape) or any(want is not None and got != want for got, want in zip(t.shape, shape)):
            expected = "[" + ", ".join("*" if w is None else str(w) for w in shape) + "]"
            raise ValueError(f"{name} must have shape {expected}, got {tuple(t.shape)}")


def gs_points_torch(
    x: Tensor, means: Tensor, prec6: Tensor, peak: Tensor, values: Tensor, index: GaussianIndex, cutoff2: float
) -> tuple[Tensor, Tensor]:
    """Pure-PyTorch point queries (the twin and oracle of ``gs_points_fwd``; differentiable).

    Args:
        x: [n, 3] box points; means: [N, 3]; prec6: [N, 6]; peak: [N]; values: [N, C] (see the
        module doc); index: the Gaussians' :class:`GaussianIndex`; cutoff2: squared Mahalanobis cut-off.
    Returns:
        (sigma [n], weighted [n, C]).
    """
    _check(x, means, prec6, peak, values)
    point, gid = index.pairs(x)
    d = x[point] - means[gid]
    p = prec6[gid]
    m2 = (
        p[:, 0] * d[:, 0] ** 2
        + p[:, 1] * d[:, 1] ** 2
        + p[:, 2] * d[:, 2] ** 2
        + 2 * (p[:, 3] * d[:, 0] * d[:, 1] + p[:, 4] * d[:, 0] * d[:, 2] + p[:, 5] * d[:, 1] * d[:, 2])
    )
    near = m2 < cutoff2
    point, gid, m2 = point[near], gid[near], m2[near]
    w = peak[gid] * torch.exp(-0.5 * m2)  # [m]
    sigma = x.new_zeros(len(x)).index_add(0, point, w)
    # weighted sums as a sparse [n, N] x dense [N, C] product (no [m, C] gather)
    weights = torch.sparse_coo_tensor(torch.stack([point, gid]), w, (len(x), len(means)), check_invariants=False)
    return sigma, torch.sparse.mm(weights, values)


def gs_points(
    x: Tensor, means: Tensor, prec6: Tensor, peak: Tensor, values: Tensor, index: GaussianIndex, cutoff2: float
) -> tuple[Tensor, Tensor]:
    """Point queries through the best available backend (see :mod:`pvd.ops.backend`).

    Same arguments and results as :func:`gs_points_torch`. float32 CPU inputs run the native kernel
    when it builds and no gradient is wanted (grad mode off, or no input requires grad); anything
    else runs the twin.
    """
    _check(x, means, prec6, peak, values)
    tensors = (x, means, prec6, peak, values)
    ext = None
    if all(t.dtype == torch.float32 and t.device.type == "cpu" for t in tensors) and not (
        torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    ):
        ext = native_module("cpu")
    if ext is None:
        return gs_points_torch(x, means, prec6, peak, values, index, cutoff2)
    return ext.gs_points_fwd(
        *(t.contiguous() for t in tensors),
        index.starts,
        index.ids,
        index.big,
        float(index.bound),
        int(index.res),
        float(cutoff2),
    )
