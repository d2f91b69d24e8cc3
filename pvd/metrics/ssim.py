"""Structural similarity (SSIM) of two images, in two flavours.

``standard`` — as ``tf.image.ssim`` and the NeRF papers compute it: an 11-tap Gaussian window
(sigma 1.5, normalised), k1 = 0.01, k2 = 0.03, data range 1, population (co)variances, **valid**
filtering (only window positions fully inside the image), mean over positions and channels.

``pvd-compat`` — the PVD reference's variant, for comparison with its published numbers: the
same window and constants but **'same' filtering with zero padding** (border windows see black),
the data range taken as ``max(pred.max(), gt.max())``, variances clamped at 0 and the covariance
clamped to ``|cov| <= sqrt(var_pred * var_gt)``; mean over all pixels and channels. It reads a
little lower than ``standard`` on images with bright borders (e.g. white backgrounds).

Images are [H, W] or [H, W, C] with values in [0, 1]; arithmetic is float64 on the input's device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from pvd.metrics.psnr import ArrayLike, check_pair

SSIM_MODES = ("standard", "pvd-compat")


@dataclass(frozen=True)
class SsimConfig:
    """Window and stabilising constants (the defaults are the published ones)."""

    filter_size: int = 11
    sigma: float = 1.5
    k1: float = 0.01
    k2: float = 0.03


def gaussian_window(size: int, sigma: float, device=None) -> Tensor:
    """[size] float64 Gaussian taps centred on the middle tap, summing to 1."""
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def _blur(x: Tensor, taps: Tensor, pad: int) -> Tensor:
    """Separable blur of [C, 1, H, W] with zero padding ``pad`` on each side of both axes."""
    k = taps.numel()
    x = F.conv2d(x, taps.view(1, 1, k, 1), padding=(pad, 0))
    return F.conv2d(x, taps.view(1, 1, 1, k), padding=(0, pad))


def ssim_map(
    pred: ArrayLike,
    gt: ArrayLike,
    mode: str = "standard",
    data_range: float | None = None,
    config: SsimConfig = SsimConfig(),
) -> Tensor:
    """Per-position SSIM.

    Args:
        pred, gt: [H, W] or [H, W, C] images.
        mode: ``standard`` or ``pvd-compat`` (see module doc).
        data_range: dynamic range L in ``c = (k L)^2``; default 1 (standard) or
            ``max(pred.max(), gt.max())`` (pvd-compat).
        config: window and constants.
    Returns:
        [C, H - size + 1, W - size + 1] (standard) or [C, H, W] (pvd-compat) float64.
    """
    if mode not in SSIM_MODES:
        raise ValueError(f"ssim mode {mode!r} is not one of {SSIM_MODES}")
    p, g = check_pair(pred, gt)
    if p.ndim == 2:
        p, g = p[..., None], g[..., None]
    h, w = p.shape[:2]
    size = config.filter_size
    if mode == "standard" and min(h, w) < size:
        raise ValueError(f"standard SSIM needs images of at least {size}x{size} pixels, got {w}x{h}")
    if data_range is None:
        data_range = 1.0 if mode == "standard" else float(torch.maximum(p.max(), g.max()))
    pad = 0 if mode == "standard" else size // 2
    taps = gaussian_window(size, config.sigma, p.device)
    x = p.permute(2, 0, 1)[:, None]
    y = g.permute(2, 0, 1)[:, None]
    mu_x, mu_y = _blur(x, taps, pad), _blur(y, taps, pad)
    var_x = _blur(x * x, taps, pad) - mu_x**2
    var_y = _blur(y * y, taps, pad) - mu_y**2
    cov = _blur(x * y, taps, pad) - mu_x * mu_y
    if mode == "pvd-compat":
        var_x, var_y = var_x.clamp_min(0), var_y.clamp_min(0)
        cov = torch.sign(cov) * torch.minimum(torch.sqrt(var_x * var_y), cov.abs())
    c1 = (config.k1 * data_range) ** 2
    c2 = (config.k2 * data_range) ** 2
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return (num / den)[:, 0]


def ssim(
    pred: ArrayLike,
    gt: ArrayLike,
    mode: str = "standard",
    data_range: float | None = None,
    config: SsimConfig = SsimConfig(),
) -> float:
    """Mean SSIM of one image pair over positions and channels (see :func:`ssim_map`)."""
    return float(ssim_map(pred, gt, mode, data_range, config).mean())
