"""A model's surface as a coloured point cloud: the rendered depth of its training views.

Each training view is rendered (:mod:`pvd.interop.depth`); every pixel whose opacity reaches
``min_opacity`` gives one point, the surface it sees (``origin + depth / opacity * direction``), with
its straight colour. Points are in the dataset's world frame (the inverse of the model's
normalisation); with more than ``max_points``, a seeded random subset of that many is kept. Written as
a binary ``.ply`` (x, y, z, red, green, blue) through trimesh.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pvd.data.cameras import Cameras
from pvd.errors import SpecError, UserError
from pvd.interop.depth import render_depth
from pvd.model import Model
from pvd.records import atomic_path

POINTS_SUFFIXES = (".ply",)


@dataclass(frozen=True)
class PointCloud:
    """Points in world units.

    Attributes:
        points: [n, 3] float32 world positions.
        colors: [n, 3] uint8 colours.
        views: [n] int32 the training view each point was seen in.
        candidates: pixels that saw a surface, before ``max_points`` thinned them.
    """

    points: np.ndarray
    colors: np.ndarray
    views: np.ndarray
    candidates: int

    def bbox(self) -> tuple[list[float], list[float]]:
        """World axis-aligned bounding box (min, max)."""
        return self.points.min(0).tolist(), self.points.max(0).tolist()


def point_cloud(
    model: Model,
    cameras: Cameras,
    device: torch.device,
    min_opacity: float = 0.5,
    max_points: int | None = None,
    seed: int = 0,
    progress=None,
) -> PointCloud:
    """The points the views of ``cameras`` see (module doc); ``progress`` wraps the view range."""
    if not 0 < min_opacity <= 1:
        raise SpecError("min_opacity", f"must be in (0, 1], got {min_opacity}")
    points, colors, views = [], [], []
    views_range = range(len(cameras)) if progress is None else progress(range(len(cameras)))
    for view in views_range:
        depth = render_depth(model, cameras, view, device)
        keep = depth.opacity >= min_opacity
        points.append(model.normalization.to_world(depth.surface()[keep]))
        colors.append(depth.rgb[keep])
        views.append(torch.full((int(keep.sum()),), view, dtype=torch.int32))
    pts = torch.cat(points)
    if len(pts) == 0:
        raise SpecError(
            "min_opacity",
            f"{min_opacity:g}: no pixel of the {len(cameras)} training views is that opaque, so the point cloud "
            "would be empty (is the model trained?)",
        )
    rgb, idx = torch.cat(colors), torch.cat(views)
    candidates = len(pts)
    if max_points is not None and candidates > max_points:
        keep = torch.randperm(candidates, generator=torch.Generator().manual_seed(seed))[:max_points].sort().values
        pts, rgb, idx = pts[keep], rgb[keep], idx[keep]
    return PointCloud(
        points=pts.numpy().astype(np.float32),
        colors=(rgb * 255 + 0.5).to(torch.uint8).numpy(),
        views=idx.numpy(),
        candidates=candidates,
    )


def write_points(path: Path, cloud: PointCloud) -> None:
    """Atomically write ``cloud`` as a binary ``.ply`` through trimesh."""
    import trimesh

    if path.suffix.lower() not in POINTS_SUFFIXES:
        raise UserError(f"{path}: a point cloud file ends in .ply")
    alpha = np.full((len(cloud.colors), 1), 255, dtype=np.uint8)
    pc = trimesh.PointCloud(cloud.points, colors=np.concatenate([cloud.colors, alpha], 1))
    with atomic_path(path) as tmp:
        pc.export(tmp, file_type="ply")
