"""Gaussian-splat rasterisation: project 3D Gaussians (EWA), list their pixels, sort by depth,
composite front to back (the twin of the ``gsplat`` path on CUDA).

Conventions (stated once): Gaussians live in the renderer box; a :class:`SplatCamera` maps box
points to camera coordinates with **OpenCV axes** (+x right, +y down, looking along +z):
``p_cam = R p + t``; pixel ``(u, v)`` = ``(fx x / z + cx, fy y / z + cy)``, and pixel ``(col, row)``
is sampled at its centre ``(col + 0.5, row + 0.5)`` as pvd's rays are (:mod:`pvd.data.cameras`).

Per Gaussian (3DGS, Kerbl et al. 2023): covariance ``Sigma = R_q S S R_q^T`` (``S = diag(scales)``),
2D covariance ``J R Sigma R^T J^T + 0.3 I`` (``J`` the perspective Jacobian at the mean, its
``x/z``, ``y/z`` clamped to 1.3x the field of view; 0.3 px^2 dilation), opacity-weighted 2D kernel
``alpha = min(0.99, o exp(-0.5 d^T Sigma2D^-1 d))``; pixels with ``alpha < 1/255`` are skipped, so
a Gaussian's pixel box is the ellipse where ``alpha >= 1/255`` (radius ``sqrt(2 ln(255 o)
lambda_max)``). Colour: real SH of degree ``k`` at the direction from the camera centre to the mean,
``+ 0.5``, clamped at 0 (the original implementation's activation).

Compositing is pvd's (:func:`pvd.ops.composite.composite`): the (pixel, Gaussian) pairs of a pixel
in front-to-back order of the Gaussians' view depths are samples with ``sigma = -log(1 - alpha)``
and ``delta = 1``, so ``w_i = alpha_i T_i``, ``rgb = sum w c + (1 - sum w) bg``, ``opacity = sum w``
exactly as in the volume renderer; ``depth = sum w t`` with ``t`` the distance from the camera
centre to the Gaussian's mean (box units, like the volume renderer's ray distance). As in 3DGS
and gsplat a pixel ends at the Gaussian that would take its transmittance below ``T_MIN`` = 1e-4:
that one and every Gaussian behind it are not blended and get no gradient (it changes a pixel by
less than 1e-4; the tiny fern ``hash2gs`` student's steps took 116 processor seconds with it, 142
without).

The blending step is :func:`rasterize_pixels`: the native CPU kernel ``splat_fwd`` / ``splat_bwd``
(8 x 8 pixel tiles walked front to back) where it builds, else its twin
:func:`rasterize_pixels_torch` (every (Gaussian, pixel) pair of each Gaussian's pixel box, sorted
by pixel, composited by :func:`pvd.ops.composite.composite`); projection and SH colours are
PyTorch with autograd either way. On CUDA :func:`rasterize` uses gsplat (optional extra
``pvd[cuda]``, imported lazily), whose kernels follow the same conventions except that its depth
is the view-space ``z`` rather than the distance.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
from torch import Tensor

from pvd.errors import UserError
from pvd.ops.backend import native_module
from pvd.ops.composite import composite
from pvd.ops.sh import sh_encode

ALPHA_MIN = 1.0 / 255.0
ALPHA_MAX = 0.99
T_MIN = 1e-4  # a pixel stops at the Gaussian that would take its transmittance below this (as 3DGS)
DILATION = 0.3
NEAR = 0.01


@dataclass
class Gaussians:
    """Activated Gaussians in box coordinates.

    Attributes:
        means: [n, 3] centres.
        quats: [n, 4] unit quaternions ``(w, x, y, z)``.
        scales: [n, 3] standard deviations along the rotated axes.
        opacities: [n] in (0, 1).
        sh: [n, K, 3] SH coefficients, ``K = (degree + 1)^2`` (band-major, as :func:`sh_encode`).
    """

    means: Tensor
    quats: Tensor
    scales: Tensor
    opacities: Tensor
    sh: Tensor

    @property
    def degree(self) -> int:
        return math.isqrt(self.sh.shape[1]) - 1

    def __len__(self) -> int:
        return self.means.shape[0]


@dataclass(frozen=True)
class SplatCamera:
    """A pinhole camera over the box: ``R`` [3, 3], ``t`` [3] (box -> OpenCV camera), intrinsics in px."""

    R: Tensor
    t: Tensor
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @property
    def center(self) -> Tensor:
        """[3] camera centre in the box."""
        return -self.R.T @ self.t


@dataclass
class SplatOutput:
    """A rendered image.

    Attributes:
        rgb: [H, W, 3] colour with the background blended in.
        opacity: [H, W] accumulated ``sum w``.
        depth: [H, W] ``sum w t`` (box units; 0 where nothing was hit).
        means2d: [n, 2] projected means in pixels (its ``.grad`` after backward is the view-space
            gradient 3DGS densifies on); None where the backend does not expose it.
        radii: [n] long pixel radius of each Gaussian's box (0: culled).
        depth_is_z: ``depth`` is ``sum w z`` with ``z`` the view-space depth (gsplat) instead.
    """

    rgb: Tensor
    opacity: Tensor
    depth: Tensor
    means2d: Tensor | None
    radii: Tensor
    depth_is_z: bool = False


def quat_to_rotmat(q: Tensor) -> Tensor:
    """[n, 4] unit quaternions (w, x, y, z) -> [n, 3, 3] rotation matrices."""
    w, x, y, z = q.unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x * x + z * z),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(-1, 3, 3)


def covariances(quats: Tensor, scales: Tensor) -> Tensor:
    """[n, 4] unit quaternions and [n, 3] scales -> [n, 3, 3] covariances ``R S S R^T``."""
    m = quat_to_rotmat(quats) * scales[:, None, :]
    return m @ m.transpose(1, 2)


def sh_colors(sh: Tensor, means: Tensor, center: Tensor) -> Tensor:
    """[n, K, 3] SH coefficients seen from ``center`` [3] -> [n, 3] colours ``max(SH(d) c + 0.5, 0)``."""
    dirs = means - center
    dirs = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    basis = sh_encode(dirs.float(), math.isqrt(sh.shape[1]))  # [n, K]
    return (torch.einsum("nk,nkc->nc", basis, sh) + 0.5).clamp_min(0.0)


def _project(g: Gaussians, cam: SplatCamera):
    """Means [n, 2] (px), conics [n, 3] (a, b, c of the inverse 2D covariance), view depths [n],
    distances [n], radii [n] (float px, 0 where culled)."""
    p = g.means @ cam.R.T + cam.t
    z = p[:, 2]
    zc = z.clamp_min(NEAR)
    lim_x = 1.3 * 0.5 * cam.width / cam.fx
    lim_y = 1.3 * 0.5 * cam.height / cam.fy
    tx = (p[:, 0] / zc).clamp(-lim_x, lim_x) * zc
    ty = (p[:, 1] / zc).clamp(-lim_y, lim_y) * zc
    zero = torch.zeros_like(zc)
    jac = torch.stack(
        [cam.fx / zc, zero, -cam.fx * tx / zc**2, zero, cam.fy / zc, -cam.fy * ty / zc**2], dim=-1
    ).reshape(-1, 2, 3)
    t_mat = jac @ cam.R  # [n, 2, 3]
    cov2 = t_mat @ covariances(g.quats, g.scales) @ t_mat.transpose(1, 2)
    a = cov2[:, 0, 0] + DILATION
    b = cov2[:, 0, 1]
    c = cov2[:, 1, 1] + DILATION
    det = (a * c - b * b).clamp_min(1e-12)
    conics = torch.stack([c / det, -b / det, a / det], dim=-1)
    means2d = torch.stack([cam.fx * p[:, 0] / zc + cam.cx, cam.fy * p[:, 1] / zc + cam.cy], dim=-1)
    with torch.no_grad():
        mid = 0.5 * (a + c)
        lam = mid + (mid * mid - det).clamp_min(0.1).sqrt()
        level = torch.log((255.0 * g.opacities).clamp_min(1.0))
        radii = torch.sqrt(2.0 * level * lam)
        radii = torch.where((z > NEAR) & (g.opacities > ALPHA_MIN), radii, torch.zeros_like(radii))
    return means2d, conics, z, p.norm(dim=-1), radii


def _pairs(means2d: Tensor, radii: Tensor, order: Tensor, width: int, height: int):
    """(Gaussian id [m], pixel [m]) of every pixel centre inside each Gaussian's box, Gaussians in
    the given ``order`` (front to back), and the pixel boxes' extents."""
    u, v = means2d[order, 0], means2d[order, 1]
    r = radii[order]
    x0 = torch.ceil(u - r - 0.5).clamp(0, width).long()
    x1 = torch.floor(u + r - 0.5).clamp(-1, width - 1).long()
    y0 = torch.ceil(v - r - 0.5).clamp(0, height).long()
    y1 = torch.floor(v + r - 0.5).clamp(-1, height - 1).long()
    nx = (x1 - x0 + 1).clamp_min(0)
    ny = (y1 - y0 + 1).clamp_min(0)
    counts = nx * ny * (r > 0)
    ids = torch.repeat_interleave(torch.arange(len(order), device=order.device), counts)
    starts = torch.cumsum(counts, 0) - counts
    local = torch.arange(ids.numel(), device=order.device) - starts[ids]
    nxi = nx[ids].clamp_min(1)
    col = x0[ids] + local % nxi
    row = y0[ids] + local // nxi
    return order[ids], row * width + col


