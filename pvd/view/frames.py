"""What the viewer shows: a model rendered from a browser's camera, as RGB, depth or opacity.

Conventions: the browser's camera (viser) is given in the scene's world frame with OpenCV axes
(+x right, +y down, looking along +z) and a vertical field of view; pvd's cameras use OpenGL axes
(:mod:`pvd.data.cameras`), so the rotation's y and z columns flip sign. Frames are rendered at a size
whose longer side is a given number of pixels, keeping the browser's aspect ratio.

Render modes (:data:`RENDER_MODES`): ``rgb`` over white (as evaluation renders), ``depth`` (the
distance to the surface each pixel sees, coloured ``turbo`` from the frame's nearest to farthest
surface, white where nothing is seen) and ``opacity`` (accumulated opacity, black 0 to white 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from pvd.data.cameras import Cameras
from pvd.model import Model
from pvd.render import RenderOutput
from pvd.render.splat import render_view_output

OPENCV_TO_OPENGL = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
SEEN = 0.5
"""A pixel whose opacity reaches this shows a surface (depth mode)."""


def frame_size(aspect: float, long_side: int) -> tuple[int, int]:
    """(width, height) with the longer side ``long_side`` pixels and ``width / height ~ aspect``."""
    if aspect >= 1:
        return long_side, max(1, round(long_side / aspect))
    return max(1, round(long_side * aspect)), long_side


def opencv_camera(rotation: np.ndarray, position: np.ndarray, fov: float, width: int, height: int) -> Cameras:
    """One pinhole camera from a [3, 3] OpenCV-axes camera-to-world rotation, [3] position (world) and
    vertical field of view ``fov`` (radians), principal point at the centre."""
    c2w = torch.eye(4)
    c2w[:3, :3] = torch.as_tensor(rotation, dtype=torch.float32) @ OPENCV_TO_OPENGL
    c2w[:3, 3] = torch.as_tensor(position, dtype=torch.float32)
    f = (height / 2) / math.tan(fov / 2)
    one = lambda v: torch.tensor([float(v)])  # noqa: E731
    return Cameras(c2w[None], one(f), one(f), one(width / 2), one(height / 2), width, height)


def opencv_rotation(c2w: Tensor) -> np.ndarray:
    """[3, 3] OpenCV-axes rotation of a pvd (OpenGL-axes) camera-to-world [4, 4] matrix."""
    return (c2w[:3, :3].float() @ OPENCV_TO_OPENGL).numpy()


def _rgb(out: RenderOutput, h: int, w: int, scale: float) -> np.ndarray:
    return (out.rgb.clamp(0, 1).reshape(h, w, 3).numpy() * 255 + 0.5).astype(np.uint8)


def _opacity(out: RenderOutput, h: int, w: int, scale: float) -> np.ndarray:
    grey = (out.opacity.clamp(0, 1).reshape(h, w, 1).numpy() * 255 + 0.5).astype(np.uint8)
    return np.repeat(grey, 3, axis=2)


def _depth(out: RenderOutput, h: int, w: int, scale: float) -> np.ndarray:
    from matplotlib import colormaps

    seen = out.opacity >= SEEN
    distance = out.depth / out.opacity.clamp_min(1e-12) / scale
    img = np.full((h * w, 3), 255, dtype=np.uint8)
    if bool(seen.any()):
        d = distance[seen]
        lo, hi = float(d.min()), float(d.max())
        t = ((d - lo) / max(hi - lo, 1e-6)).numpy()
        img[seen.numpy()] = (colormaps["turbo"](t)[:, :3] * 255 + 0.5).astype(np.uint8)
    return img.reshape(h, w, 3)


RENDER_MODES: dict[str, Callable[[RenderOutput, int, int, float], np.ndarray]] = {
    "rgb": _rgb,
    "depth": _depth,
    "opacity": _opacity,
}
"""Render mode -> (render output, height, width, world-to-box scale) -> [H, W, 3] uint8 image."""


@torch.no_grad()
def render_frame(model: Model, camera: Cameras, mode: str, device: torch.device) -> np.ndarray:
    """[H, W, 3] uint8 image of ``model`` seen by the one camera ``camera`` in ``mode`` (Gaussian
    fields through the splat rasteriser, the others by ray marching, as evaluation renders them)."""
    out = render_view_output(model.renderer, camera, 0, model.normalization, torch.ones(3, device=device))
    out = RenderOutput(out.rgb.float().cpu(), out.opacity.float().cpu(), out.depth.float().cpu())
    return RENDER_MODES[mode](out, camera.height, camera.width, model.normalization.scale)
