"""Cameras (pinhole, or with lens distortion), scene normalisation and ray generation.

Conventions (stated once, used everywhere in `pvd`):

* **Camera axes** — camera-to-world matrices ``c2w`` use the OpenGL/Blender convention:
  +x right, +y up, the camera looks along **-z**. Parsers of other conventions (OpenCV in NSVF,
  LLFF's [down, right, back]) convert into this one on load.
* **Pixels** — pixel ``(u, v)`` (column, row) covers ``[u, u+1) x [v, v+1)``; its centre is
  ``(u + 0.5, v + 0.5)``. Row 0 is the top of the image.
* **World vs box** — datasets live in their own world units. The renderer works in a box
  ``[-bound, bound]^3``; a world point ``p`` maps to ``scale * R p + offset`` with ``R`` a rotation
  (identity unless a field comes from a frame like torch-ngp's, whose box axes are the world's
  (y, z, x): :data:`NGP_ROTATION`). Directions are unit vectors and map to ``R d``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from pvd.data.distortion import Distortion, undistort

Matrix3 = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]
IDENTITY: Matrix3 = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
NGP_ROTATION: Matrix3 = ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0))
"""torch-ngp's frame (the reference's): ``(x, y, z)_box = (y, z, x)_world`` before the scale."""


@dataclass(frozen=True)
class Normalization:
    """Map from dataset world coordinates into the renderer box ``[-bound, bound]^3``.

    ``box = scale * rotation @ world + offset``; ``rotation`` is a 3x3 rotation matrix (rows),
    e.g. the axis permutation :data:`NGP_ROTATION`. Checkpoints without one are identity.
    """

    bound: float = 1.0
    scale: float = 1.0
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation: Matrix3 = IDENTITY

    def __post_init__(self):
        r = torch.tensor(self.rotation, dtype=torch.float64)
        if (
            r.shape != (3, 3)
            or not torch.allclose(r @ r.T, torch.eye(3, dtype=torch.float64), atol=1e-6)
            or torch.linalg.det(r) < 0
        ):
            raise ValueError(f"normalization rotation must be a 3x3 rotation matrix, got {self.rotation!r}")

    @property
    def rotated(self) -> bool:
        return self.rotation != IDENTITY

    def _matrix(self, like: Tensor) -> Tensor:
        return like.new_tensor(self.rotation)

    def to_box(self, points: Tensor) -> Tensor:
        """[..., 3] world points -> [..., 3] box points."""
        if self.rotated:
            points = points @ self._matrix(points).T
        return points * self.scale + points.new_tensor(self.offset)

    def to_box_dir(self, directions: Tensor) -> Tensor:
        """[..., 3] world directions -> [..., 3] box directions (rotated, lengths kept)."""
        return directions @ self._matrix(directions).T if self.rotated else directions

    def to_world(self, points: Tensor) -> Tensor:
        """[..., 3] box points -> [..., 3] world points (inverse of :meth:`to_box`)."""
        world = (points - points.new_tensor(self.offset)) / self.scale
        return world @ self._matrix(points) if self.rotated else world

    def rotated_by(self, rotation: Matrix3) -> Normalization:
        """The map followed by ``rotation`` of the box: ``box' = rotation @ box`` (offset included)."""
        r = torch.tensor(rotation, dtype=torch.float64)
        both = r @ torch.tensor(self.rotation, dtype=torch.float64)
        offset = r @ torch.tensor(self.offset, dtype=torch.float64)
        return Normalization(
            self.bound, self.scale, tuple(float(v) for v in offset), tuple(tuple(float(v) for v in row) for row in both)
        )

    def to_dict(self) -> dict:
        return {
            "bound": self.bound,
            "scale": self.scale,
            "offset": list(self.offset),
            "rotation": [list(row) for row in self.rotation],
        }

    @staticmethod
    def from_dict(d: dict) -> Normalization:
        """Inverse of :meth:`to_dict`; entries written before rotations existed load as identity."""
        rotation = tuple(tuple(float(v) for v in row) for row in d.get("rotation", IDENTITY))
        return Normalization(float(d["bound"]), float(d["scale"]), tuple(float(v) for v in d["offset"]), rotation)


