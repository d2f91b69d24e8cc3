"""Decoded, downscaled splits kept on disk, so that every job on a scene does not decode its images again.

Decoding a split costs far more than its pixels are worth once downscaled: the 300 PNGs of the
Synthetic-NeRF lego (800 x 800) take about 14 processor seconds to decode and average to 100 x 100,
in every teacher, distillation and evaluation job of a workflow. :func:`cached_read` keeps the
result of :func:`pvd.data.images.read_images` as one ``.npy`` file per (file list, content,
factor), in a per-user folder shared by every checkout:

    $PVD_IMAGE_CACHE (default ~/.cache/pvd/images) / <key>.npy

The key digests the bytes of every image file (BLAKE2b; a few hundred MB per second), the factor,
the expected source size and this module's and ``images.py``'s code, so an entry is only reused
where the same decoding would give the same array; it never depends on file paths or times.
Entries are written to a temporary name and renamed, so concurrent jobs and checkouts never see a
partial one; an entry that does not load, or has the wrong shape, is decoded again and replaced.
Only downscaled splits (``downscale > 1``) of at most :data:`MAX_BYTES` are kept: at full size
the entry would be 4x the decoded PNGs and decoding is the cheap part. ``PVD_IMAGE_CACHE=off``
turns the cache off; the folder can be deleted at any time.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pvd.records import WriteError, atomic_path

ENV = "PVD_IMAGE_CACHE"
FORMAT = b"pvd-images/1"
MAX_BYTES = 512 << 20
_CODE = (Path(__file__).parent / "images.py", Path(__file__))


def cache_dir() -> Path | None:
    """The cache folder, or None when ``$PVD_IMAGE_CACHE`` is ``off``."""
    value = os.environ.get(ENV, "")
    if value.lower() in ("off", "0", "none"):
        return None
    return Path(value).expanduser() if value else Path.home() / ".cache" / "pvd" / "images"


def cache_key(files: Sequence[str | Path], source_size: tuple[int, int], downscale: int) -> str | None:
    """The digest naming an entry (see the module doc); None when a file cannot be read (the
    decoder then reports it)."""
    digest = hashlib.blake2b(FORMAT, digest_size=20)
    digest.update(f"{source_size[0]}x{source_size[1]}/{downscale}/{len(files)}".encode())
    try:
        for code in _CODE:
            digest.update(code.read_bytes())
        for path in files:
            data = Path(path).read_bytes()
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
    except OSError:
        return None
    return digest.hexdigest()


def cached_read(
    files: Sequence[str | Path],
    source_size: tuple[int, int],
    downscale: int,
    read: Callable[[], Tensor],
) -> Tensor:
    """``read()`` (the split's [n, H, W, C] float32 images), through the cache when it applies.

    Args:
        files: the split's n image files, in view order.
        source_size: (width, height) of the files; downscale: the area-averaging factor.
        read: decodes the files (:func:`pvd.data.images.read_images` with these arguments).
    """
    folder = cache_dir()
    width, height = source_size
    shape = (len(files), height // max(downscale, 1), width // max(downscale, 1))
    if folder is None or downscale <= 1 or 4 * 4 * shape[0] * shape[1] * shape[2] > MAX_BYTES:
        return read()
    key = cache_key(files, source_size, downscale)
    if key is None:
        return read()
    entry = folder / f"{key}.npy"
    if entry.is_file():
        try:
            array = np.load(entry, allow_pickle=False)
            if array.dtype == np.float32 and array.ndim == 4 and array.shape[:3] == shape and array.shape[3] in (3, 4):
                return torch.from_numpy(array)
        except (OSError, ValueError, EOFError):
            pass  # damaged: decoded again and replaced below
    images = read()
    try:
        with atomic_path(entry) as tmp, open(tmp, "wb") as fh:
            np.save(fh, images.numpy(), allow_pickle=False)
    except (OSError, WriteError):
        pass  # a read-only or full cache only costs the decoding
    return images
