"""Image-quality metrics: pure per-image functions with an explicit data range.

This package imports nothing else from ``pvd``; images are [H, W, C] arrays or tensors in [0, 1].
"""

from pvd.metrics.lpips import (
    BACKBONE_FILES,
    BACKBONE_URLS,
    LPIPS_NETS,
    MIN_SIDE,
    Lpips,
    LpipsSet,
    LpipsUnavailable,
    backbone_path,
    checkpoints_dir,
    load_lpips,
)
from pvd.metrics.psnr import PsnrSummary, mse, psnr, psnr_from_mse, summarize_psnr
from pvd.metrics.ssim import SSIM_MODES, SsimConfig, ssim, ssim_map

__all__ = [
    "BACKBONE_FILES",
    "BACKBONE_URLS",
    "LPIPS_NETS",
    "MIN_SIDE",
    "Lpips",
    "LpipsSet",
    "LpipsUnavailable",
    "backbone_path",
    "checkpoints_dir",
    "load_lpips",
    "PsnrSummary",
    "mse",
    "psnr",
    "psnr_from_mse",
    "summarize_psnr",
    "SSIM_MODES",
    "SsimConfig",
    "ssim",
    "ssim_map",
]
