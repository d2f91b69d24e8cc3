"""What a parser knows about a split before any pixel is decoded.

Each format parser (``blender``, ``llff``, ``nsvf``) returns a :class:`SplitIndex`: the cameras
(already at the output resolution), the image files in view order, the size the files have on disk
and the area-averaging factor applied when reading them. Building it costs only file headers, so
counts, sizes and poses of a large split can be checked cheaply; :meth:`SplitIndex.load` decodes
the images into a :class:`~pvd.data.scene.SceneSplit`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pvd.data.cameras import Cameras
from pvd.data.image_cache import cached_read
from pvd.data.images import read_images
from pvd.data.scene import DataError, SceneSplit


@dataclass(frozen=True)
class SplitIndex:
    """A split without its pixels.

    Attributes:
        name: split name (train / val / test).
        cameras: n cameras at the output resolution (OpenGL axes, world units).
        files: image file of each view, in view order.
        source_size: (width, height) of the files on disk.
        area_factor: integer area-averaging factor applied when reading (the requested
            ``downscale``, except for LLFF where a pre-reduced ``images_N/`` may supply part of it).
        near, far, bbox, meta: as in :class:`SceneSplit`; ``meta["downscale"]`` is the request.
        mask_files: per-view foreground masks (white = keep) that become the images' alpha, or None.
    """

    name: str
    cameras: Cameras
    files: tuple[str, ...]
    source_size: tuple[int, int]
    area_factor: int = 1
    near: float | None = None
    far: float | None = None
    bbox: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None
    meta: dict = field(default_factory=dict)
    mask_files: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.files)

    def load(self, workers: int | None = None, progress: bool | None = None) -> SceneSplit:
        """Decode the images: a SceneSplit with [n, H, W, C] float32 images."""

        def read(files):  # decoded once per content, then from the image cache (pvd.data.image_cache)
            return cached_read(
                files,
                self.source_size,
                self.area_factor,
                lambda: read_images(files, self.source_size, self.area_factor, workers, progress),
            )

        images = read(self.files)
        if self.mask_files is not None:
            masks = read(self.mask_files)
            images = torch.cat([images[..., :3], masks[..., :1]], dim=-1)
        return SceneSplit(
            name=self.name,
            images=images,
            cameras=self.cameras,
            files=self.files,
            near=self.near,
            far=self.far,
            bbox=self.bbox,
            meta=dict(self.meta),
        )


def check_downscale(downscale) -> int:
    """Validate the ``downscale`` argument: a positive integer."""
    if isinstance(downscale, bool) or not isinstance(downscale, int) or downscale < 1:
        raise DataError(f"downscale must be a positive integer, got {downscale!r}")
    return downscale


def make_cameras(c2w: torch.Tensor, fx, fy, cx, cy, source_size: tuple[int, int], area_factor: int) -> Cameras:
    """Cameras for images of ``source_size`` area-averaged by ``area_factor``.

    Args:
        c2w: [n, 4, 4] camera-to-world, OpenGL axes.
        fx, fy, cx, cy: [n] (or anything broadcastable to [n]) intrinsics at ``source_size``.
    """
    n = c2w.shape[0]
    k = float(area_factor)

    def vec(x) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.float32).expand(n).clone() / k

    width, height = source_size
    return Cameras(
        c2w.to(torch.float32), vec(fx), vec(fy), vec(cx), vec(cy), width // area_factor, height // area_factor
    )


ROTATION_TOLERANCE = 1e-3  # max |R^T R - I| entry of a camera's rotation part


def check_cameras(index: SplitIndex, root) -> None:
    """Every camera of ``index`` usable for rendering: a finite pose whose rotation part is
    orthonormal (within ``ROTATION_TOLERANCE``), finite positive focal lengths, a finite principal
    point and a non-empty image size. Raises :class:`DataError` naming the first bad view's image."""
    cams = index.cameras
    if len(index) == 0:
        raise DataError(f"{root}: the {index.name!r} split has no views")
    if cams.width < 1 or cams.height < 1:
        raise DataError(
            f"{root}: the {index.name!r} split's images are {cams.width}x{cams.height} px "
            "after downscaling; expected at least 1x1 (use a smaller downscale factor)"
        )
    c2w = cams.c2w.to(torch.float64)
    rot = c2w[:, :3, :3]
    error = (rot.transpose(1, 2) @ rot - torch.eye(3, dtype=torch.float64)).abs().amax(dim=(1, 2))
    checks = (
        (~torch.isfinite(c2w).all(dim=2).all(dim=1), "its pose (camera-to-world matrix) is not finite"),
        (
            ~(error <= ROTATION_TOLERANCE),
            f"the rotation part of its pose is not orthonormal (|R^T R - I| up to {ROTATION_TOLERANCE} expected)",
        ),
        (
            ~(torch.isfinite(cams.fx) & torch.isfinite(cams.fy) & (cams.fx > 0) & (cams.fy > 0)),
            "its focal length is not a finite positive number",
        ),
        (~(torch.isfinite(cams.cx) & torch.isfinite(cams.cy)), "its principal point is not finite"),
    )
    for bad, what in checks:
        if bool(bad.any()):
            i = int(bad.nonzero()[0])
            detail = f" (|R^T R - I| = {float(error[i]):.3g})" if "orthonormal" in what else ""
            raise DataError(
                f"{index.files[i]}: camera of view {i} of the {index.name!r} split in {root}: {what}{detail}"
            )


def scene_hash(cameras: Cameras, files: tuple[str, ...]) -> str:
    """Identity of a split for ``--resume``: sha256 (16 hex digits) of its camera poses, intrinsics,
    image size and image list (each file as ``folder/name``, so a moved scene keeps its hash)."""
    h = hashlib.sha256()
    for tensor in (cameras.c2w, cameras.fx, cameras.fy, cameras.cx, cameras.cy):
        h.update(tensor.detach().to(torch.float32).contiguous().numpy().tobytes())
    h.update(f"{cameras.width}x{cameras.height}".encode())
    for f in files:
        h.update(f"\0{Path(f).parent.name}/{Path(f).name}".encode())
    return h.hexdigest()[:16]
