"""Point clouds that datasets ship (COLMAP sparse models, nerfstudio's ``sparse_pc.ply``), in the
scene's world frame: what ``gs`` teachers start from (:mod:`pvd.train.splat_init`).

Files read (:func:`read_points`, by name):

* ``points3D.bin``, COLMAP's binary sparse model, little-endian: a ``uint64`` point count, then per
  point a 51-byte head -- ``uint64`` id, three ``float64`` coordinates x y z, three ``uint8``
  colours r g b, a ``float64`` reprojection error, a ``uint64`` track length ``t`` -- followed by
  ``t`` pairs of ``int32`` (image id, keypoint index), which are skipped;
* ``points3D.txt``, the same as text: ``#`` comment lines, then one point a line, ``ID X Y Z R G B
  ERROR`` and the track pairs;
* ``*.ply`` (nerfstudio writes ``sparse_pc.ply``): a ``vertex`` element with ``x y z`` and
  optionally ``red green blue`` (``uchar`` 0-255, or floats in [0, 1]; grey when absent).

Where a scene's own cloud is found (:func:`scene_points_file`) and which frame its points are in
(:func:`source_to_world`): ``llff``: ``SCENE/sparse/0/points3D.{bin,txt}``, in COLMAP's world, the
frame of ``poses_bounds.npy``, so they take the poses' scaling and recentring
(:func:`pvd.data.llff.source_to_world`); ``capture``: ``transforms.json``'s ``ply_file_path``
(nerfstudio writes the cloud in the json's frame: as is), else ``sparse/0`` or ``colmap/sparse/0``
when the json has nerfstudio's ``applied_transform`` (COLMAP's world -> the json's: applied);
``synthetic``: the ``ply_file_path`` of ``transforms_train.json`` (or of a single
``transforms.json``; as is). A file given by hand takes the same map as the scene's own file of
that kind. The scene's normalisation then maps world -> box.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pvd.data.blender import _read_json
from pvd.data.scene import DataError

COLMAP_NAMES = ("points3D.bin", "points3D.txt")
COLMAP_DIRS = ("sparse/0", "colmap/sparse/0")
POINT_HEAD = struct.Struct("<Q3d3BdQ")  # id, xyz, rgb, error, track length: 51 bytes
TRACK_ENTRY = 8  # int32 image id + int32 keypoint index


@dataclass(frozen=True)
class PointCloud:
    """Points with colours.

    Attributes:
        positions: [n, 3] float32 (the frame depends on the producer: see the module doc).
        colors: [n, 3] float32 in [0, 1].
        source: the file they came from.
    """

    positions: Tensor
    colors: Tensor
    source: str

    def __len__(self) -> int:
        return self.positions.shape[0]

    def select(self, keep: Tensor) -> PointCloud:
        """The points where ``keep`` ([n] bool or indices) says."""
        return PointCloud(self.positions[keep], self.colors[keep], self.source)


def read_points(path: str | Path) -> PointCloud:
    """Read a ``points3D.bin``, ``points3D.txt`` (COLMAP) or ``.ply`` point cloud (module doc).

    Raises:
        DataError naming the file and what was wrong (missing, truncated, not numbers, no points).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: point cloud file not found")
    suffix = path.suffix.lower()
    if suffix == ".bin":
        xyz, rgb = _read_colmap_bin(path)
    elif suffix == ".txt":
        xyz, rgb = _read_colmap_txt(path)
    elif suffix == ".ply":
        xyz, rgb = _read_ply(path)
    else:
        raise DataError(f"{path}: unknown point cloud format; expected points3D.bin, points3D.txt or a .ply")
    if len(xyz) == 0:
        raise DataError(f"{path}: the point cloud has no points")
    if not np.isfinite(xyz).all():
        raise DataError(f"{path}: point coordinates must be finite numbers")
    return PointCloud(torch.from_numpy(xyz.astype(np.float32)), torch.from_numpy(rgb.astype(np.float32)), str(path))


def _read_colmap_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = path.read_bytes()
    if len(data) < 8:
        raise DataError(f"{path}: truncated COLMAP points3D.bin: no point count (expected a uint64 first)")
    (count,) = struct.unpack_from("<Q", data, 0)
    if count > (len(data) - 8) // POINT_HEAD.size:
        raise DataError(
            f"{path}: truncated COLMAP points3D.bin: it says {count} points but holds {len(data)} bytes "
            f"(each point takes at least {POINT_HEAD.size})"
        )
    xyz, rgb = np.empty((count, 3)), np.empty((count, 3))
    at = 8
    for i in range(count):
        if at + POINT_HEAD.size > len(data):
            raise DataError(f"{path}: truncated COLMAP points3D.bin: point {i} of {count} is cut off")
        _, x, y, z, r, g, b, _, track = POINT_HEAD.unpack_from(data, at)
        xyz[i], rgb[i] = (x, y, z), (r, g, b)
        at += POINT_HEAD.size + TRACK_ENTRY * track
        if at > len(data):
            raise DataError(f"{path}: truncated COLMAP points3D.bin: the track of point {i} of {count} is cut off")
    if at != len(data):
        raise DataError(f"{path}: {len(data) - at} bytes after the {count} points of a COLMAP points3D.bin")
    return xyz, rgb / 255.0


