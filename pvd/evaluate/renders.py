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
    """``on_image`` callback of :func:`pvd.evaluate.evaluate.evaluate_model` writing render / gt / error PNGs.

    With ``views``, only those view indices are written. ``saved`` lists what was written:
    ``{"view", "file", "render", "gt", "error"}`` with paths relative to ``folder``'s parent.
    """

    def __init__(self, folder: Path, files: tuple[str, ...], views: set[int] | None = None):
        self.folder = folder
        self.files = files
        self.views = views
        self.saved: list[dict] = []

    def __call__(self, view: int, pred: torch.Tensor, gt: torch.Tensor) -> None:
        if self.views is not None and view not in self.views:
            return
        stem = f"{view:03d}_{Path(self.files[view]).stem}"
        names = {"render": f"{stem}.png", "gt": f"{stem}_gt.png", "error": f"{stem}_error.png"}
        write_png(self.folder / names["render"], to_uint8(pred))
        write_png(self.folder / names["gt"], to_uint8(gt))
        write_png(self.folder / names["error"], error_map(pred, gt))
        self.saved.append(
            {"view": view, "file": self.files[view], **{k: f"{self.folder.name}/{v}" for k, v in names.items()}}
        )
