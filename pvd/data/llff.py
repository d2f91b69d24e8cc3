"""The LLFF forward-facing format (``llff``): ``poses_bounds.npy`` + ``images_N/``.

``poses_bounds.npy`` is ``[n_views, 17]``: per view a 3x5 matrix (camera-to-world rotation and
translation in LLFF axes [down, right, back], then the column ``[height, width, focal]`` of the
full-resolution images) followed by the near and far scene depths.

Conversion into pvd's convention (the one NeRF uses for LLFF):

1. axes [down, right, back] -> [right, up, back] (OpenGL): columns ``(x, y, z) <- (y, -x, z)``;
2. scale translations and bounds by ``1 / (0.75 * min(near))`` (``bd_factor`` 0.75);
3. recentre: left-multiply every pose by the inverse of the average pose (mean centre, mean
   viewing axis, mean up), so the rig looks down -z from around the origin.

All views take part in steps 2-3, so every split shares one world. The test split (and the val
split) is views ``0, 8, 16, ...``; train is the rest.

Resolution: the benchmark reads ``images_4/`` (1008x756 for 4032x3024 captures). ``downscale = k``
asks for a total factor ``4k``: ``images_{4k}/`` when present, else the nearest finer folder
``images_d/`` (d dividing 4k, ``images/`` being d = 1) area-averaged by ``4k / d``. Intrinsics are
the full-resolution focal scaled to the size actually read; the principal point is the image centre.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pvd.data.images import IMAGE_SUFFIXES, image_size
from pvd.data.index import SplitIndex, check_downscale, make_cameras
from pvd.data.scene import DataError

BASE_FACTOR = 4
HOLDOUT_EVERY = 8
BD_FACTOR = 0.75


def index_llff(root: str | Path, split: str, downscale: int = 1) -> SplitIndex:
    """Index one split of an LLFF scene (cheap: image headers only)."""
    root = Path(root)
    check_downscale(downscale)
    pb_path = root / "poses_bounds.npy"
    poses, bounds, hwf = _read_poses_bounds(pb_path)
    folder, extra = _image_folder(root, BASE_FACTOR * downscale)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) != len(poses):
        raise DataError(
            f"{pb_path}: frame count mismatch: {len(poses)} views in poses_bounds.npy "
            f"but {len(files)} images in {folder}"
        )

    c2w, bounds = convert_poses(poses, bounds)
    n = len(poses)
    if split in ("test", "val"):
        chosen = list(range(0, n, HOLDOUT_EVERY))
    elif split == "train":
        chosen = [i for i in range(n) if i % HOLDOUT_EVERY]
    else:
        raise DataError(f"{root}: unknown split {split!r}; expected train, val or test")

    source_size = image_size(files[0])
    full_h, full_w, focal = (float(v) for v in hwf)
    sx, sy = source_size[0] / full_w, source_size[1] / full_h
    if abs(sx - sy) > 0.01 * max(sx, sy):
        raise DataError(
            f"{files[0]}: size {source_size[0]}x{source_size[1]} does not match the "
            f"aspect of the {full_w:.0f}x{full_h:.0f} images in {pb_path}"
        )
    cameras = make_cameras(
        torch.from_numpy(c2w[chosen]),
        focal * sx,
        focal * sy,
        source_size[0] / 2,
        source_size[1] / 2,
        source_size,
        extra,
    )
    meta = {
        "format": "llff",
        "downscale": downscale,
        "image_dir": str(folder),
        "holdout_every": HOLDOUT_EVERY,
        "view_indices": chosen,
        "bd_factor": BD_FACTOR,
    }
    return SplitIndex(
        split,
        cameras,
        tuple(str(files[i]) for i in chosen),
        source_size,
        extra,
        near=float(bounds.min()),
        far=float(bounds.max()),
        meta=meta,
    )


def _read_poses_bounds(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> poses [n, 3, 4] (LLFF axes), bounds [n, 2], hwf [3] of the full-resolution images."""
    if not path.is_file():
        raise DataError(f"{path}: file not found; an LLFF scene needs poses_bounds.npy")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc}); expected float [n_views, 17]") from exc
    if arr.ndim != 2 or arr.shape[1] != 17 or arr.shape[0] < 1 or arr.dtype.kind not in "fiu":
        raise DataError(
            f"{path}: array of shape {arr.shape} ({arr.dtype}); expected numbers of "
            "shape [n_views, 17] (3x5 pose+hwf, near, far)"
        )
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise DataError(f"{path}: contains non-finite values")
    mats = arr[:, :15].reshape(-1, 3, 5)
    bounds = arr[:, 15:]
    hwf = mats[0, :, 4]
    if (bounds <= 0).any() or (hwf <= 0).any():
        raise DataError(f"{path}: near/far bounds and the height/width/focal column must be positive")
    if not np.allclose(mats[:, :, 4], hwf):
        raise DataError(f"{path}: views give different height/width/focal; expected one camera")
    return mats[:, :, :4], bounds, hwf


def _image_folder(root: Path, factor: int) -> tuple[Path, int]:
    """-> (folder to read, extra area-downscale factor) for a total factor ``factor``."""
    for d in sorted((d for d in range(1, factor + 1) if factor % d == 0), reverse=True):
        folder = root / ("images" if d == 1 else f"images_{d}")
        if folder.is_dir():
            return folder, factor // d
    raise DataError(
        f"{root}: no image folder for a {factor}x reduction; expected images_{factor}/ "
        f"or images_d/ (or images/) with d dividing {factor}"
    )


def convert_poses(poses: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LLFF poses [n, 3, 4] + bounds [n, 2] -> OpenGL c2w [n, 4, 4] (scaled, recentred), bounds."""
    c2w, bounds, _ = _converted(poses, bounds)
    return c2w, bounds


def source_to_world(root: str | Path) -> np.ndarray:
    """[4, 4] map from the frame of ``root/poses_bounds.npy`` (COLMAP's world: LLFF's ``imgs2poses``
    only reorders the camera axes) to the scene's world (steps 2-3 of the module doc): ``inv(average
    pose) @ diag(s, s, s, 1)``. The scene's COLMAP points go through it to line up with its cameras."""
    poses, bounds, _ = _read_poses_bounds(Path(root) / "poses_bounds.npy")
    return _converted(poses, bounds)[2]


def _converted(poses: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(c2w [n, 4, 4], bounds [n, 2], source -> world [4, 4]) of :func:`convert_poses`."""
    gl = np.concatenate([poses[:, :, 1:2], -poses[:, :, 0:1], poses[:, :, 2:4]], axis=2)
    scale = 1.0 / (bounds.min() * BD_FACTOR)
    gl[:, :, 3] *= scale
    c2w = np.tile(np.eye(4), (len(gl), 1, 1))
    c2w[:, :3] = gl
    recentre = np.linalg.inv(average_pose(c2w))
    return recentre @ c2w, bounds * scale, recentre @ np.diag([scale, scale, scale, 1.0])


def average_pose(c2w: np.ndarray) -> np.ndarray:
    """[n, 4, 4] -> [4, 4]: mean centre, mean viewing axis (+z, backwards) and mean up."""
    centre = c2w[:, :3, 3].mean(axis=0)
    back = _unit(c2w[:, :3, 2].sum(axis=0))
    up = c2w[:, :3, 1].sum(axis=0)
    right = _unit(np.cross(up, back))
    avg = np.eye(4)
    avg[:3, 0], avg[:3, 1], avg[:3, 2], avg[:3, 3] = right, _unit(np.cross(back, right)), back, centre
    return avg


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)