def _alphas(means2d: Tensor, conics: Tensor, opacities: Tensor, gid: Tensor, pixel: Tensor, width: int) -> Tensor:
    """[m] alpha of each (Gaussian, pixel) pair (before the 0.99 clamp)."""
    px = (pixel % width).to(means2d.dtype) + 0.5
    py = torch.div(pixel, width, rounding_mode="floor").to(means2d.dtype) + 0.5
    dx = px - means2d[gid, 0]
    dy = py - means2d[gid, 1]
    con = conics[gid]
    power = -0.5 * (con[:, 0] * dx * dx + con[:, 2] * dy * dy) - con[:, 1] * dx * dy
    return opacities[gid] * torch.exp(power.clamp_max(0.0))


def rasterize_pixels_torch(
    means2d: Tensor,
    conics: Tensor,
    opacities: Tensor,
    colors: Tensor,
    dists: Tensor,
    radii: Tensor,
    order: Tensor,
    width: int,
    height: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """Pure-PyTorch twin of ``splat_fwd`` / ``splat_bwd``: blend projected Gaussians into pixels.

    Args:
        means2d [n, 2] (px), conics [n, 3] (A, B, C of the inverse 2D covariance), opacities [n],
        colors [n, 3], dists [n] (the depth value of each Gaussian), radii [n] float32 (px; a
        Gaussian's pixel box, 0: skipped), order [v] int64 (the Gaussians to draw, front to back),
        width, height.
    Returns:
        rgb [H * W, 3], depth [H * W], opacity [H * W] (no background), row-major pixels.
    """
    with torch.no_grad():
        gid, pixel = _pairs(means2d.detach(), radii, order, width, height)
    alpha = _alphas(means2d, conics, opacities, gid, pixel, width)
    with torch.no_grad():
        keep = (alpha >= ALPHA_MIN).nonzero().squeeze(1)
        pixel, sort = torch.sort(pixel[keep], stable=True)  # pixel-major, front to back within a pixel
        keep = keep[sort]
        # transmittance behind each pair within its pixel; a pixel ends before it falls below T_MIN
        log_t = torch.log1p(-alpha[keep].clamp_max(ALPHA_MAX).double())
        after = torch.cumsum(log_t, 0)
        first = torch.searchsorted(pixel, pixel)
        lit = (after - (after[first] - log_t[first])) >= math.log(T_MIN)
        pixel, keep = pixel[lit], keep[lit]
    gid, alpha = gid[keep], alpha[keep].clamp_max(ALPHA_MAX)
    sigma = -torch.log1p(-alpha)
    _, rgb, depth, opacity = composite(sigma, colors[gid], torch.ones_like(sigma), dists[gid], pixel, width * height)
    return rgb, depth, opacity


class _SplatNative(torch.autograd.Function):
    """``splat_fwd`` / ``splat_bwd`` of a native build as one differentiable op."""

    @staticmethod
    def forward(ctx, means2d, conics, opacities, colors, dists, radii, order, width, height, ext):
        outputs = ext.splat_fwd(means2d, conics, opacities, colors, dists, radii, order, width, height)
        ctx.save_for_backward(*outputs, means2d, conics, opacities, colors, dists, radii, order)
        ctx.size, ctx.ext = (width, height), ext
        return outputs

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_rgb, grad_depth, grad_opacity):
        rgb, depth, opacity, *inputs = ctx.saved_tensors
        grads = ctx.ext.splat_bwd(
            rgb,
            depth,
            opacity,
            grad_rgb.contiguous(),
            grad_depth.contiguous(),
            grad_opacity.contiguous(),
            *inputs,
            *ctx.size,
        )
        return (*grads, None, None, None, None, None)


