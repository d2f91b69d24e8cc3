"""Camera paths in nerfstudio's ``camera_path.json`` format (what ``ns-render camera-path`` reads).

The fields pvd reads (others, such as ``keyframes``, ``smoothness_value`` or ``is_cycle``, describe
how an editor made the path and are kept only in the record)::

    render_width, render_height   frame size in pixels (positive whole numbers)
    camera_type                   "perspective" (the only type pvd renders; absent means perspective)
    fps, seconds                  frame rate and length (fps optional, > 0)
    camera_path                   one entry per frame:
        camera_to_world           4 x 4 camera-to-world matrix, 16 numbers row-major (or 4 rows of 4)
        fov                       vertical field of view in degrees, in (0, 180)

Cameras have square pixels, the principal point at the frame's centre, focal length
``(render_height / 2) / tan(fov / 2)`` and OpenGL axes (+x right, +y up, looking along -z), as in
nerfstudio and in :mod:`pvd.data.cameras`.

**World frame.** pvd reads the poses as given in the scene's own world frame: that of its
``transforms*.json`` (or of the format it was parsed from), the frame of the training cameras a
checkpoint stores; the model's normalisation into its box is applied when rays are made. A path made
in nerfstudio's viewer lies in nerfstudio's normalised frame (its dataparser's orientation and scale)
and must be mapped back into the dataset's frame first. :func:`write_camera_path` writes the same
format (e.g. from pvd's cameras).

Every problem is one :class:`~pvd.errors.UserError` naming the file and the field
(``camera_path[3].fov``) and what was expected.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from pvd.data.cameras import Cameras
from pvd.errors import UserError
from pvd.records import atomic_path


@dataclass(frozen=True)
class CameraPath:
    """A camera path read from a file.

    Attributes:
        cameras: one camera per frame (world frame, see module doc).
        fov: [n] vertical field of view per frame (degrees).
        fps: frames per second, or None when the file gives none.
        seconds: the file's length in seconds, or None.
        keyframes: how many keyframes the file lists (0 when none).
    """

    cameras: Cameras
    fov: torch.Tensor
    fps: float | None
    seconds: float | None
    keyframes: int


def _number(value, where: str, lo: float = -math.inf, hi: float = math.inf, whole: bool = False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and whole:
        ok = float(value).is_integer()
    if not ok or not lo < value < hi:
        kind = "a whole number" if whole else "a number"
        bounds = []
        if lo > -math.inf:
            bounds.append(f"> {lo:g}")
        if hi < math.inf:
            bounds.append(f"< {hi:g}")
        raise UserError(f"{where} must be {kind}{' ' + ' and '.join(bounds) if bounds else ''}, got {value!r}")
    return int(value) if whole else float(value)


def _matrix(value, where: str) -> torch.Tensor:
    """A camera-to-world entry -> [4, 4] float64, checked: finite, last row 0 0 0 1, a rotation."""
    if isinstance(value, list) and len(value) == 4 and all(isinstance(r, list) for r in value):
        value = [v for row in value for v in row]
    if not isinstance(value, list) or len(value) != 16:
        raise UserError(f"{where} must be 16 numbers (a 4 x 4 matrix, row-major), got {str(value)[:80]}")
    for i, v in enumerate(value):
        _number(v, f"{where}[{i}]")
    m = torch.tensor(value, dtype=torch.float64).reshape(4, 4)
    if not torch.allclose(m[3], torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64), atol=1e-6):
        raise UserError(f"{where}: its last row must be 0 0 0 1, got {m[3].tolist()}")
    r = m[:3, :3]
    if not torch.allclose(r.T @ r, torch.eye(3, dtype=torch.float64), atol=1e-3) or torch.linalg.det(r) < 0:
        raise UserError(f"{where}: its upper-left 3 x 3 must be a rotation (orthonormal, no mirror or scale)")
    return m


def read_camera_path(path: str | Path) -> CameraPath:
    """Read and check a ``camera_path.json`` (module doc)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"camera path {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"camera path {path} is not readable: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"camera path {path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise UserError(f"camera path {path} must hold a JSON object, got {type(data).__name__}")
    where = f"camera path {path}:"
    kind = data.get("camera_type", "perspective")
    if kind != "perspective":
        raise UserError(f"{where} camera_type {kind!r} is not rendered by pvd; expected 'perspective'")
    for key in ("render_width", "render_height", "camera_path"):
        if key not in data:
            raise UserError(f"{where} lacks {key!r} (a nerfstudio camera_path.json has it)")
    width = _number(data["render_width"], f"{where} render_width", lo=0, whole=True)
    height = _number(data["render_height"], f"{where} render_height", lo=0, whole=True)
    fps = _number(data["fps"], f"{where} fps", lo=0) if data.get("fps") is not None else None
    seconds = _number(data["seconds"], f"{where} seconds", lo=0) if data.get("seconds") is not None else None
    keyframes = data.get("keyframes") or []
    if not isinstance(keyframes, list):
        raise UserError(f"{where} keyframes must be a list, got {type(keyframes).__name__}")
    frames = data["camera_path"]
    if not isinstance(frames, list) or not frames:
        raise UserError(f"{where} camera_path must be a non-empty list of frames")
    c2w, fov = [], []
    for i, frame in enumerate(frames):
        at = f"{where} camera_path[{i}]"
        if not isinstance(frame, dict):
            raise UserError(f"{at} must be an object with camera_to_world and fov")
        for key in ("camera_to_world", "fov"):
            if key not in frame:
                raise UserError(f"{at} lacks {key!r}")
        c2w.append(_matrix(frame["camera_to_world"], f"{at}.camera_to_world"))
        fov.append(_number(frame["fov"], f"{at}.fov (degrees)", lo=0, hi=180))
    fov_t = torch.tensor(fov, dtype=torch.float64)
    focal = (height / 2) / torch.tan(torch.deg2rad(fov_t) / 2)
    n = len(frames)
    cams = Cameras(
        torch.stack(c2w).float(),
        focal.float(),
        focal.float(),
        torch.full((n,), width / 2),
        torch.full((n,), height / 2),
        width,
        height,
    )
    return CameraPath(cams, fov_t.float(), fps, seconds, len(keyframes))


def resized(cameras: Cameras, width: int, height: int) -> Cameras:
    """Path cameras rendered at another frame size, keeping the vertical field of view (and centring)."""
    s = height / cameras.height
    return Cameras(
        cameras.c2w,
        cameras.fx * s,
        cameras.fy * s,
        torch.full_like(cameras.cx, width / 2),
        torch.full_like(cameras.cy, height / 2),
        width,
        height,
    )


def write_camera_path(path: str | Path, cameras: Cameras, fps: float = 30.0) -> None:
    """Atomically write ``cameras`` (square pixels, centred) as a ``camera_path.json`` (module doc)."""
    fov = torch.rad2deg(2 * torch.atan((cameras.height / 2) / cameras.fy.double()))
    aspect = cameras.width / cameras.height
    frames = [
        {"camera_to_world": cameras.c2w[i].double().reshape(-1).tolist(), "fov": float(fov[i]), "aspect": aspect}
        for i in range(len(cameras))
    ]
    payload = {
        "camera_type": "perspective",
        "render_width": cameras.width,
        "render_height": cameras.height,
        "fps": fps,
        "seconds": len(cameras) / fps,
        "keyframes": [],
        "camera_path": frames,
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=1))
