"""Splat rendering of Gaussian fields: whole images through the rasteriser (:mod:`pvd.ops.splat`).

:class:`SplatRenderer` is a :class:`pvd.render.Renderer` (ray batches are volume-rendered from the
field's point queries, so distillation and every ray-based path work unchanged) that also renders
whole camera views by rasterisation (:meth:`SplatRenderer.render_camera`), with the volume
renderer's background and transmittance conventions. Evaluation and image-based training use it.

:func:`render_view_output` renders one whole camera view with any renderer (rasterised for splat
renderers, ray-marched for the others) as per-pixel rgb, opacity and depth ``sum w t``, ``t`` the
distance along the pixel's ray (box units), whichever path drew it.

A field is splat-renderable when it has a ``gaussians()`` method returning
:class:`pvd.ops.splat.Gaussians` (the ``gs`` field).
"""

from __future__ import annotations

import torch
from torch import Tensor

from pvd.data.cameras import Cameras, Normalization, image_rays
from pvd.errors import UserError
from pvd.ops.splat import SplatCamera, SplatOutput, rasterize
from pvd.render.compositing import RenderOutput
from pvd.render.renderer import Renderer

# OpenGL camera axes (pvd's) -> OpenCV axes (the rasteriser's): flip y and z
_GL_TO_CV = torch.diag(torch.tensor([1.0, -1.0, -1.0]))


def splat_camera(cameras: Cameras, view: int, norm: Normalization, device=None) -> SplatCamera:
    """View ``view`` of ``cameras`` (world, OpenGL axes) as a box camera for the rasteriser."""
    if cameras.distortion is not None:
        raise UserError("splat rendering supports pinhole cameras only; these cameras have lens distortion")
    c2w = cameras.c2w[view].double()
    rot = torch.tensor(norm.rotation, dtype=torch.float64) @ c2w[:3, :3] @ _GL_TO_CV.double()
    center = norm.to_box(c2w[:3, 3])
    R = rot.T
    t = -R @ center
    return SplatCamera(
        R.float().to(device),
        t.float().to(device),
        float(cameras.fx[view]),
        float(cameras.fy[view]),
        float(cameras.cx[view]),
        float(cameras.cy[view]),
        cameras.width,
        cameras.height,
    )


def is_splat_renderer(renderer) -> bool:
    return isinstance(renderer, SplatRenderer)


class SplatRenderer(Renderer):
    """A :class:`Renderer` over a Gaussian field that also rasterises whole views."""

    def render_camera(self, cameras: Cameras, view: int, norm: Normalization, bg) -> SplatOutput:
        """Rasterise view ``view`` over ``bg`` ([3] or [H, W, 3]): rgb [H, W, 3], opacity and depth
        [H, W] (differentiable; ``means2d`` carries the view-space gradient)."""
        device = self.field.means.device
        cam = splat_camera(cameras, view, norm, device)
        bg = torch.as_tensor(bg, dtype=torch.float32, device=device)
        return rasterize(self.field.gaussians(), cam, bg)

    def render_view_image(self, cameras: Cameras, view: int, norm: Normalization, bg) -> Tensor:
        """[H, W, 3] inference render of one view (no gradients)."""
        with torch.no_grad():
            return self.render_camera(cameras, view, norm, bg).rgb


def ray_length_per_z(cam: SplatCamera, device=None) -> Tensor:
    """[H, W] distance along each pixel-centre ray per unit of view-space depth ``z``."""
    u = (torch.arange(cam.width, dtype=torch.float32, device=device) + 0.5 - cam.cx) / cam.fx
    v = (torch.arange(cam.height, dtype=torch.float32, device=device) + 0.5 - cam.cy) / cam.fy
    return torch.sqrt(1 + u[None, :] ** 2 + v[:, None] ** 2)


@torch.no_grad()
def render_view_output(
    renderer: Renderer, cameras: Cameras, view: int, norm: Normalization, bg, chunk: int | None = None
) -> RenderOutput:
    """Inference render of camera ``view``: rgb [H * W, 3] over ``bg`` ([3]), opacity and depth
    [H * W] (``sum w t`` along each pixel's ray, box units), row-major pixels (module doc)."""
    if is_splat_renderer(renderer):
        device = renderer.field.means.device
        out = renderer.render_camera(cameras, view, norm, bg)
        depth = out.depth
        if out.depth_is_z:
            depth = depth * ray_length_per_z(splat_camera(cameras, view, norm), device)
        return RenderOutput(out.rgb.reshape(-1, 3), out.opacity.reshape(-1), depth.reshape(-1))
    device = next(renderer.grid.buffers()).device
    rays = image_rays(cameras, view, norm).to(device)
    kwargs = {} if chunk is None else {"chunk": chunk}
    return renderer.render_image(rays, torch.as_tensor(bg, dtype=torch.float32, device=device), **kwargs)