def rasterize_pixels(
    means2d: Tensor,
    conics: Tensor,
    opacities: Tensor,
    colors: Tensor,
    dists: Tensor,
    radii: Tensor,
    order: Tensor,
    width: int,
    height: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`rasterize_pixels_torch` through the best available backend: float32 CPU tensors run
    the native kernel when it builds (:mod:`pvd.ops.backend`), anything else the twin."""
    args = (means2d, conics, opacities, colors, dists, radii)
    ext = None
    if all(t.dtype == torch.float32 and t.device.type == "cpu" for t in args):
        ext = native_module("cpu")
    if ext is None:
        return rasterize_pixels_torch(*args, order, width, height)
    return _SplatNative.apply(*(t.contiguous() for t in args), order.contiguous(), int(width), int(height), ext)


def rasterize_torch(g: Gaussians, cam: SplatCamera, bg: Tensor) -> SplatOutput:
    """Rasterise in PyTorch on any device (the oracle; see the module doc). ``bg`` [3] or [H, W, 3].
    The blending step runs native on the CPU where the kernel builds (:func:`rasterize_pixels`)."""
    w, h = cam.width, cam.height
    means2d, conics, z, dist, radii = _project(g, cam)
    if means2d.requires_grad:
        means2d.retain_grad()
    colors = sh_colors(g.sh, g.means, cam.center.to(g.means))
    with torch.no_grad():
        visible = (radii > 0).nonzero().squeeze(1)
        order = visible[torch.argsort(z[visible], stable=True)]
    rgb, depth, opacity = rasterize_pixels(means2d, conics, g.opacities, colors, dist, radii.float(), order, w, h)
    bg = bg.to(rgb).expand(h, w, 3).reshape(-1, 3)
    rgb = rgb + (1 - opacity)[:, None] * bg
    return SplatOutput(rgb.reshape(h, w, 3), opacity.reshape(h, w), depth.reshape(h, w), means2d, radii.ceil().long())


def rasterize_gsplat(g: Gaussians, cam: SplatCamera, bg: Tensor) -> SplatOutput:
    """The same image through gsplat's CUDA kernels (``pip install pvd[cuda]``); ``depth`` is
    ``sum w z`` with ``z`` the view-space depth."""
    try:
        from gsplat import rasterization
    except ImportError as exc:
        raise UserError(f"splat rendering on CUDA needs gsplat (pip install 'pvd[cuda]'): {exc}") from None
    viewmat = torch.eye(4, device=g.means.device)
    viewmat[:3, :3], viewmat[:3, 3] = cam.R, cam.t
    K = g.means.new_tensor([[cam.fx, 0, cam.cx], [0, cam.fy, cam.cy], [0, 0, 1]])
    colors, alphas, meta = rasterization(
        g.means,
        g.quats,
        g.scales,
        g.opacities,
        g.sh,
        viewmat[None],
        K[None],
        cam.width,
        cam.height,
        near_plane=NEAR,
        eps2d=DILATION,
        sh_degree=g.degree,
        backgrounds=bg.to(g.means).expand(3)[None] if bg.numel() == 3 else None,
        render_mode="RGB+ED",
        packed=False,
    )
    rgb, depth = colors[0, ..., :3], colors[0, ..., 3]
    opacity = alphas[0, ..., 0]
    if bg.numel() != 3:
        rgb = rgb + (1 - opacity)[..., None] * bg
    means2d = meta.get("means2d")
    if means2d is not None and means2d.requires_grad:
        means2d.retain_grad()
    radii = meta["radii"][0]
    radii = radii.max(-1).values if radii.dim() == 2 else radii
    means2d = means2d[0] if means2d is not None else None
    return SplatOutput(rgb, opacity, depth * opacity, means2d, radii.long(), depth_is_z=True)


def check_camera(cam: SplatCamera) -> None:
    """Raise ValueError unless ``cam`` is a valid pinhole camera."""
    if cam.R.shape != (3, 3) or cam.t.shape != (3,):
        raise ValueError(f"splat camera: R must be [3, 3] and t [3], got {list(cam.R.shape)} {list(cam.t.shape)}")
    if cam.width < 1 or cam.height < 1 or not (cam.fx > 0 and cam.fy > 0):
        raise ValueError(f"splat camera: need width, height >= 1 and fx, fy > 0, got {cam}")


def rasterize(g: Gaussians, cam: SplatCamera, bg: Tensor) -> SplatOutput:
    """Render ``g`` seen by ``cam`` over ``bg`` ([3] or [H, W, 3]): gsplat on CUDA, the twin elsewhere
    (``PVD_BACKEND=torch`` forces the twin everywhere)."""
    check_camera(cam)
    if g.means.device.type == "cuda" and os.environ.get("PVD_BACKEND", "auto") != "torch":
        return rasterize_gsplat(g, cam, bg)
    return rasterize_torch(g, cam, bg)
