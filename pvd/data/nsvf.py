"""The NSVF layout (``tank``), used by NSVF's Tanks&Temples release.

Files of a scene folder:

* ``intrinsics.txt`` — either a matrix (3x3, 4x4, or 16 numbers on one line: ``fx`` at [0,0],
  ``fy`` at [1,1], ``cx`` at [0,2], ``cy`` at [1,2]) or the legacy 5-line DeepVoxels form
  ``f cx cy 0`` / ``x y z`` / ``near`` / ``scale`` / ``height width`` (only line 1 sets the camera).
* ``pose/<view>.txt`` — camera-to-world, 4x4 or 3x4, **OpenCV axes** (+x right, +y down, looking
  along +z); converted to OpenGL by negating the y and z camera axes (rotation columns 1 and 2).
* ``rgb/<view>.png`` — one image per pose, same stem.
* ``bbox.txt`` — ``xmin ymin zmin xmax ymax zmax [voxel_size]`` in world units.

Views are split by file prefix: ``0_`` train, ``1_`` val, ``2_`` test; a scene without ``2_``
views (Tanks&Temples) uses ``1_`` as its test split. The image size comes from the images.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from pvd.data.images import IMAGE_SUFFIXES, image_size, link_stub_target
from pvd.data.index import SplitIndex, check_downscale, make_cameras
from pvd.data.scene import DataError

SPLIT_PREFIX = {"train": "0_", "val": "1_", "test": "2_"}
OPENCV_TO_OPENGL = np.diag([1.0, -1.0, -1.0, 1.0])


def index_nsvf(root: str | Path, split: str, downscale: int = 1) -> SplitIndex:
    """Index one split of an NSVF-layout scene (cheap: image headers only)."""
    root = Path(root)
    check_downscale(downscale)
    if split not in SPLIT_PREFIX:
        raise DataError(f"{root}: unknown split {split!r}; expected train, val or test")
    rgb_dir, pose_dir = root / "rgb", root / "pose"
    for folder in (rgb_dir, pose_dir):
        if not folder.is_dir():
            raise DataError(f"{folder}: folder not found; an NSVF scene needs rgb/ and pose/")
    images = {p.stem: p for p in rgb_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    poses = {p.stem: p for p in pose_dir.iterdir() if p.suffix == ".txt"}

    prefix = SPLIT_PREFIX[split]
    if split == "test" and not any(s.startswith("2_") for s in images.keys() | poses.keys()):
        prefix = "1_"
    stems = sorted(s for s in images.keys() | poses.keys() if s.startswith(prefix))
    if not stems:
        raise DataError(f"{rgb_dir}: no {prefix}* views, so the {split!r} split does not exist in {root}")
    for stem in stems:
        if stem not in images:
            raise DataError(f"{poses[stem]}: pose has no image; expected {rgb_dir / stem}.png")
        if stem not in poses:
            raise DataError(f"{images[stem]}: image has no pose; expected {pose_dir / stem}.txt")

    c2w = np.stack([read_pose(poses[s]) @ OPENCV_TO_OPENGL for s in stems])
    fx, fy, cx, cy = read_intrinsics(root / "intrinsics.txt")
    bbox, voxel_size = read_bbox(root / "bbox.txt")
    files = tuple(str(images[s]) for s in stems)
    source_size = image_size(files[0])
    cameras = make_cameras(torch.from_numpy(c2w), fx, fy, cx, cy, source_size, downscale)
    meta = {"format": "nsvf", "downscale": downscale, "prefix": prefix, "voxel_size": voxel_size}
    return SplitIndex(split, cameras, files, source_size, downscale, bbox=bbox, meta=meta)


def _numbers(path: Path, what: str) -> list[list[float]]:
    """Non-empty lines of ``path`` as lists of floats."""
    if not path.is_file():
        raise DataError(f"{path}: file not found; expected {what}")
    try:
        return [[float(x) for x in line.split()] for line in path.read_text().splitlines() if line.strip()]
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: non-numeric content ({exc}); expected {what}") from exc


def read_pose(path: Path) -> np.ndarray:
    """A 4x4 or 3x4 camera-to-world matrix (as stored, OpenCV axes) -> [4, 4]."""
    rows = _numbers(path, "a 4x4 or 3x4 camera-to-world matrix")
    if len(rows) not in (3, 4) or any(len(r) != 4 for r in rows):
        raise DataError(
            f"{path}: {len(rows)} rows of lengths {[len(r) for r in rows]}; expected "
            "a 4x4 or 3x4 camera-to-world matrix"
        )
    m = np.eye(4)
    m[:3] = np.asarray(rows[:3])
    if not np.isfinite(m).all():
        raise DataError(f"{path}: contains non-finite values")
    return m


def read_intrinsics(path: Path) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) from either intrinsics form (see the module notes)."""
    expected = "a 3x3 or 4x4 matrix, 16 numbers on one line, or the 5-line 'f cx cy 0' form"
    rows = _numbers(path, expected)
    lengths = [len(r) for r in rows]
    if lengths in ([4, 4, 4, 4], [3, 3, 3], [4, 4, 4]) or lengths == [16]:
        k = np.asarray(rows).reshape(4, 4) if lengths == [16] else np.asarray(rows)
        fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    elif lengths == [4, 3, 1, 1, 2]:
        fx, cx, cy = rows[0][:3]
        fy = fx
    else:
        raise DataError(f"{path}: lines with {lengths} numbers; expected {expected}")
    if not (fx > 0 and fy > 0 and np.isfinite([cx, cy]).all()):
        raise DataError(f"{path}: focal lengths must be positive and finite, got fx={fx}, fy={fy}")
    return float(fx), float(fy), float(cx), float(cy)


def read_bbox(path: Path) -> tuple[tuple[tuple[float, ...], tuple[float, ...]], float | None]:
    """-> ((xmin, ymin, zmin), (xmax, ymax, zmax)), voxel size or None."""
    expected = "one line 'xmin ymin zmin xmax ymax zmax [voxel_size]'"
    rows = _numbers(path, expected)
    if len(rows) != 1 or len(rows[0]) not in (6, 7):
        raise DataError(f"{path}: expected {expected}")
    lo, hi = tuple(rows[0][:3]), tuple(rows[0][3:6])
    if not all(a < b for a, b in zip(lo, hi)):
        raise DataError(f"{path}: box minimum {lo} is not below maximum {hi}")
    return (lo, hi), (rows[0][6] if len(rows[0]) == 7 else None)


def restore_links(scene: str | Path, out_root: str | Path) -> Path:
    """``scene`` itself when its ``rgb/*.png`` are images; else a copy under ``out_root`` made of real
    symbolic links (``pose/``, ``intrinsics.txt``, ``bbox.txt`` and every ``rgb`` link stub's target,
    :func:`~pvd.data.images.link_stub_target`), so a scene shipped with flattened links can be read in
    place without modifying it."""
    scene, root = Path(scene), Path(out_root) / Path(scene).name
    rgb = sorted((scene / "rgb").iterdir())
    if not rgb or link_stub_target(rgb[0]) is None:
        return scene
    if not (root / "rgb").exists():
        (root / "rgb").mkdir(parents=True)
        for name in ("pose", "intrinsics.txt", "bbox.txt"):
            os.symlink((scene / name).resolve(), root / name)
        for png in rgb:
            target = link_stub_target(png)
            if target is None:
                raise DataError(f"{png}: neither an image nor a link stub naming one")
            os.symlink(target, root / "rgb" / png.name)
    return root
