"""``render``: a camera-path video of a checkpoint, for side-by-side teacher/student comparisons.

The built-in paths (``orbit``, ``spiral``) are derived from the scene's training cameras, read from
the checkpoint or, for checkpoints without them, from the train split of ``scene_dir`` (``data_type``
defaults to the checkpoint's). ``path`` may instead name a nerfstudio ``camera_path.json``
(:mod:`pvd.data.nerfstudio_path`: poses in the scene's world frame); its frames, size and fps are used
(``size`` and ``fps`` override them). Writes ``WS/video.mp4`` (or ``WS/video.gif`` without ffmpeg),
with ``save_frames`` also ``WS/frames/NNNNN.png``, and ``WS/record.json`` into a workspace of its own
(never a training one, see :mod:`pvd.runs.workspace`). Renders use a white background, like evaluation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pvd.data import DATA_TYPES, index_split
from pvd.data.cameras import Cameras
from pvd.data.nerfstudio_path import read_camera_path, resized
from pvd.errors import UserError
from pvd.evaluate.camera_path import DEFAULT_PATH, PATH_KINDS, parse_size, path_cameras
from pvd.evaluate.evaluate import warm_up
from pvd.evaluate.renders import write_png
from pvd.evaluate.video import VIDEO_FORMATS, choose_format, render_frames, write_video
from pvd.model import ModelMeta
from pvd.runs.common import DeviceOptions, OutputOptions
from pvd.runs.device import prepare_device
from pvd.runs.inputs import InputOptions, read_input
from pvd.runs.record import write_run_record
from pvd.runs.spec import SpecError, option
from pvd.runs.staging import publish
from pvd.runs.workspace import WorkspaceIdentity, claim, model_key, releasing

DEFAULT_FPS = 30.0


def size_problem(text: str) -> str | None:
    """The spec check of ``size``: WIDTHxHEIGHT (as :func:`parse_size` reads it)."""
    try:
        parse_size(text)
    except SpecError as exc:
        return exc.problem
    return None


def path_problem(text: str) -> str | None:
    """The spec check of ``path``: a built-in path's name, or an existing ``.json`` camera-path file."""
    if text in PATH_KINDS:
        return None
    if not text.endswith(".json"):
        return f"{text!r}: expected one of {', '.join(PATH_KINDS)} or a nerfstudio camera_path .json file"
    return None if Path(text).is_file() else f"{text} does not exist"


@dataclass(frozen=True, kw_only=True)
class RenderSpec(DeviceOptions, OutputOptions, InputOptions):
    """Everything ``render`` is told."""

    scene_dir: Path | None = option(
        None, positional=True, help="scene folder, only needed when the checkpoint stores no training cameras"
    )
    ckpt: Path = option(help="teacher or student checkpoint.pt")
    data_type: str | None = option(
        None, choices=DATA_TYPES, help="on-disk format of SCENE_DIR (default: the checkpoint's)"
    )
    path: str | None = option(
        None,
        check=path_problem,
        metavar="orbit|spiral|FILE.json",
        help="camera path: orbit, spiral or a nerfstudio camera_path.json in the scene's world frame "
        "(default: orbit for synthetic/tank, spiral for llff)",
    )
    frames: int = option(120, minimum=1, help="number of frames of a built-in path")
    size: str | None = option(
        None, check=size_problem, metavar="WxH", help="frame size WIDTHxHEIGHT (default: the training images')"
    )
    fps: float | None = option(None, above=0, help="frames per second of the video (default: the path file's, else 30)")
    format: str | None = option(
        None, choices=VIDEO_FORMATS, help="mp4 (needs ffmpeg) or gif (default: mp4 when ffmpeg is present)"
    )
    save_frames: bool = option(False, help="also write every frame as WS/frames/NNNNN.png")


@dataclass(frozen=True)
class RenderOutcome:
    """What ``render`` wrote."""

    video: Path
    frames: int
    seconds: float


def training_cameras(
    meta: ModelMeta, ckpt: Path, scene_dir: Path | None, data_type: str
) -> tuple[Cameras, float | None, float | None]:
    """The training cameras and depth bounds a path is derived from (see module doc)."""
    if meta.cameras is not None:
        return meta.cameras, meta.near, meta.far
    if scene_dir is None:
        raise SpecError(
            "scene_dir",
            f"is needed: checkpoint {ckpt} stores no training cameras; give the scene "
            "folder (and data_type) to derive the camera path from its train split",
        )
    train = index_split(scene_dir, data_type, "train", meta.downscale)
    near = meta.near if meta.near is not None else train.near
    far = meta.far if meta.far is not None else train.far
    return train.cameras, near, far


def saving(frames: Iterator[np.ndarray], folder: Path) -> Iterator[np.ndarray]:
    """Pass ``frames`` on, writing each as ``folder/NNNNN.png`` first."""
    for i, frame in enumerate(frames):
        write_png(folder / f"{i:05d}.png", frame)
        yield frame


@releasing
def run_render(spec: RenderSpec) -> RenderOutcome:
    """Render ``spec.ckpt`` along its camera path into a video (see the module doc)."""
    t_start = time.perf_counter()
    size = parse_size(spec.size) if spec.size else None
    fmt = choose_format(spec.format)
    model, provenance = read_input("ckpt", spec.ckpt, spec.allow_unfinished)
    data_type = spec.data_type or model.meta.data_type
    if data_type is None:
        raise SpecError("data_type", f"is required: checkpoint {spec.ckpt} does not say its data type")
    kind = spec.path or DEFAULT_PATH[data_type]
    fps = spec.fps
    if kind in PATH_KINDS:
        train, near, far = training_cameras(model.meta, spec.ckpt, spec.scene_dir, data_type)
        cams = path_cameras(train, kind, spec.frames, size, near, far)
    else:
        try:
            read = read_camera_path(kind)
        except UserError as exc:
            raise SpecError("path", str(exc)) from None
        cams = resized(read.cameras, *size) if size else read.cameras
        fps = fps or read.fps
    fps = fps or DEFAULT_FPS
    out = spec.workspace / f"video.{fmt}"
    device = prepare_device(spec.device, spec.gpu_slots)
    model = model.to(device)
    staged = claim(
        spec.workspace,
        WorkspaceIdentity("render", model_key(model.meta), str(spec.ckpt.resolve())),
        overwrite=spec.overwrite,
    )
    warm_up(model, cams, device)
    t0 = time.perf_counter()
    frames = render_frames(model, cams, device, progress=not spec.no_progress)
    if spec.save_frames:
        frames = saving(frames, staged / "frames")
    n = write_video(staged / out.name, frames, fps)
    seconds = time.perf_counter() - t0
    write_run_record(
        staged,
        "render",
        spec,
        device,
        time.perf_counter() - t_start,
        metrics={
            "frames": n,
            "render_seconds": round(seconds, 3),
            "fps_rendered": n / seconds if seconds > 0 else None,
        },
        model_type=model.model_type,
        model_kind=model.meta.kind,
        data_type=data_type,
        path=kind,
        fps=fps,
        width=cams.width,
        height=cams.height,
        video=str(out),
        checkpoint=str(spec.ckpt),
        inputs=[provenance],
    )
    publish(spec.workspace, staged)  # the video and record replace the workspace's together
    print(f"{kind} path, {n} frames {cams.width}x{cams.height} in {seconds:.1f} s -> {out}")
    return RenderOutcome(out, n, seconds)
