"""Saved evaluation renders: ``NNN_<name>.png`` (render), ``NNN_<name>_gt.png`` (ground truth over
white) and ``NNN_<name>_error.png`` (mean absolute error, ``inferno`` colours, 0 to ``ERROR_MAP_MAX``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pvd.records import atomic_path

ERROR_MAP_MAX = 0.25


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[H, W, 3] float in [0, 1] -> uint8 array."""
    return (img.detach().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)


def error_map(pred: torch.Tensor, gt: torch.Tensor) -> np.ndarray:
    """[H, W, 3] uint8 colour map of the per-pixel mean absolute error (0 .. ERROR_MAP_MAX)."""
    from matplotlib import colormaps

    err = ((pred - gt).abs().mean(-1) / ERROR_MAP_MAX).clamp(0, 1).cpu().numpy()
    return (colormaps["inferno"](err)[..., :3] * 255 + 0.5).astype(np.uint8)


def write_png(path: Path, pixels: np.ndarray) -> None:
    """Atomically write an [H, W, 3] uint8 PNG."""
    import imageio.v3 as iio

    with atomic_path(path) as tmp:
        iio.imwrite(tmp, pixels, extension=".png")


class RenderSaver:
    """``on_image`` callback of :func:`pvd.evaluate.evaluate.evaluate_model` writing render / gt / error PNGs."""

    def __init__(self, folder: Path, files: tuple[str, ...]):
        self.folder = folder
        self.files = files

    def __call__(self, view: int, pred: torch.Tensor, gt: torch.Tensor) -> None:
        stem = f"{view:03d}_{Path(self.files[view]).stem}"
        write_png(self.folder / f"{stem}.png", to_uint8(pred))
        write_png(self.folder / f"{stem}_gt.png", to_uint8(gt))
        write_png(self.folder / f"{stem}_error.png", error_map(pred, gt))
