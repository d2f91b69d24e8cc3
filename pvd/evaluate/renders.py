"""Saved evaluation renders: ``NNN_<name>.png`` (render), ``NNN_<name>_gt.png`` (ground truth over
white), ``NNN_<name>_error.png`` (mean absolute error, ``inferno`` colours, 0 to ``ERROR_MAP_MAX``) and
``NNN_<name>_depth.png`` (the rendered distance to the surface, :func:`depth_map`).

Depth images share one scale per camera, whatever the model: ``turbo`` colours from ``near`` (blue) to
``far`` (red), the distances (world units) from the camera to the nearest and farthest point of the
sphere around the renderer's box (:func:`box_depth_range`), so the depth images of the models of one
scene compare pixel for pixel. Pixels whose opacity is below ``DEPTH_SEEN`` show no surface (white).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from pvd.data.cameras import Cameras, Normalization
from pvd.records import atomic_path

ERROR_MAP_MAX = 0.25
DEPTH_SEEN = 0.5


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[H, W, 3] float in [0, 1] -> uint8 array."""
    return (img.detach().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)


def error_map(pred: torch.Tensor, gt: torch.Tensor) -> np.ndarray:
    """[H, W, 3] uint8 colour map of the per-pixel mean absolute error (0 .. ERROR_MAP_MAX)."""
    from matplotlib import colormaps

    err = ((pred - gt).abs().mean(-1) / ERROR_MAP_MAX).clamp(0, 1).cpu().numpy()
    return (colormaps["inferno"](err)[..., :3] * 255 + 0.5).astype(np.uint8)


def box_depth_range(cameras: Cameras, view: int, norm: Normalization, bound: float) -> tuple[float, float]:
    """(near, far) world distances from camera ``view`` to the sphere around the box ``[-bound,
    bound]^3`` (near is 0 for a camera inside it)."""
    centre = norm.to_box(cameras.c2w[view, :3, 3].double())
    dist, radius = float(centre.norm()), bound * math.sqrt(3)
    return max(dist - radius, 0.0) / norm.scale, (dist + radius) / norm.scale


def depth_map(distance: torch.Tensor, opacity: torch.Tensor, near: float, far: float) -> np.ndarray:
    """[H, W, 3] uint8 ``turbo`` image of [H, W] distances (``near`` .. ``far``), white where the
    [H, W] opacity is below ``DEPTH_SEEN``."""
    from matplotlib import colormaps

    if not far > near:
        raise ValueError(f"depth map: far ({far}) must exceed near ({near})")
    t = ((distance.float().cpu() - near) / (far - near)).nan_to_num(1.0, 1.0, 0.0).clamp(0, 1).numpy()
    img = (colormaps["turbo"](t)[..., :3] * 255 + 0.5).astype(np.uint8)
    img[(opacity.cpu() < DEPTH_SEEN).numpy()] = 255
    return img


def write_png(path: Path, pixels: np.ndarray) -> None:
    """Atomically write an [H, W, 3] uint8 PNG."""
    import imageio.v3 as iio

    with atomic_path(path) as tmp:
        iio.imwrite(tmp, pixels, extension=".png")


class RenderSaver:
    """``on_image`` (and ``on_depth``) callback of :func:`pvd.evaluate.evaluate.evaluate_model` writing
    render / gt / error (and depth) PNGs.

    With ``views``, only those view indices are written. With ``depth_range`` (view -> (near, far),
    e.g. :func:`box_depth_range`), :meth:`depth` keeps each view's rendered distance for the depth PNG.
    ``saved`` lists what was written: ``{"view", "file", "render", "gt", "error"}`` and, with depth,
    ``"depth", "depth_near", "depth_far"``, paths relative to ``folder``'s parent.
    """

    def __init__(
        self,
        folder: Path,
        files: tuple[str, ...],
        views: set[int] | None = None,
        depth_range: Callable[[int], tuple[float, float]] | None = None,
    ):
        self.folder = folder
        self.files = files
        self.views = views
        self.depth_range = depth_range
        self.saved: list[dict] = []
        self._depth: tuple[int, np.ndarray, float, float] | None = None

    def depth(self, view: int, distance: torch.Tensor, opacity: torch.Tensor) -> None:
        """Keep view ``view``'s [H, W] distance (world units) and opacity for the next call."""
        if self.depth_range is None or (self.views is not None and view not in self.views):
            return
        near, far = self.depth_range(view)
        self._depth = (view, depth_map(distance, opacity, near, far), near, far)

    def __call__(self, view: int, pred: torch.Tensor, gt: torch.Tensor) -> None:
        if self.views is not None and view not in self.views:
            return
        stem = f"{view:03d}_{Path(self.files[view]).stem}"
        names = {"render": f"{stem}.png", "gt": f"{stem}_gt.png", "error": f"{stem}_error.png"}
        write_png(self.folder / names["render"], to_uint8(pred))
        write_png(self.folder / names["gt"], to_uint8(gt))
        write_png(self.folder / names["error"], error_map(pred, gt))
        extra = {}
        if self._depth is not None and self._depth[0] == view:
            _, pixels, near, far = self._depth
            names["depth"] = f"{stem}_depth.png"
            write_png(self.folder / names["depth"], pixels)
            extra = {"depth_near": near, "depth_far": far}
        self._depth = None
        paths = {k: f"{self.folder.name}/{v}" for k, v in names.items()}
        self.saved.append({"view": view, "file": self.files[view], **paths, **extra})