def _read_colmap_txt(path: Path) -> tuple[np.ndarray, np.ndarray]:
    xyz, rgb = [], []
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable text file ({exc}); expected COLMAP points3D.txt") from exc
    for number, line in enumerate(lines, 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if len(words) < 8 or (len(words) - 8) % 2:
            raise DataError(
                f"{path} line {number}: expected 'ID X Y Z R G B ERROR' and (IMAGE_ID, POINT2D_IDX) pairs, "
                f"got {len(words)} values"
            )
        try:
            point = [float(w) for w in words[1:4]]
            color = [int(w) for w in words[4:7]]
        except ValueError:
            raise DataError(f"{path} line {number}: X Y Z must be numbers and R G B whole numbers") from None
        if not all(0 <= c <= 255 for c in color):
            raise DataError(f"{path} line {number}: R G B must be in 0..255, got {color}")
        xyz.append(point)
        rgb.append(color)
    return np.asarray(xyz, dtype=np.float64).reshape(-1, 3), np.asarray(rgb, dtype=np.float64).reshape(-1, 3) / 255


def _read_ply(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from plyfile import PlyData

    try:
        ply = PlyData.read(str(path))
    except Exception as exc:  # plyfile raises several kinds (PlyParseError, ValueError, struct.error, ...)
        raise DataError(f"{path}: not a readable PLY file ({exc})") from None
    names = [e.name for e in ply.elements]
    if "vertex" not in names:
        raise DataError(f"{path}: no 'vertex' element in the PLY (it has {names}); expected x y z per vertex")
    vertex = ply["vertex"].data
    props = vertex.dtype.names or ()
    missing = [k for k in ("x", "y", "z") if k not in props]
    if missing:
        raise DataError(f"{path}: the PLY's vertices lack {' '.join(missing)} (they have {' '.join(props)})")
    xyz = np.stack([np.asarray(vertex[k], dtype=np.float64) for k in ("x", "y", "z")], 1)
    if not all(k in props for k in ("red", "green", "blue")):
        return xyz, np.full_like(xyz, 0.5)
    rgb = np.stack([np.asarray(vertex[k]) for k in ("red", "green", "blue")], 1)
    if rgb.dtype.kind in "ui":
        return xyz, rgb.astype(np.float64) / 255.0
    rgb = rgb.astype(np.float64)
    if not (np.isfinite(rgb).all() and rgb.min() >= 0 and rgb.max() <= 1):
        raise DataError(f"{path}: float red green blue must be in [0, 1] (or give them as uchar 0-255)")
    return xyz, rgb


def _json_of(root: Path, data_type: str) -> tuple[Path | None, dict]:
    """The json that may name the scene's ply (a capture's; a synthetic scene's train split file or
    its single ``transforms.json``) and its contents, or ``(None, {})``."""
    names = {"capture": ("transforms.json",), "synthetic": ("transforms_train.json", "transforms.json")}
    path = next((root / n for n in names.get(data_type, ()) if (root / n).is_file()), None)
    return (path, _read_json(path)) if path is not None else (None, {})


def scene_points_file(root: str | Path, data_type: str) -> Path | None:
    """The point cloud file scene ``root`` of ``data_type`` ships (module doc), or None."""
    root = Path(root)
    doc_path, doc = _json_of(root, data_type)
    ply = doc.get("ply_file_path")
    if ply is not None:
        if not isinstance(ply, str) or not (root / ply).is_file():
            raise DataError(f"{doc_path}: 'ply_file_path' names no file: {ply!r}")
        return root / ply
    if data_type == "llff" or (data_type == "capture" and "applied_transform" in doc):
        for folder in COLMAP_DIRS:
            for name in COLMAP_NAMES:
                if (root / folder / name).is_file():
                    return root / folder / name
    return None


def source_to_world(root: str | Path, data_type: str, path: str | Path) -> np.ndarray:
    """[4, 4] map from the frame of point file ``path`` to the world of scene ``root`` (module doc)."""
    root, colmap = Path(root), Path(path).suffix.lower() in (".bin", ".txt")
    if data_type == "llff":
        from pvd.data.llff import source_to_world as llff_source_to_world

        return llff_source_to_world(root)
    if data_type == "capture" and colmap:
        applied = _json_of(root, data_type)[1].get("applied_transform")
        if applied is not None:
            m = np.eye(4)
            m[:3] = np.asarray(applied, dtype=np.float64)[:3]
            return m
    return np.eye(4)


def scene_points(root: str | Path, data_type: str, path: str | Path | None = None) -> PointCloud | None:
    """The points of ``path`` (default: the scene's own file, :func:`scene_points_file`) in the
    scene's world frame, or None when there is no file."""
    path = Path(path) if path is not None else scene_points_file(root, data_type)
    if path is None:
        return None
    cloud = read_points(path)
    m = torch.from_numpy(source_to_world(root, data_type, path))
    world = cloud.positions.double() @ m[:3, :3].T + m[:3, 3]
    return PointCloud(world.float(), cloud.colors, cloud.source)


def in_box(cloud: PointCloud, to_box, bound: float) -> PointCloud:
    """The points of a world-frame ``cloud`` mapped by ``to_box`` (``Normalization.to_box``) that lie
    in ``[-bound, bound]^3``, in box units."""
    box = to_box(cloud.positions.double()).float()
    keep = (box.abs() <= bound).all(dim=1)
    return PointCloud(box[keep], cloud.colors[keep], cloud.source)
