"""One's own captures (``capture``): instant-ngp's and nerfstudio's ``transforms.json``, lens distortion,
foreground masks, and a scene box chosen from the cameras.

Read from ``SCENE_DIR/transforms.json`` (what instant-ngp's ``colmap2nerf.py`` and nerfstudio's
``ns-process-data`` write):

* intrinsics ``fl_x fl_y cx cy w h`` (or ``camera_angle_x/y``), global or per frame (a frame's wins);
* lens distortion ``k1 k2 k3 k4 p1 p2`` with ``camera_model`` (``OPENCV``, ``OPENCV_FISHEYE``,
  ``PINHOLE``; instant-ngp's ``is_fisheye: true`` means ``OPENCV_FISHEYE``; without a model, non-zero
  coefficients mean ``OPENCV``); images are used as captured, rays go through undistorted directions
  (:mod:`pvd.data.distortion`);
* ``file_path`` relative to the json, JPG or PNG; optional ``mask_path`` (white = keep): the mask
  becomes the image's alpha, so masked-out pixels train as background;
* ``aabb_scale`` (instant-ngp: the scene extends that many unit boxes: an unbounded box is used);
* nerfstudio's ``applied_transform`` (recorded; the poses in the file are already in its frame) and
  its ``train_filenames`` / ``val_filenames`` / ``test_filenames`` split lists; without them every 8th
  frame (json order) is held out for val and test.

**Scene box** (:func:`auto_box`, from *all* frames, so every split gets the same one): the centre is
the point closest to all optical axes; the box is turned so that the cameras' up direction (their
horizontal right axes, :func:`~pvd.data.poses.world_up`) is box +z, as in the datasets (COLMAP frames
are oriented arbitrarily); the scale puts the cameras' median distance from the centre at 3.2
box units (Synthetic-NeRF's ratio: cameras at radius 4 with scale 0.8 and bound 1). ``object``
boxes have bound 1; with ``aabb_scale > 1`` the box is ``unbounded``: bound ``aabb_scale`` and
steps that grow with distance (``dt_gamma``). ``--bound``/``--scale``/``--dt_gamma`` still override.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from pvd.data.blender import HOLDOUT_EVERY, INTRINSIC_KEYS, _frames, _image_file, _intrinsics, _pose, _read_json
from pvd.data.distortion import COEFFS, Distortion, check_invertible, check_model
from pvd.data.images import image_size
from pvd.data.index import SplitIndex, check_downscale, make_cameras
from pvd.data.poses import axes_center, world_up
from pvd.data.scene import DataError
from pvd.errors import UserError

CAMERA_DISTANCE = 3.2  # box units from the scene centre to the median camera
UNBOUNDED_DT_GAMMA = 1.0 / 256
LENS_KEYS = ("camera_model", "is_fisheye")


@dataclass(frozen=True)
class CaptureBox:
    """The scene box chosen for a capture (world -> box: ``scale * p + offset``, box ``[-bound, bound]^3``).

    Attributes:
        mode: ``object`` or ``unbounded``.
        centre: world point mapped to the box centre.
        rotation: rows of the rotation taking the cameras' up direction to box +z.
        scale, bound, dt_gamma: the renderer's box and step growth.
        camera_distance: median world distance from the centre to the cameras.
    """

    mode: str
    centre: tuple[float, float, float]
    rotation: tuple[tuple[float, float, float], ...]
    scale: float
    bound: float
    dt_gamma: float
    camera_distance: float

    def to_dict(self) -> dict:
        return asdict(self)


def auto_box(c2w: torch.Tensor, aabb_scale: float | None, where: str) -> CaptureBox:
    """The box of a capture from all its [n, 4, 4] camera poses (see module doc)."""
    if len(c2w) < 2:
        raise DataError(f"{where}: a capture needs at least 2 frames, got {len(c2w)}")
    origins = c2w[:, :3, 3].double()
    if float((origins - origins.mean(0)).norm(dim=-1).max()) < 1e-6:
        raise DataError(f"{where}: every frame has the same camera position: no scene box can be derived")
    centre = axes_center(c2w.float()).double()
    forward = -c2w[:, :3, 2].double()
    in_front = ((centre - origins) * forward).sum(-1) > 0
    if float(in_front.double().mean()) < 0.5:
        raise DataError(
            f"{where}: the cameras do not look at a common centre (forward-facing capture?); "
            "give its bound, scale and dt_gamma by hand"
        )
    distance = float((origins - centre).norm(dim=-1).median())
    scale = CAMERA_DISTANCE / distance
    rotation = tuple(tuple(row) for row in up_to_z(world_up(c2w.float()).double()).tolist())
    if aabb_scale is not None and aabb_scale > 1:
        return CaptureBox(
            "unbounded", tuple(centre.tolist()), rotation, scale, float(aabb_scale), UNBOUNDED_DT_GAMMA, distance
        )
    return CaptureBox("object", tuple(centre.tolist()), rotation, scale, 1.0, 0.0, distance)


def up_to_z(up: torch.Tensor) -> torch.Tensor:
    """[3, 3] float64 rotation taking the unit vector ``up`` to +z (the shortest turn; a half turn
    about x when ``up`` points down)."""
    z = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    up = up / up.norm()
    axis = torch.linalg.cross(up, z, dim=-1)
    s, c = float(axis.norm()), float(up @ z)
    if s < 1e-12:
        return (
            torch.eye(3, dtype=torch.float64)
            if c > 0
            else torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64))
        )
    k = axis / s
    kx = torch.tensor([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]], dtype=torch.float64)
    return torch.eye(3, dtype=torch.float64) + s * kx + (1 - c) * (kx @ kx)


def _lens(p: dict, where: str) -> tuple[str, list[float]]:
    """(model, [k1 k2 k3 k4 p1 p2]) of one frame's merged keys."""
    coeffs = {k: float(p.get(k, 0.0)) for k in COEFFS}
    for key, value in coeffs.items():
        if not math.isfinite(value):
            raise DataError(f"{where}: {key!r} must be a finite number, got {p.get(key)!r}")
    model = p.get("camera_model")
    if model is None:
        model = "OPENCV_FISHEYE" if p.get("is_fisheye") else ("OPENCV" if any(coeffs.values()) else "PINHOLE")
    if not isinstance(model, str):
        raise DataError(f"{where}: 'camera_model' must be a string, got {model!r}")
    try:
        check_model(model, coeffs, where)
    except UserError as exc:
        raise DataError(str(exc)) from None
    return model, [coeffs[k] for k in COEFFS]


