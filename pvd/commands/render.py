"""``pvd render``: a camera-path video of a checkpoint, for side-by-side teacher/student comparisons.

The path is derived from the scene's training cameras, read from the checkpoint or, for checkpoints
without them, from the train split of ``SCENE_DIR`` (``--data_type`` defaults to the checkpoint's).
Writes ``WS/video.mp4`` (or ``WS/video.gif`` without ffmpeg) and ``WS/record.json`` into a workspace
of its own (never a training one, see :mod:`pvd.commands.workspace`). Renders use a
white background, like evaluation.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pvd.commands.flags import add_checkpoint, add_data_type, add_device, add_progress, finite_float, prepare_device
from pvd.commands.record import write_run_record
from pvd.commands.workspace import WorkspaceIdentity, claim, model_key
from pvd.data import index_split
from pvd.data.cameras import Cameras
from pvd.errors import UserError
from pvd.evaluate.camera_path import DEFAULT_PATH, PATH_KINDS, parse_size, path_cameras
from pvd.evaluate.evaluate import warm_up
from pvd.evaluate.video import VIDEO_FORMATS, choose_format, render_frames, write_video
from pvd.model import ModelMeta, load_model


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "scene_dir",
        type=Path,
        nargs="?",
        help="scene folder, only needed when the checkpoint stores no training cameras",
    )
    add_data_type(p, required=False, help="on-disk format of SCENE_DIR (default: the checkpoint's)")
    add_checkpoint(p)
    p.add_argument(
        "--path", choices=PATH_KINDS, help="camera path (default: orbit for synthetic/tank, spiral for llff)"
    )
    p.add_argument("--frames", type=int, default=120, help="number of frames")
    p.add_argument("--size", help="frame size WIDTHxHEIGHT (default: the training images')")
    p.add_argument("--fps", type=finite_float, default=30.0, help="frames per second of the video")
    p.add_argument(
        "--format", choices=VIDEO_FORMATS, help="mp4 (needs ffmpeg) or gif (default: mp4 when ffmpeg is present)"
    )
    add_device(p)
    add_progress(p)


def training_cameras(
    meta: ModelMeta, ckpt: Path, scene_dir: Path | None, data_type: str
) -> tuple[Cameras, float | None, float | None]:
    """The training cameras and depth bounds a path is derived from (see module doc)."""
    if meta.cameras is not None:
        return meta.cameras, meta.near, meta.far
    if scene_dir is None:
        raise UserError(
            f"checkpoint {ckpt} stores no training cameras: give SCENE_DIR (and --data_type) "
            "to derive the camera path from the scene's train split"
        )
    train = index_split(scene_dir, data_type, "train", meta.downscale)
    near = meta.near if meta.near is not None else train.near
    far = meta.far if meta.far is not None else train.far
    return train.cameras, near, far


def run(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    device = prepare_device(args.device, args.gpu_slots)
    size = parse_size(args.size) if args.size else None
    if not args.fps > 0:
        raise UserError(f"--fps must be > 0, got {args.fps}")
    fmt = choose_format(args.format)
    model = load_model(args.ckpt, device)
    data_type = args.data_type or model.meta.data_type
    if data_type is None:
        raise UserError(f"checkpoint {args.ckpt} does not say its data_type: pass --data_type")
    kind = args.path or DEFAULT_PATH[data_type]
    train, near, far = training_cameras(model.meta, args.ckpt, args.scene_dir, data_type)
    cams = path_cameras(train, kind, args.frames, size, near, far)
    out = args.workspace / f"video.{fmt}"
    claim(
        args.workspace,
        WorkspaceIdentity("render", model_key(model.meta), str(args.ckpt.resolve())),
        overwrite=args.overwrite,
    )
    warm_up(model, cams, device)
    t0 = time.perf_counter()
    n = write_video(out, render_frames(model, cams, device, progress=not args.no_progress), args.fps)
    seconds = time.perf_counter() - t0
    write_run_record(
        args.workspace,
        "render",
        args,
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
        width=cams.width,
        height=cams.height,
        video=str(out),
        checkpoint=str(args.ckpt),
    )
    print(f"{kind} path, {n} frames {cams.width}x{cams.height} in {seconds:.1f} s -> {out}")
    return 0
