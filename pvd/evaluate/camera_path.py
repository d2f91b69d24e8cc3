"""Camera paths for videos, derived from a scene's training cameras.

* ``orbit`` — a circle about the world up (:func:`pvd.data.poses.world_up`) around the scene centre
  (the point closest to all optical axes), at the cameras' mean distance and mean elevation,
  starting at the first camera's azimuth, every frame looking at the centre. For object captures
  (``synthetic``, ``tank``).
* ``spiral`` — LLFF's forward-facing path: camera centres trace
  ``mean + R (r * [cos t, -sin t, -sin(t / 2)])`` for ``t`` over two turns, where ``R`` and
  ``mean`` are the mean pose and ``r`` the 90th percentile of the cameras' |offsets| along its axes,
  every frame looking at the focus point (:func:`pvd.data.poses.derive_region`, ``llff``: at
  LLFF's focus depth when the depth bounds are known).

Poses follow :mod:`pvd.data.cameras` (OpenGL axes, world units). Intrinsics come from the first
training camera, rescaled to the requested frame size with square pixels.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pvd.data.cameras import Cameras
from pvd.data.poses import axes_center, derive_region, look_at, world_up
from pvd.errors import SpecError, UserError

PATH_KINDS = ("orbit", "spiral")
DEFAULT_PATH = {"synthetic": "orbit", "tank": "orbit", "llff": "spiral", "capture": "orbit"}
SPIRAL_TURNS = 2
SPIRAL_Z_RATE = 0.5
SPIRAL_PERCENTILE = 0.9


def _unit(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def orbit_poses(c2w: Tensor, frames: int) -> Tensor:
    """[n, 4, 4] training cameras -> [frames, 4, 4] poses on the orbit (see module doc)."""
    center, up = axes_center(c2w), world_up(c2w)
    offsets = c2w[:, :3, 3] - center
    dist = offsets.norm(dim=-1)
    radius = float(dist.mean())
    elevation = float(torch.asin((offsets @ up / dist).clamp(-1, 1)).mean())
    first = offsets[0] - (offsets[0] @ up) * up
    if first.norm() < 1e-6 * max(radius, 1e-12):  # first camera straight above: any azimuth will do
        first = torch.linalg.cross(
            up, torch.tensor([1.0, 0.0, 0.0]) if abs(float(up[0])) < 0.9 else torch.tensor([0.0, 1.0, 0.0])
        )
    e1 = _unit(first)
    e2 = torch.linalg.cross(up, e1)
    az = torch.arange(frames, dtype=torch.float32) * (2 * math.pi / frames)
    ring = az.cos()[:, None] * e1 + az.sin()[:, None] * e2
    centers = center + radius * (math.cos(elevation) * ring + math.sin(elevation) * up)
    return look_at(centers, center.expand(frames, 3), up)


def spiral_poses(train: Cameras, frames: int, near: float | None = None, far: float | None = None) -> Tensor:
    """Forward-facing training cameras -> [frames, 4, 4] poses on the spiral (see module doc)."""
    c2w = train.c2w.float()
    centers = c2w[:, :3, 3]
    mean = centers.mean(0)
    back = _unit(c2w[:, :3, 2].sum(0))
    right = _unit(torch.linalg.cross(c2w[:, :3, 1].sum(0), back))
    up = torch.linalg.cross(back, right)
    rot = torch.stack([right, up, back], dim=1)  # columns: mean pose axes
    local = (centers - mean) @ rot  # offsets in the mean frame
    radii = torch.quantile(local.abs(), SPIRAL_PERCENTILE, dim=0)
    focus = derive_region(train, "llff", near, far).center
    t = torch.arange(frames, dtype=torch.float32) * (2 * math.pi * SPIRAL_TURNS / frames)
    path = torch.stack([t.cos(), -t.sin(), -(t * SPIRAL_Z_RATE).sin()], dim=-1) * radii
    positions = mean + path @ rot.T
    return look_at(positions, focus.expand(frames, 3), up)


def path_cameras(
    train: Cameras,
    kind: str,
    frames: int,
    size: tuple[int, int] | None = None,
    near: float | None = None,
    far: float | None = None,
) -> Cameras:
    """Cameras along a ``kind`` path.

    Args:
        train: the scene's training cameras (at least 2).
        kind: ``orbit`` or ``spiral``.
        frames: number of poses (>= 1).
        size: (width, height) of the frames; default the training size.
        near, far: the scene's depth bounds in world units (spiral focus), when known.
    Returns:
        Cameras with ``frames`` views sharing the first training camera's rescaled intrinsics.
    """
    if kind not in PATH_KINDS:
        raise SpecError("path", f"{kind!r}: expected one of {', '.join(PATH_KINDS)}")
    if frames < 1:
        raise SpecError("frames", f"must be >= 1, got {frames}")
    if len(train) < 2:
        raise UserError(f"a camera path needs at least 2 training cameras, got {len(train)}")
    poses = orbit_poses(train.c2w.float(), frames) if kind == "orbit" else spiral_poses(train, frames, near, far)
    width, height = size if size is not None else (train.width, train.height)
    if width < 1 or height < 1:
        raise SpecError("size", f"must be positive, got {width}x{height}")
    s = width / train.width
    fx, fy, cx = float(train.fx[0]) * s, float(train.fy[0]) * s, float(train.cx[0]) * s
    cy = float(train.cy[0]) * s + (height - train.height * s) / 2
    full = lambda v: torch.full((frames,), v, dtype=torch.float32)  # noqa: E731
    return Cameras(poses, full(fx), full(fy), full(cx), full(cy), int(width), int(height))


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` -> (W, H); a clear error otherwise."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise SpecError("size", f"{text!r}: expected WIDTHxHEIGHT in pixels, e.g. 400x300")
    return int(parts[0]), int(parts[1])
