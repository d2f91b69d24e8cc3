"""Reading dataset images into float tensors, with clear errors and exact area downscaling.

Conventions:

* Images are returned as float32 in [0, 1], shape ``[height, width, C]`` with C = 3 (RGB) or 4
  (RGBA, straight alpha as stored in PNG). Grey images become RGB, grey+alpha becomes RGBA.
* Downscaling by an integer factor ``k`` averages each ``k x k`` block of pixels (area averaging).
  Output pixel ``(u, v)`` covers source pixels ``[k*u, k*u + k)``, so intrinsics scale by exactly
  ``1 / k``; the last ``width mod k`` columns and ``height mod k`` rows are dropped.
* With alpha, colours are averaged **premultiplied** and divided by the averaged alpha, so that
  compositing the downscaled image over any background equals downscaling the full-size composite.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from pvd.data.scene import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image from its header, without decoding the pixels."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    try:
        props = iio.improps(path, plugin="pillow")
    except Exception as exc:  # imageio/Pillow raise many types for broken files
        raise _unreadable(path, exc) from exc
    shape = props.shape
    if len(shape) < 2:
        raise DataError(f"{path}: expected a 2-D image, header gives shape {shape}")
    return int(shape[1]), int(shape[0])


def read_image(path: str | Path) -> np.ndarray:
    """Decode one image to float32 ``[height, width, 3 or 4]`` in [0, 1]."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    try:
        raw = iio.imread(path, plugin="pillow")
    except Exception as exc:  # truncated / corrupt / not an image
        raise _unreadable(path, exc) from exc
    if raw.dtype not in (np.uint8, np.uint16):
        raise DataError(f"{path}: unsupported pixel type {raw.dtype}; expected 8- or 16-bit")
    img = raw.astype(np.float32)
    img *= np.float32(1.0 / np.iinfo(raw.dtype).max)
    if img.ndim == 2:
        img = img[..., None]
    channels = img.shape[-1]
    if channels == 1:
        img = np.repeat(img, 3, axis=-1)
    elif channels == 2:
        img = np.concatenate([np.repeat(img[..., :1], 3, axis=-1), img[..., 1:]], axis=-1)
    elif channels not in (3, 4):
        raise DataError(f"{path}: {channels} channels; expected grey, RGB or RGBA")
    return img


def area_downscale(img: np.ndarray, k: int) -> np.ndarray:
    """Average ``k x k`` blocks of ``[H, W, C]`` -> ``[H // k, W // k, C]`` (see module notes)."""
    if k == 1:
        return img
    h, w, c = img.shape
    ho, wo = h // k, w // k
    if ho == 0 or wo == 0:
        raise DataError(f"cannot downscale a {w}x{h} image by {k}")
    img = img[: ho * k, : wo * k]
    if c == 4:  # premultiplied colour, alpha, and the straight colour for fully clear blocks
        img = np.concatenate([img[..., :3] * img[..., 3:], img], axis=-1)
    sums = img.reshape(ho * k, wo, k, -1).sum(axis=2).reshape(ho, k, wo, -1).sum(axis=1)
    mean = sums * np.float32(1.0 / (k * k))
    if c < 4:
        return mean
    alpha = mean[..., 6:7]
    covered = alpha > 0
    rgb = np.where(covered, mean[..., :3] / np.where(covered, alpha, 1.0), mean[..., 3:6])
    return np.concatenate([np.clip(rgb, 0.0, 1.0), alpha], axis=-1)


def read_images(
    files: Sequence[str | Path],
    source_size: tuple[int, int],
    downscale: int = 1,
    workers: int | None = None,
    progress: bool | None = None,
) -> Tensor:
    """Read a list of same-sized images into one tensor.

    Args:
        files: n image paths.
        source_size: (width, height) every file must have on disk.
        downscale: integer area-averaging factor.
        workers: decoding threads (default: up to 8, bounded by the CPU count).
        progress: show a tqdm bar (None: only on a terminal).
    Returns:
        [n, source_height // downscale, source_width // downscale, C] float32 in [0, 1].
    Raises:
        DataError naming the first file that is missing, unreadable, of another size or with
        another channel count than the first.
    """
    if not files:
        raise DataError("no image files to read")
    first = area_downscale(_checked(files[0], source_size), downscale)
    out = torch.empty((len(files), *first.shape), dtype=torch.float32)
    out[0] = torch.from_numpy(first)

    def load(i: int) -> None:
        img = area_downscale(_checked(files[i], source_size), downscale)
        if img.shape[-1] != first.shape[-1]:
            raise DataError(
                f"{files[i]}: {img.shape[-1]} channels, but {files[0]} has "
                f"{first.shape[-1]}; all views of a split must agree"
            )
        out[i] = torch.from_numpy(img)

    n_workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        jobs = pool.map(load, range(1, len(files)))
        for _ in tqdm(
            jobs,
            total=len(files) - 1,
            desc="reading images",
            unit="img",
            disable=None if progress is None else not progress,
            leave=False,
        ):
            pass
    return out


def _checked(path: str | Path, source_size: tuple[int, int]) -> np.ndarray:
    img = read_image(path)
    width, height = source_size
    if img.shape[1] != width or img.shape[0] != height:
        raise DataError(
            f"{path}: image is {img.shape[1]}x{img.shape[0]}, expected {width}x{height} "
            "like the other views of the split"
        )
    return img


def link_stub_target(path: str | Path) -> Path | None:
    """The file a *link stub* names -- a symbolic link that a copy flattened into a small text file
    holding the link's relative target (e.g. git with core.symlinks=false) -- else None."""
    path = Path(path)
    if path.is_symlink() or path.stat().st_size >= 1024:
        return None
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    target = (path.parent / text).resolve() if text and "\n" not in text else None
    return target if target is not None and target.is_file() else None


def _unreadable(path: Path, exc: Exception) -> DataError:
    """The error for an image that does not decode; names a flattened symbolic link as such."""
    target = link_stub_target(path)
    if target is not None:
        return DataError(
            f"{path}: a text file naming {path.read_text().strip()!r}, i.e. a symbolic link stored as "
            "text (e.g. by git with core.symlinks=false); expected the image "
            "itself: restore the link or copy the target"
        )
    reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return DataError(f"{path}: unreadable image ({reason}); expected a PNG or JPEG file")
