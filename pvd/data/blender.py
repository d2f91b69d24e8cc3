"""The Blender / NeRF-synthetic format (``synthetic``), including instant-ngp style captures.

Layouts read:

* ``transforms_{train,val,test}.json`` — one file per split (Synthetic-NeRF).
* ``transforms.json`` — one file holding every frame (instant-ngp / torch-ngp / nerfstudio custom
  captures). When the split file is absent, frames ``0, 8, 16, ...`` (json order) are held out as
  the test split (and the val split), the rest are train.

Poses (``transform_matrix``, 4x4 or 3x4 camera-to-world) are already in OpenGL axes. Intrinsics
come from ``fl_x`` / ``fl_y`` or ``camera_angle_x`` / ``camera_angle_y`` and optional ``cx`` /
``cy`` / ``w`` / ``h``; each key may be global or per frame (a per-frame value wins). The principal
point defaults to the image centre; the image size defaults to the first image's header.
Lens distortion (``k1 k2 k3 k4 p1 p2``) belongs to captures: non-zero coefficients are an error
that points to ``--data_type capture`` (:mod:`pvd.data.capture`), which models them.
``file_path`` may omit the extension (``.png`` is then tried first).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from pvd.data.images import IMAGE_SUFFIXES, image_size
from pvd.data.index import SplitIndex, check_downscale, make_cameras
from pvd.data.scene import DataError

HOLDOUT_EVERY = 8
DISTORTION_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")
INTRINSIC_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h", "camera_angle_x", "camera_angle_y", *DISTORTION_KEYS)
META_KEYS = ("aabb_scale", "scale", "offset", "camera_angle_x", "camera_model")


def index_blender(root: str | Path, split: str, downscale: int = 1) -> SplitIndex:
    """Index one split of a Blender-format scene (cheap: image headers only)."""
    root = Path(root)
    check_downscale(downscale)
    split_file = root / f"transforms_{split}.json"
    single_file = root / "transforms.json"
    if split_file.is_file():
        doc = _read_json(split_file)
        frames = _frames(doc, split_file)
        chosen = list(range(len(frames)))
        json_path, holdout = split_file, None
    elif single_file.is_file():
        doc = _read_json(single_file)
        frames = _frames(doc, single_file)
        chosen = _holdout(len(frames), split, single_file)
        json_path, holdout = single_file, HOLDOUT_EVERY
    else:
        raise DataError(
            f"{split_file}: split file not found (nor a single {single_file.name} "
            f"to hold out from); the {split!r} split does not exist in {root}"
        )

    if not chosen:
        raise DataError(
            f"{json_path}: {len(frames)} frame(s) leave no {split!r} views (every "
            f"{HOLDOUT_EVERY}th frame from the first is held out for test/val); add frames or "
            f"give transforms_{split}.json"
        )
    files, c2w, intrinsics = [], [], []
    for i in chosen:
        frame = frames[i]
        where = f"{json_path} frame {i}"
        files.append(str(_image_file(root, frame, where)))
        c2w.append(_pose(frame, where))
        intrinsics.append(
            {**{k: doc[k] for k in INTRINSIC_KEYS if k in doc}, **{k: frame[k] for k in INTRINSIC_KEYS if k in frame}}
        )

    header = image_size(files[0])
    for p, i in zip(intrinsics, chosen):
        bent = {k: p[k] for k in DISTORTION_KEYS if p.get(k, 0) != 0}
        if bent:
            raise DataError(
                f"{json_path} frame {i}: lens distortion {bent}: read this capture with "
                "data_type capture, which models it (the synthetic format is pinhole only)"
            )
    rows = [_intrinsics(p, header, files[0], f"{json_path} frame {i}") for p, i in zip(intrinsics, chosen)]
    sizes = {(r[4], r[5]) for r in rows}
    if len(sizes) > 1:
        raise DataError(f"{json_path}: frames give different image sizes {sorted(sizes)}; expected one size per split")
    fx, fy, cx, cy = (torch.tensor([r[j] for r in rows], dtype=torch.float64) for j in range(4))
    source_size = rows[0][4], rows[0][5]
    cameras = make_cameras(torch.from_numpy(np.stack(c2w)), fx, fy, cx, cy, source_size, downscale)
    meta = {
        "format": "blender",
        "downscale": downscale,
        "json": str(json_path),
        "frame_indices": chosen,
        **{k: doc[k] for k in META_KEYS if k in doc},
    }
    if holdout:
        meta["holdout_every"] = holdout
    return SplitIndex(split, cameras, tuple(files), source_size, downscale, meta=meta)


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not readable as JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise DataError(f"{path}: expected a JSON object with a 'frames' list")
    return doc


def _frames(doc: dict, path: Path) -> list[dict]:
    frames = doc.get("frames")
    if not isinstance(frames, list) or not frames:
        raise DataError(f"{path}: expected a non-empty 'frames' list")
    for i, frame in enumerate(frames):
        if not isinstance(frame, dict) or "file_path" not in frame or "transform_matrix" not in frame:
            raise DataError(f"{path} frame {i}: expected an object with 'file_path' and 'transform_matrix'")
    return frames


def _holdout(n: int, split: str, path: Path) -> list[int]:
    if split in ("test", "val"):
        return list(range(0, n, HOLDOUT_EVERY))
    if split == "train":
        return [i for i in range(n) if i % HOLDOUT_EVERY]
    raise DataError(f"{path}: unknown split {split!r}; expected train, val or test")


def _image_file(root: Path, frame: dict, where: str) -> Path:
    rel = frame["file_path"]
    if not isinstance(rel, str) or not rel:
        raise DataError(f"{where}: 'file_path' must be a non-empty string, got {rel!r}")
    path = root / rel
    if path.is_file():
        return path
    tried = [path]
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        for suffix in IMAGE_SUFFIXES:
            candidate = path.with_name(path.name + suffix)
            if candidate.is_file():
                return candidate
            tried.append(candidate)
    raise DataError(f"{where}: image {rel!r} not found (looked for {', '.join(str(t) for t in tried)})")


def _pose(frame: dict, where: str) -> np.ndarray:
    try:
        m = np.asarray(frame["transform_matrix"], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: 'transform_matrix' is not a numeric matrix") from exc
    if m.shape not in ((4, 4), (3, 4)) or not np.isfinite(m).all():
        raise DataError(f"{where}: 'transform_matrix' must be a finite 4x4 or 3x4 matrix, got shape {m.shape}")
    c2w = np.eye(4)
    c2w[:3] = m[:3]
    return c2w


def _intrinsics(p: dict, header: tuple[int, int], first_file: str, where: str) -> tuple:
    """(fx, fy, cx, cy, width, height) from merged global + per-frame keys."""
    for key, value in p.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise DataError(f"{where}: {key!r} must be a finite number, got {value!r}")
    width, height = int(p.get("w", header[0])), int(p.get("h", header[1]))
    if (width, height) != header:
        raise DataError(f"{where}: w/h say {width}x{height} but {first_file} is {header[0]}x{header[1]}")
    for key in ("camera_angle_x", "camera_angle_y"):
        if key in p and not 0 < p[key] < math.pi:
            raise DataError(f"{where}: {key!r} must be a field of view in radians between 0 and pi, got {p[key]!r}")
    if "fl_x" in p:
        fx = float(p["fl_x"])
    elif "camera_angle_x" in p:
        fx = 0.5 * width / math.tan(0.5 * p["camera_angle_x"])
    else:
        raise DataError(f"{where}: no focal length; expected 'fl_x' or 'camera_angle_x'")
    if "fl_y" in p:
        fy = float(p["fl_y"])
    elif "camera_angle_y" in p:
        fy = 0.5 * height / math.tan(0.5 * p["camera_angle_y"])
    else:
        fy = fx
    if fx <= 0 or fy <= 0:
        raise DataError(f"{where}: focal lengths must be positive, got fx={fx}, fy={fy}")
    return fx, fy, float(p.get("cx", width / 2)), float(p.get("cy", height / 2)), width, height