@dataclass(frozen=True)
class Cameras:
    """A set of cameras sharing one image size: pinhole, or with lens distortion.

    Attributes:
        c2w: [n, 4, 4] float32 camera-to-world, OpenGL axes, world units.
        fx, fy, cx, cy: [n] float32 intrinsics in pixels.
        width, height: image size in pixels.
        distortion: the lens model and per-view coefficients (:mod:`pvd.data.distortion`), or None
            for pinhole cameras; rays go through the undistorted direction of each pixel.
    """

    c2w: Tensor
    fx: Tensor
    fy: Tensor
    cx: Tensor
    cy: Tensor
    width: int
    height: int
    distortion: Distortion | None = None

    def __len__(self) -> int:
        return self.c2w.shape[0]

    def __getitem__(self, idx) -> Cameras:
        """Select views by index tensor/slice/list; keeps the batch dimension."""
        if isinstance(idx, int):
            idx = [idx]
        return Cameras(
            self.c2w[idx],
            self.fx[idx],
            self.fy[idx],
            self.cx[idx],
            self.cy[idx],
            self.width,
            self.height,
            self.distortion[idx] if self.distortion is not None else None,
        )

    def scaled(self, factor: float) -> Cameras:
        """Intrinsics for images resized by ``factor`` (e.g. 1/8 for an 8x downscale)."""
        w, h = int(round(self.width * factor)), int(round(self.height * factor))
        sx, sy = w / self.width, h / self.height
        return Cameras(self.c2w, self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, w, h, self.distortion)

    def centers(self) -> Tensor:
        """[n, 3] camera centres in world units."""
        return self.c2w[:, :3, 3]

    def to_dict(self) -> dict:
        """Plain data (lists and ints) that survives JSON and ``torch.load(weights_only=True)``."""
        out = {
            "c2w": self.c2w.tolist(),
            "fx": self.fx.tolist(),
            "fy": self.fy.tolist(),
            "cx": self.cx.tolist(),
            "cy": self.cy.tolist(),
            "width": self.width,
            "height": self.height,
        }
        if self.distortion is not None:
            out["distortion"] = self.distortion.to_dict()
        return out

    @staticmethod
    def from_dict(d: dict) -> Cameras:
        """Inverse of :meth:`to_dict` (float32 tensors)."""
        t = lambda k: torch.tensor(d[k], dtype=torch.float32)  # noqa: E731
        lens = Distortion.from_dict(d["distortion"]) if d.get("distortion") else None
        return Cameras(t("c2w"), t("fx"), t("fy"), t("cx"), t("cy"), int(d["width"]), int(d["height"]), lens)

    @staticmethod
    def cat(parts: list[Cameras]) -> Cameras:
        """Concatenate camera sets of one image size (views in order)."""
        if not parts:
            raise ValueError("Cameras.cat needs at least one camera set")
        sizes = {(c.width, c.height) for c in parts}
        if len(sizes) != 1:
            raise ValueError(f"Cameras.cat: camera sets differ in image size {sorted(sizes)}")
        models = {c.distortion.model for c in parts if c.distortion is not None}
        if len(models) > 1:
            raise ValueError(f"Cameras.cat: camera sets use different lens models {sorted(models)}")
        lens = None
        if models:
            coeffs = [
                c.distortion.coeffs if c.distortion is not None else torch.zeros(len(c), 6, dtype=torch.float64)
                for c in parts
            ]
            lens = Distortion(models.pop(), torch.cat(coeffs))
        return Cameras(
            *(torch.cat([getattr(c, k) for c in parts]) for k in ("c2w", "fx", "fy", "cx", "cy")),
            parts[0].width,
            parts[0].height,
            lens,
        )


@dataclass(frozen=True)
class Rays:
    """A batch of rays in **box** coordinates.

    Attributes:
        origins: [n_rays, 3] ray origins (box units).
        directions: [n_rays, 3] unit directions.
    """

    origins: Tensor
    directions: Tensor

    def __len__(self) -> int:
        return self.origins.shape[0]

    def __getitem__(self, idx) -> Rays:
        return Rays(self.origins[idx], self.directions[idx])

    def to(self, device) -> Rays:
        return Rays(self.origins.to(device), self.directions.to(device))


def pixel_rays(cameras: Cameras, view: Tensor, u: Tensor, v: Tensor, norm: Normalization) -> Rays:
    """Rays through continuous pixel coordinates.

    Args:
        cameras: the split's cameras.
        view: [n] long, camera index of each ray.
        u, v: [n] float pixel coordinates (column, row); ``u + 0.5`` is a pixel centre.
        norm: world -> box map.
    Returns:
        Rays with [n, 3] origins (box) and unit directions.
    """
    fx, fy, cx, cy = cameras.fx[view], cameras.fy[view], cameras.cx[view], cameras.cy[view]
    x, y = (u - cx) / fx, (v - cy) / fy
    if cameras.distortion is not None:
        lens = cameras.distortion
        xu, yu, _ = undistort(lens.model, lens.coeffs[view], x, y)
        x, y = xu.to(x.dtype), yu.to(y.dtype)
    d_cam = torch.stack([x, -y, -torch.ones_like(u)], dim=-1)
    rot = cameras.c2w[view, :3, :3]
    d = norm.to_box_dir(torch.einsum("nij,nj->ni", rot, d_cam))
    d = d / d.norm(dim=-1, keepdim=True)
    o = norm.to_box(cameras.c2w[view, :3, 3])
    return Rays(o, d)


def image_rays(cameras: Cameras, view: int, norm: Normalization) -> Rays:
    """All pixel-centre rays of one view, row-major: [height * width] rays."""
    h, w = cameras.height, cameras.width
    vv, uu = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    u = uu.reshape(-1) + 0.5
    v = vv.reshape(-1) + 0.5
    idx = torch.full_like(u, view, dtype=torch.long)
    return pixel_rays(cameras, idx, u, v, norm)


@dataclass(frozen=True)
class PixelBatch:
    """Random training pixels: which view and pixel each ray came from.

    Attributes:
        view: [n] long view index.
        row, col: [n] long integer pixel indices (for looking up the image).
        u, v: [n] float continuous coordinates the rays pass through (jittered within the pixel
              when requested, pixel centres otherwise).
    """

    view: Tensor
    row: Tensor
    col: Tensor
    u: Tensor
    v: Tensor


def sample_pixels(
    n_views: int,
    width: int,
    height: int,
    n: int,
    generator: torch.Generator,
    jitter: bool = True,
    single_view: bool = False,
) -> PixelBatch:
    """Uniform random pixels over all views (or one random view when ``single_view``)."""
    if single_view:
        view = torch.randint(n_views, (1,), generator=generator).expand(n).clone()
    else:
        view = torch.randint(n_views, (n,), generator=generator)
    row = torch.randint(height, (n,), generator=generator)
    col = torch.randint(width, (n,), generator=generator)
    if jitter:
        du = torch.rand(n, generator=generator)
        dv = torch.rand(n, generator=generator)
    else:
        du = dv = torch.full((n,), 0.5)
    return PixelBatch(view, row, col, col.float() + du, row.float() + dv)