def _split_frames(doc: dict, frames: list[dict], split: str, path: Path) -> tuple[list[int], str]:
    """Indices of ``split``'s frames: nerfstudio's filename lists where present, else the hold-out."""
    key = f"{split}_filenames"
    if any(f"{s}_filenames" in doc for s in ("train", "val", "test")):
        names = doc.get(key)
        if names is None and split == "val":
            names = doc.get("test_filenames")
        if not isinstance(names, list):
            raise DataError(f"{path}: has split lists but no {key!r} list")
        norm = lambda s: str(Path(str(s)).with_suffix("")).lstrip("./")  # noqa: E731
        wanted = {norm(n) for n in names}
        chosen = [i for i, f in enumerate(frames) if norm(f["file_path"]) in wanted]
        if len(chosen) != len(wanted):
            raise DataError(f"{path}: {len(wanted) - len(chosen)} of the {key} name no frame's file_path")
        return chosen, key
    if split in ("test", "val"):
        return list(range(0, len(frames), HOLDOUT_EVERY)), f"every {HOLDOUT_EVERY}th frame"
    return [i for i in range(len(frames)) if i % HOLDOUT_EVERY], f"all but every {HOLDOUT_EVERY}th frame"


def index_capture(root: str | Path, split: str, downscale: int = 1) -> SplitIndex:
    """Index one split of a capture (cheap: image headers only); ``meta["box"]`` is its :class:`CaptureBox`."""
    root = Path(root)
    check_downscale(downscale)
    path = root / "transforms.json"
    if not path.is_file():
        raise DataError(
            f"{path}: not found; a capture is a folder with a transforms.json (instant-ngp or nerfstudio layout)"
        )
    if split not in ("train", "val", "test"):
        raise DataError(f"{path}: unknown split {split!r}; expected train, val or test")
    doc = _read_json(path)
    frames = _frames(doc, path)
    aabb = doc.get("aabb_scale")
    if aabb is not None and (not isinstance(aabb, (int, float)) or isinstance(aabb, bool) or not aabb > 0):
        raise DataError(f"{path}: 'aabb_scale' must be a positive number, got {aabb!r}")
    applied = doc.get("applied_transform")
    if applied is not None:
        m = np.asarray(applied, dtype=object)
        if m.shape not in ((3, 4), (4, 4)) or not np.isfinite(np.asarray(applied, dtype=np.float64)).all():
            raise DataError(f"{path}: 'applied_transform' must be a finite 3x4 or 4x4 matrix")
    all_c2w = torch.from_numpy(np.stack([_pose(f, f"{path} frame {i}") for i, f in enumerate(frames)]))
    box = auto_box(all_c2w, aabb, str(path))
    chosen, rule = _split_frames(doc, frames, split, path)
    if not chosen:
        raise DataError(f"{path}: the {split!r} split has no frames ({rule})")
    keys = (*INTRINSIC_KEYS, *LENS_KEYS)
    files, masks, rows, lens = [], [], [], []
    header = None
    for i in chosen:
        frame, where = frames[i], f"{path} frame {i}"
        files.append(str(_image_file(root, frame, where)))
        if "mask_path" in frame:
            masks.append(str(_image_file(root, {"file_path": frame["mask_path"]}, f"{where} mask_path")))
        header = header or image_size(files[0])
        merged = {**{k: doc[k] for k in keys if k in doc}, **{k: frame[k] for k in keys if k in frame}}
        lens.append(_lens(merged, where))
        rows.append(
            _intrinsics(
                {k: v for k, v in merged.items() if k not in LENS_KEYS and k not in COEFFS}, header, files[0], where
            )
        )
    if masks and len(masks) != len(files):
        raise DataError(f"{path}: {len(masks)} of the {len(files)} {split} frames have a mask_path; give all or none")
    if len({(r[4], r[5]) for r in rows}) > 1:
        raise DataError(
            f"{path}: frames give different image sizes {sorted({(r[4], r[5]) for r in rows})}; "
            "expected one size per split"
        )
    models = {m for m, _ in lens}
    if len(models) > 1:
        raise DataError(f"{path}: frames use different camera models {sorted(models)}")
    fx, fy, cx, cy = (torch.tensor([r[j] for r in rows], dtype=torch.float64) for j in range(4))
    source_size = rows[0][4], rows[0][5]
    cameras = make_cameras(all_c2w[chosen], fx, fy, cx, cy, source_size, downscale)
    model = models.pop()
    if model not in ("PINHOLE", "SIMPLE_PINHOLE"):
        distortion = Distortion(model, torch.tensor([c for _, c in lens], dtype=torch.float64))
        check_invertible(distortion, fx, fy, cx, cy, *source_size, str(path))
        cameras = type(cameras)(
            cameras.c2w, cameras.fx, cameras.fy, cameras.cx, cameras.cy, cameras.width, cameras.height, distortion
        )
    meta = {
        "format": "capture",
        "downscale": downscale,
        "json": str(path),
        "frame_indices": chosen,
        "split_rule": rule,
        "camera_model": model,
        "box": box.to_dict(),
        **({"aabb_scale": aabb} if aabb is not None else {}),
        **({"applied_transform": applied} if applied is not None else {}),
    }
    return SplitIndex(split, cameras, tuple(files), source_size, downscale, meta=meta, mask_files=tuple(masks) or None)
