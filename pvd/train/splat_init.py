"""Where a ``gs`` teacher's Gaussians start: random in the box, or at a point cloud's points.

:func:`init_from_points` places ``n_init`` Gaussians (the preset's) as 3DGS does from a COLMAP
cloud: one at each point (a random subset when there are more points than ``n_init``; the field's
own random Gaussians top the set up when there are fewer), coloured by the point (the SH DC term),
isotropic with the mean distance to the 3 nearest other Gaussians as the scale, opacity
``init_opacity``, no view dependence. The cloud is in box units (:func:`pvd.data.points.in_box`).

Nearest neighbours (:func:`knn_spacing`): scipy's KD-tree when scipy is installed (not a dependency
of pvd), else :func:`knn_spacing_grid`, a uniform-grid search in torch that is exact too.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from pvd.data.points import PointCloud
from pvd.fields.gs import SH_C0, GSField, logit

KNN = 3
GRID_CHUNK = 4096  # query points per batch of the grid search


def knn_spacing(points: Tensor, k: int = KNN) -> Tensor:
    """[n, 3] -> [n] float32 mean distance of each point to its ``k`` nearest others (fewer when
    ``n <= k``; 0 for a lone point)."""
    try:
        from scipy.spatial import cKDTree
    except ImportError:
        return knn_spacing_grid(points, k)
    if len(points) < 2:
        return torch.zeros(len(points))
    m = min(k, len(points) - 1)
    p = points.detach().double().cpu().numpy()
    dist, _ = cKDTree(p).query(p, m + 1)
    return torch.from_numpy(dist[:, 1:]).mean(1).float()


def knn_spacing_grid(points: Tensor, k: int = KNN) -> Tensor:
    """:func:`knn_spacing` by a uniform grid (about two points a cell when spread evenly): each
    point's candidates are the points of its own and the 26 adjacent cells, which hold every point
    within one cell width of it; where the ``k``-th candidate lies farther than that (or there are
    too few), the point is compared with all points instead. Exact either way."""
    pts = points.detach().double().cpu()
    n = len(pts)
    if n < 2:
        return torch.zeros(n)
    m = min(k, n - 1)
    lo = pts.min(0).values
    extent = float((pts.max(0).values - lo).max())
    res = max(1, min(64, round((n / 2) ** (1 / 3))))
    width = max(extent / res, 1e-12)
    cell = ((pts - lo) / width).floor().long().clamp(0, res - 1)  # [n, 3]
    key = (cell[:, 2] * res + cell[:, 1]) * res + cell[:, 0]
    key, order = torch.sort(key, stable=True)
    starts = torch.cat([key.new_zeros(1), torch.cumsum(torch.bincount(key, minlength=res**3), 0)])
    offsets = torch.stack(torch.meshgrid(*[torch.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)
    out = torch.empty(n, dtype=torch.float64)
    for s in range(0, n, GRID_CHUNK):
        q = torch.arange(s, min(s + GRID_CHUNK, n))
        near = cell[q][:, None, :] + offsets  # [c, 27, 3]
        valid = ((near >= 0) & (near < res)).all(-1)
        nkey = ((near[..., 2] * res + near[..., 1]) * res + near[..., 0]).clamp(0, res**3 - 1)
        count = (starts[nkey + 1] - starts[nkey]) * valid
        first = starts[nkey]
        count, first = count.reshape(-1), first.reshape(-1)
        query = q.repeat_interleave(27).repeat_interleave(count)
        within = torch.arange(int(count.sum())) - (torch.cumsum(count, 0) - count).repeat_interleave(count)
        other = order[first.repeat_interleave(count) + within]
        mask = other != query
        query, other = query[mask], other[mask]
        dist = (pts[query] - pts[other]).norm(dim=1)
        # ``query`` is grouped already: one sort by (query, distance) as a single float64 key
        top = 2 * float(dist.max()) if len(dist) else 1.0
        by = torch.argsort((query - s).double() + dist / max(top, 1e-300))
        query, dist = query[by], dist[by]
        per = torch.bincount(query - s, minlength=len(q))
        rank = torch.arange(len(query)) - (torch.cumsum(per, 0) - per).repeat_interleave(per)
        take = rank < m
        total = torch.zeros(len(q), dtype=torch.float64).index_add_(0, query[take] - s, dist[take])
        kth = torch.full((len(q),), float("inf"), dtype=torch.float64)
        last = take & (rank == m - 1)
        kth[query[last] - s] = dist[last]
        out[q] = total / m
        for i in q[kth > width].tolist():  # too few candidates close enough: compare with all
            d = (pts - pts[i]).norm(dim=1)
            d[i] = float("inf")
            out[i] = d.topk(m, largest=False).values.mean()
    return out.float()


@torch.no_grad()
def init_from_points(field: GSField, cloud: PointCloud, generator: torch.Generator) -> dict:
    """Set ``field``'s Gaussians from ``cloud`` (box units; see the module doc).

    Returns:
        what the record keeps: ``source`` (the file's name), ``points`` (Gaussians placed at
        points), ``random`` (the field's random Gaussians that topped them up).
    """
    n = field.config.n_init
    used = cloud
    if len(cloud) > n:
        used = cloud.select(torch.randperm(len(cloud), generator=generator)[:n])
    extra = n - len(used)
    device = field.means.device
    means = torch.cat([used.positions.to(device), field.means.data[:extra]])
    sh_dc = torch.cat([((used.colors - 0.5) / SH_C0).to(device), field.sh_dc.data[:extra]])
    scale = knn_spacing(means).clamp_min(1e-7).to(device)
    field.set_from(
        {
            "means": means,
            "log_scales": torch.log(scale)[:, None].expand(n, 3),
            "quats": torch.tensor([1.0, 0.0, 0.0, 0.0], device=device).expand(n, 4),
            "opacity_logits": torch.full((n,), logit(field.config.init_opacity), device=device),
            "sh_dc": sh_dc,
            "sh_rest": field.sh_rest.data.new_zeros((n, *field.sh_rest.shape[1:])),
        }
    )
    return {"source": Path(cloud.source).name, "points": len(used), "random": extra}
