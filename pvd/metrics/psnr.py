"""Peak signal-to-noise ratio on images in [0, 1].

``PSNR = -10 log10(MSE)`` with a peak of 1. A benchmark reports the mean of per-image PSNRs (the
NeRF convention); :class:`PsnrSummary` also carries the PSNR of the mean MSE, which weights every
pixel of the split equally and is never above the per-image mean (Jensen).

Identical images have MSE 0 and PSNR ``inf``; no clamp is applied.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

ArrayLike = Tensor | np.ndarray


def as_image(x: ArrayLike, name: str) -> Tensor:
    """A [H, W] or [H, W, C] image as a float64 tensor (stays on its device)."""
    t = torch.as_tensor(x)
    if t.ndim not in (2, 3):
        raise ValueError(f"{name}: expected an image of shape [H, W] or [H, W, C], got {tuple(t.shape)}")
    return t.to(torch.float64)


def check_pair(pred: ArrayLike, gt: ArrayLike) -> tuple[Tensor, Tensor]:
    """Both images as float64 tensors of one shape on ``pred``'s device."""
    p, g = as_image(pred, "pred"), as_image(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred and gt differ in shape: {tuple(p.shape)} vs {tuple(g.shape)}")
    return p, g.to(p.device)


def mse(pred: ArrayLike, gt: ArrayLike) -> float:
    """Mean squared error over all pixels and channels of one image pair."""
    p, g = check_pair(pred, gt)
    return float(((p - g) ** 2).mean())


def psnr_from_mse(value: float) -> float:
    """PSNR in dB of a mean squared error on [0, 1] data (``inf`` for 0)."""
    if value < 0 or math.isnan(value):
        raise ValueError(f"mse must be a non-negative number, got {value}")
    return math.inf if value == 0 else -10.0 * math.log10(value)


def psnr(pred: ArrayLike, gt: ArrayLike) -> float:
    """PSNR in dB of one image pair with values in [0, 1] (shape [H, W] or [H, W, C])."""
    return psnr_from_mse(mse(pred, gt))


@dataclass(frozen=True)
class PsnrSummary:
    """PSNR over a set of images.

    Attributes:
        mean_psnr: mean of the per-image PSNRs (the reported figure).
        psnr_of_mean_mse: PSNR of the MSE averaged over images.
        per_image: per-image PSNRs in input order.
    """

    mean_psnr: float
    psnr_of_mean_mse: float
    per_image: tuple[float, ...]


def summarize_psnr(mses: Sequence[float]) -> PsnrSummary:
    """Summarise per-image MSEs (one per image, all images the same size)."""
    if len(mses) == 0:
        raise ValueError("summarize_psnr needs at least one image")
    per_image = tuple(psnr_from_mse(float(m)) for m in mses)
    return PsnrSummary(
        mean_psnr=float(np.mean(per_image)), psnr_of_mean_mse=psnr_from_mse(float(np.mean(mses))), per_image=per_image
    )
