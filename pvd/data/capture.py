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

**Scene box** (:func:`auto_box`, from *all* frames, so every split gets the same one): the box is
turned so that the cameras' up direction (their horizontal right axes, :func:`~pvd.data.poses.world_up`)
is box +z, as in the datasets (COLMAP frames are oriented arbitrarily), and it is the cube, in those
axes, around the region the cameras *see*: the points that :data:`SEEN_FRACTION` of the frames hold
in their image (pinhole projection; the lens is ignored), in front of the camera and no deeper
than :data:`SEEN_FAR` times its distance to the point closest to all optical axes (two passes of a
:data:`SEEN_GRID`^3 grid, the second over the first's box). A capture keeps its subject in frame,
so the subject lies in that region wherever the cameras aim; camera distances alone (the box
centred where the optical axes meet, sized from the median camera distance) cut off a subject
beside that point, and cost several dB on an off-centre capture (``benchmarks/capture_box.py``).
The region is all that most frames see, so it is larger than the subject when the subject fills
only part of the frames; ``pvd train`` then shrinks it by the occupancy of a short warm-up
(:mod:`pvd.runs.warm_box`). When no region is seen by that many frames, :func:`distance_box` is used
and one line says so. ``object`` boxes have bound 1; with ``aabb_scale > 1`` the box is
``unbounded``: bound ``aabb_scale`` (the seen region is its central unit cube) and steps that grow
with distance (``dt_gamma``). ``--box_centre``/``--bound``/``--scale``/``--dt_gamma`` set it by hand.
"""

from __future__ import annotations

import math
import sys
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

CAMERA_DISTANCE = 3.2  # box units from the scene centre to the median camera (distance_box)
SEEN_FRACTION = 0.9  # a point is in the scene when this share of the cameras sees it
SEEN_FAR = 1.5  # ... no deeper than this many times the camera's distance to the axes' meeting point
SEEN_GRID = 32  # grid points per axis of each of the two passes
SEEN_MAX_CAMERAS = 64  # evenly spaced frames the count uses at most
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
        camera_distance: median world distance from the axes' meeting point to the cameras.
        rule: ``seen`` (the region the cameras see) or ``distance`` (the fallback: camera distances).
    """

    mode: str
    centre: tuple[float, float, float]
    rotation: tuple[tuple[float, float, float], ...]
    scale: float
    bound: float
    dt_gamma: float
    camera_distance: float
    rule: str = "seen"

    def to_dict(self) -> dict:
        return asdict(self)


def distance_box(c2w: torch.Tensor, aabb_scale: float | None, where: str) -> CaptureBox:
    """The box sized from camera distances alone, from [n, 4, 4] poses: centred where the optical axes
    meet, the median camera at :data:`CAMERA_DISTANCE` box units (the fallback of :func:`auto_box`)."""
    origins, centre = _check_rig(c2w, where)
    distance = float((origins - centre).norm(dim=-1).median())
    return _box(c2w, centre, CAMERA_DISTANCE / distance, distance, aabb_scale, "distance")


def auto_box(c2w: torch.Tensor, intrinsics: torch.Tensor, aabb_scale: float | None, where: str) -> CaptureBox:
    """The box of a capture from what its cameras see (see module doc).

    Args:
        c2w: [n, 4, 4] camera-to-world of every frame (OpenGL axes, world units).
        intrinsics: [n, 6] ``fx fy cx cy width height`` in pixels (pinhole; the lens is ignored).
        aabb_scale: instant-ngp's ``aabb_scale`` (``> 1``: an unbounded scene), or None.
        where: the file named in messages.
    """
    origins, axes_centre = _check_rig(c2w, where)
    distance = float((origins - axes_centre).norm(dim=-1).median())
    rotation = up_to_z(world_up(c2w.float()).double())
    seen = seen_region(c2w.double(), intrinsics.double(), axes_centre, rotation)
    if seen is None:
        say_once(
            f"{where}: no region is seen by {SEEN_FRACTION:.0%} of the cameras; "
            "the box is sized from the camera distances instead (set box_centre and scale by hand if it is wrong)"
        )
        return distance_box(c2w, aabb_scale, where)
    centre, half = seen
    return _box(c2w, centre, 1.0 / half, distance, aabb_scale, "seen")


def _check_rig(c2w: torch.Tensor, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """([n, 3] camera centres, [3] point closest to the optical axes), float64; errors for rigs
    that have no box: fewer than 2 frames, one camera position, cameras looking away from each other."""
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
    return origins, centre


def _box(
    c2w: torch.Tensor, centre: torch.Tensor, scale: float, distance: float, aabb_scale: float | None, rule: str
) -> CaptureBox:
    rotation = tuple(tuple(row) for row in up_to_z(world_up(c2w.float()).double()).tolist())
    if aabb_scale is not None and aabb_scale > 1:
        return CaptureBox(
            "unbounded",
            tuple(centre.tolist()),
            rotation,
            scale,
            float(aabb_scale),
            UNBOUNDED_DT_GAMMA,
            distance,
            rule,
        )
    return CaptureBox("object", tuple(centre.tolist()), rotation, scale, 1.0, 0.0, distance, rule)


def seen_counts(points: torch.Tensor, c2w: torch.Tensor, intrinsics: torch.Tensor, far: torch.Tensor) -> torch.Tensor:
    """[m] how many of the cameras see each of the [m, 3] world points: in front of the camera, no
    deeper than its ``far`` [n], and projecting (pinhole) inside its image. ``c2w`` [n, 4, 4] and
    ``intrinsics`` [n, 6] (``fx fy cx cy width height``) as in :func:`auto_box`. Float32, cameras in
    chunks of 16."""
    points = points.float()
    counts = torch.zeros(len(points), dtype=torch.int32)
    for s in range(0, len(c2w), 16):
        pose, k, limit = c2w[s : s + 16].float(), intrinsics[s : s + 16].float(), far[s : s + 16].float()
        q = (
            torch.einsum("mi,cij->cmj", points, pose[:, :3, :3])
            - torch.einsum("ci,cij->cj", pose[:, :3, 3], pose[:, :3, :3])[:, None]
        )  # camera axes: x right, y up, looking along -z
        depth = -q[..., 2]
        z = depth.clamp_min(1e-12)
        u = k[:, 2:3] + k[:, 0:1] * q[..., 0] / z
        v = k[:, 3:4] - k[:, 1:2] * q[..., 1] / z
        inside = (depth > 0) & (depth <= limit[:, None]) & (u >= 0) & (u <= k[:, 4:5]) & (v >= 0) & (v <= k[:, 5:6])
        counts += inside.sum(0, dtype=torch.int32)
    return counts


def seen_region(
    c2w: torch.Tensor, intrinsics: torch.Tensor, around: torch.Tensor, rotation: torch.Tensor
) -> tuple[torch.Tensor, float] | None:
    """(world centre [3], half-size) of the box (axes ``rotation`` [3, 3] rows) around the points that
    :data:`SEEN_FRACTION` of the cameras see, or None when there are none (module doc).

    Two passes of a :data:`SEEN_GRID`^3 grid: over a cube centred on ``around`` [3] reaching as far
    as the farthest camera, then over the first pass's box grown by one of its cells."""
    if len(c2w) > SEEN_MAX_CAMERAS:
        c2w = c2w[torch.linspace(0, len(c2w) - 1, SEEN_MAX_CAMERAS).round().long()]
        intrinsics = intrinsics[torch.linspace(0, len(intrinsics) - 1, SEEN_MAX_CAMERAS).round().long()]
    far = SEEN_FAR * (c2w[:, :3, 3] - around).norm(dim=-1)
    need = max(2, math.ceil(SEEN_FRACTION * len(c2w)))
    lo = torch.full((3,), -float((c2w[:, :3, 3] - around).norm(dim=-1).max()), dtype=torch.float64)
    hi = -lo
    for _ in range(2):
        axes = [torch.linspace(float(a), float(b), SEEN_GRID, dtype=torch.float64) for a, b in zip(lo, hi)]
        cell = (hi - lo) / (SEEN_GRID - 1)
        grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)  # box axes, from ``around``
        world = around + grid @ rotation
        chosen = grid[seen_counts(world, c2w, intrinsics, far) >= need]
        if len(chosen) == 0:
            return None
        lo, hi = chosen.min(0).values - cell, chosen.max(0).values + cell
    mid = 0.5 * (lo + hi)
    return around + mid @ rotation, float((0.5 * (hi - lo)).max())


def say_once(message: str) -> None:
    """Print ``message`` to stderr the first time it comes (each split's index asks for the box)."""
    if message not in _SAID:
        _SAID.add(message)
        print(message, file=sys.stderr)


_SAID: set[str] = set()


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


def _all_intrinsics(doc: dict, frames: list[dict], root: Path, path: Path) -> torch.Tensor:
    """[n, 6] float64 ``fx fy cx cy width height`` of every frame (image size: the frame's ``w h``,
    else the first frame's image header)."""
    first = str(_image_file(root, frames[0], f"{path} frame 0"))
    header = image_size(first)
    rows = []
    for i, frame in enumerate(frames):
        merged = {
            **{k: doc[k] for k in INTRINSIC_KEYS if k in doc},
            **{k: frame[k] for k in INTRINSIC_KEYS if k in frame},
        }
        p = {k: v for k, v in merged.items() if k not in COEFFS}
        number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
        size = tuple(int(p[k]) if number(p.get(k)) else header[j] for j, k in enumerate(("w", "h")))
        rows.append(_intrinsics(p, size, first, f"{path} frame {i}"))
    return torch.tensor(rows, dtype=torch.float64)


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
    box = auto_box(all_c2w, _all_intrinsics(doc, frames, root, path), aabb, str(path))
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
