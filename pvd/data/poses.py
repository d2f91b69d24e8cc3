"""Data-free camera poses for distillation, derived from a scene's own training cameras.

Distillation needs no images: the teacher renders the targets. It does need camera poses that
look at the scene from where the teacher was trained to be right. This module derives a pose
*region* from the training cameras (never from hard-coded radii, unlike the reference) and draws
fresh poses from it every epoch (docs/method.md, "Data-free poses"):

* ``synthetic`` — an upper hemisphere (elevation from ``min(0, lowest camera)`` to 90° about the
  cameras' world up, see :func:`world_up`) around the scene centre, at the cameras' radius range;
* ``tank`` — the cameras' elevation band and radius range, all azimuths;
* ``llff`` — forward-facing: centres uniform in the training cameras' bounding box, each looking
  at the cameras' focus point (proper rotations, det +1).

The scene centre of orbit captures is the point closest (least squares) to all optical axes. The
focus point of forward-facing captures lies along the mean viewing direction at LLFF's focus depth
``1 / (0.25 / near + 0.75 / far)`` when the split has depth bounds, else at the least-squares
centre's distance. Poses use the conventions of :mod:`pvd.data.cameras` (OpenGL axes, world
units); each sampled view takes the intrinsics of a random training camera.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from pvd.data.cameras import Cameras
from pvd.errors import SpecError, UserError

POSE_KINDS = {"synthetic": "hemisphere", "tank": "band", "llff": "forward", "capture": "band"}
# poses drawn per epoch by the reference (its synthetic and tank samplers; 30 for llff)
DEFAULT_POSES_PER_EPOCH = {"synthetic": 312, "tank": 87, "llff": 30, "capture": 100}
LLFF_FOCUS_BLEND = 0.75


def _normalize(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def axes_center(c2w: Tensor) -> Tensor:
    """[n, 4, 4] cameras -> [3] the point closest to all optical axes (least squares)."""
    origins = c2w[:, :3, 3].double()
    dirs = _normalize(-c2w[:, :3, 2].double())
    proj = torch.eye(3, dtype=torch.float64) - dirs[:, :, None] * dirs[:, None, :]  # [n, 3, 3]
    a = proj.sum(0)
    b = torch.einsum("nij,nj->i", proj, origins)
    return torch.linalg.lstsq(a, b[:, None]).solution[:, 0].float()


def world_up(c2w: Tensor) -> Tensor:
    """[n, 4, 4] cameras -> [3] unit world up.

    Cameras held without roll have horizontal right (+x) axes, so up is the direction most nearly
    orthogonal to all of them (smallest eigenvector of their scatter), signed like the mean of
    the cameras' up axes. When the right axes do not spread over a plane (forward-facing
    captures), that direction is undetermined and the mean up axis is used instead.
    """
    mean = _normalize(c2w[:, :3, 1].mean(0))
    right = c2w[:, :3, 0].double()
    vals, vecs = torch.linalg.eigh(right.T @ right / len(right))
    if vals[1] < 0.05:
        return mean
    up = vecs[:, 0].float()
    return up if float(up @ mean) >= 0 else -up


def look_at(centers: Tensor, targets: Tensor, up: Tensor) -> Tensor:
    """Camera-to-world matrices of cameras at ``centers`` [n, 3] looking at ``targets`` [n, 3].

    OpenGL axes: the camera's -z points at the target, +y is as close to ``up`` [3] as possible.
    Returns [n, 4, 4] with a proper rotation (det +1).
    """
    back = _normalize(centers - targets)  # camera +z
    up = up.expand_as(back)
    right = torch.linalg.cross(up, back, dim=-1)
    # a view along +-up has no defined roll: fall back to any axis not parallel to it
    degenerate = right.norm(dim=-1) < 1e-6
    if degenerate.any():
        alt = torch.where(back[:, :1].abs() < 0.9, torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])).to(
            back
        )
        right = torch.where(degenerate[:, None], torch.linalg.cross(alt, back, dim=-1), right)
    right = _normalize(right)
    cam_up = torch.linalg.cross(back, right, dim=-1)
    c2w = torch.eye(4).repeat(len(centers), 1, 1)
    c2w[:, :3, 0], c2w[:, :3, 1], c2w[:, :3, 2], c2w[:, :3, 3] = right, cam_up, back, centers
    return c2w


def random_rotations(n: int, max_angle: float, generator: torch.Generator) -> Tensor:
    """[n, 3, 3] rotations about uniform random axes by angles uniform in ``[-max_angle, max_angle]`` (rad)."""
    axis = _normalize(torch.randn(n, 3, generator=generator))
    angle = (torch.rand(n, generator=generator) * 2 - 1) * max_angle
    k = torch.zeros(n, 3, 3)
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - k.transpose(1, 2)
    s, c = angle.sin()[:, None, None], angle.cos()[:, None, None]
    return torch.eye(3) + s * k + (1 - c) * (k @ k)


@dataclass(frozen=True)
class PoseRegion:
    """Where data-free poses are drawn from (world units), as derived from the training cameras.

    Attributes:
        kind: ``hemisphere`` | ``band`` | ``forward``.
        center: [3] look-at point (scene centre, or the focus point of forward-facing captures).
        up: [3] unit world up (see :func:`world_up`).
        radius: (min, max) camera distance to ``center`` (orbit kinds).
        elevation: (min, max) elevation in radians relative to ``up`` (orbit kinds).
        box_min, box_max: [3] bounding box of the training camera centres (``forward``).
    """

    kind: str
    center: Tensor
    up: Tensor
    radius: tuple[float, float]
    elevation: tuple[float, float]
    box_min: Tensor
    box_max: Tensor

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "center": self.center.tolist(),
            "up": self.up.tolist(),
            "radius": list(self.radius),
            "elevation_deg": [math.degrees(e) for e in self.elevation],
            "box_min": self.box_min.tolist(),
            "box_max": self.box_max.tolist(),
        }


def derive_region(cameras: Cameras, data_type: str, near: float | None = None, far: float | None = None) -> PoseRegion:
    """The pose region of a dataset type, from its training ``cameras`` (and depth bounds)."""
    if data_type not in POSE_KINDS:
        raise SpecError("data_type", f"{data_type!r} has no pose sampler; expected one of {sorted(POSE_KINDS)}")
    if len(cameras) < 2:
        raise UserError(f"data-free poses need at least 2 training cameras, got {len(cameras)}")
    c2w = cameras.c2w.float()
    centers = c2w[:, :3, 3]
    up = world_up(c2w)
    kind = POSE_KINDS[data_type]
    if kind == "forward":
        mean_center = centers.mean(0)
        forward = _normalize(-c2w[:, :3, 2].mean(0))
        if near is not None and far is not None and 0 < near < far:
            depth = 1.0 / ((1 - LLFF_FOCUS_BLEND) / near + LLFF_FOCUS_BLEND / far)
        else:
            depth = float((axes_center(c2w) - mean_center).norm())
        center = mean_center + forward * depth
    else:
        center = axes_center(c2w)
    offsets = centers - center
    dist = offsets.norm(dim=-1)
    elev = torch.asin((offsets @ up / dist).clamp(-1, 1))
    radius = (float(dist.min()), float(dist.max()))
    if kind == "hemisphere":
        elevation = (min(0.0, float(elev.min())), math.pi / 2)
    else:
        elevation = (float(elev.min()), float(elev.max()))
    return PoseRegion(kind, center, up, radius, elevation, centers.min(0).values, centers.max(0).values)


def _tangent_basis(up: Tensor) -> tuple[Tensor, Tensor]:
    """Two unit vectors completing ``up`` to an orthonormal basis."""
    alt = torch.tensor([1.0, 0.0, 0.0]) if abs(float(up[0])) < 0.9 else torch.tensor([0.0, 1.0, 0.0])
    e1 = _normalize(torch.linalg.cross(up, alt, dim=-1))
    return e1, torch.linalg.cross(up, e1, dim=-1)


def sample_centers(region: PoseRegion, n: int, generator: torch.Generator) -> Tensor:
    """[n, 3] camera centres drawn from ``region``."""
    u = torch.rand(n, 3, generator=generator)
    if region.kind == "forward":
        return region.box_min + u * (region.box_max - region.box_min)
    # uniform over the sphere's area between the two elevations, uniform radius in the range
    lo, hi = region.elevation
    sin_el = math.sin(lo) + u[:, 0] * (math.sin(hi) - math.sin(lo))
    cos_el = (1 - sin_el.square()).clamp_min(0).sqrt()
    az = u[:, 1] * 2 * math.pi
    r = region.radius[0] + u[:, 2] * (region.radius[1] - region.radius[0])
    e1, e2 = _tangent_basis(region.up)
    dirs = cos_el[:, None] * (az.cos()[:, None] * e1 + az.sin()[:, None] * e2) + sin_el[:, None] * region.up
    return region.center + r[:, None] * dirs


class PoseSampler:
    """Draws a fresh set of distillation views per epoch.

    Args:
        cameras: the scene's training cameras (intrinsics are reused for sampled views).
        data_type: ``synthetic`` | ``llff`` | ``tank``.
        n_poses: poses per epoch (default: the reference's count for the type).
        near, far: the split's depth bounds (world units) when known (LLFF focus depth).
        use_real: return the training cameras themselves instead of sampled poses.
    """

    def __init__(
        self,
        cameras: Cameras,
        data_type: str,
        n_poses: int | None = None,
        near: float | None = None,
        far: float | None = None,
        use_real: bool = False,
    ):
        self.cameras = cameras
        self.region = derive_region(cameras, data_type, near, far)
        self.use_real = use_real
        self.n_poses = len(cameras) if use_real else (n_poses or DEFAULT_POSES_PER_EPOCH[data_type])
        if self.n_poses < 1:
            raise UserError(f"poses per epoch must be >= 1, got {self.n_poses}")

    def _views(self, c2w: Tensor, generator: torch.Generator) -> Cameras:
        src = torch.randint(len(self.cameras), (len(c2w),), generator=generator)
        cams = self.cameras
        return Cameras(c2w, cams.fx[src], cams.fy[src], cams.cx[src], cams.cy[src], cams.width, cams.height)

    def sample(self, generator: torch.Generator) -> Cameras:
        """One epoch's views: ``n_poses`` new poses (or the training cameras with ``use_real``)."""
        if self.use_real:
            return self.cameras
        centers = sample_centers(self.region, self.n_poses, generator)
        targets = self.region.center.expand_as(centers)
        return self._views(look_at(centers, targets, self.region.up), generator)

    def jitter(self, views: Cameras, max_angle_deg: float, generator: torch.Generator) -> Cameras:
        """Copies of ``views`` orbited about the region's centre by random rotations of at most
        ``max_angle_deg`` (PVD-AL's re-use of hard poses); rotations stay proper."""
        rot = random_rotations(len(views), math.radians(max_angle_deg), generator)
        c2w = views.c2w.clone()
        center = self.region.center
        c2w[:, :3, :3] = rot @ views.c2w[:, :3, :3]
        c2w[:, :3, 3] = torch.einsum("nij,nj->ni", rot, views.c2w[:, :3, 3] - center) + center
        return Cameras(c2w, views.fx, views.fy, views.cx, views.cy, views.width, views.height)
