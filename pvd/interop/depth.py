"""Rendered depth of a model's views: the surface each pixel sees, for point clouds and visibility.

A view is rendered as the model renders images (:func:`pvd.render.splat.render_view_output`:
Gaussian fields through the splat rasteriser, the others by ray marching) over a black background,
so its colour is premultiplied by its opacity; the surface a pixel sees lies at ``origin + (depth /
opacity) * direction`` (box units: ``depth`` is the expected distance ``sum w t`` along the unit box
direction, see :mod:`pvd.render.compositing`) with the straight colour ``rgb / opacity``. Pixels
whose opacity is below a cut see no surface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from pvd.data.cameras import Cameras, image_rays
from pvd.model import Model
from pvd.render.splat import render_view_output


@dataclass(frozen=True)
class ViewDepth:
    """One rendered view, pixels row-major (``height * width`` rays, box units).

    Attributes:
        origins, directions: [n, 3] ray origins and unit directions.
        rgb: [n, 3] straight colour in [0, 1] (black where nothing is seen).
        opacity: [n] accumulated opacity in [0, 1].
        distance: [n] distance along the ray to the surface (``depth / opacity``; inf where the
            opacity is zero).
        width, height: the image size.
    """

    origins: Tensor
    directions: Tensor
    rgb: Tensor
    opacity: Tensor
    distance: Tensor
    width: int
    height: int

    def surface(self) -> Tensor:
        """[n, 3] the point each pixel sees (box units; inf where nothing is seen)."""
        return self.origins + self.distance[:, None] * self.directions


def view_size_scale(cameras: Cameras, max_side: int | None) -> Cameras:
    """``cameras`` rescaled so that their longer side is at most ``max_side`` pixels (None: as they are)."""
    if max_side is None or max(cameras.width, cameras.height) <= max_side:
        return cameras
    return cameras.scaled(max_side / max(cameras.width, cameras.height))


@torch.no_grad()
def render_depth(model: Model, cameras: Cameras, view: int, device: torch.device, chunk: int = 4096) -> ViewDepth:
    """Render camera ``view`` of ``cameras`` with ``model`` (module doc)."""
    rays = image_rays(cameras, view, model.normalization)
    out = render_view_output(model.renderer, cameras, view, model.normalization, torch.zeros(3, device=device), chunk)
    opacity = out.opacity.float()
    seen = opacity > 0
    distance = torch.where(seen, out.depth.float() / opacity.clamp_min(1e-12), math.inf)
    rgb = torch.where(seen[:, None], out.rgb.float() / opacity.clamp_min(1e-12)[:, None], 0.0).clamp(0, 1)
    return ViewDepth(
        rays.origins.cpu(),
        rays.directions.cpu(),
        rgb.cpu(),
        opacity.cpu(),
        distance.cpu(),
        cameras.width,
        cameras.height,
    )
