"""Render a model along a camera path and write the frames as a video.

MP4 (H.264, yuv420p) through imageio's ffmpeg backend (``imageio-ffmpeg``) where its ffmpeg binary
is present, an animated GIF through imageio otherwise. Both are written to a temporary name and
renamed, so a crash never leaves a partial video.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pvd.data.cameras import Cameras
from pvd.errors import SpecError, UserError
from pvd.evaluate.evaluate import WHITE, render_view
from pvd.model import Model
from pvd.records import atomic_path

VIDEO_FORMATS = ("mp4", "gif")
MP4_QUALITY = 8  # imageio-ffmpeg's 0..10 scale


def ffmpeg_available() -> bool:
    """Whether imageio-ffmpeg and its ffmpeg binary are usable."""
    try:
        import imageio_ffmpeg

        return Path(imageio_ffmpeg.get_ffmpeg_exe()).is_file()
    except (ImportError, RuntimeError):
        return False


def choose_format(requested: str | None) -> str:
    """``mp4`` when ffmpeg is present (or requested and present), else ``gif``."""
    if requested is None:
        return "mp4" if ffmpeg_available() else "gif"
    if requested not in VIDEO_FORMATS:
        raise SpecError("format", f"{requested!r}: expected one of {', '.join(VIDEO_FORMATS)}")
    if requested == "mp4" and not ffmpeg_available():
        raise SpecError("format", "mp4 needs ffmpeg (pip install imageio-ffmpeg); use `format` gif")
    return requested


def render_frames(
    model: Model,
    cameras: Cameras,
    device: torch.device,
    progress: bool = False,
    background: tuple[float, float, float] = WHITE,
) -> Iterator[np.ndarray]:
    """Yield one [H, W, 3] uint8 frame per camera."""
    for view in tqdm(range(len(cameras)), desc="render", unit="frame", disable=not progress):
        rgb = render_view(model, cameras, view, device, background)
        yield (rgb.cpu().numpy() * 255 + 0.5).astype(np.uint8)


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad an [H, W, 3] frame by edge replication to even sides (yuv420p needs them)."""
    h, w = frame.shape[:2]
    return np.ascontiguousarray(np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge"))


def _write_mp4(tmp: Path, frames: Iterable[np.ndarray], fps: float) -> int:
    import imageio_ffmpeg

    writer = None
    count = 0
    try:
        for frame in frames:
            frame = _even(frame)
            if writer is None:
                writer = imageio_ffmpeg.write_frames(
                    str(tmp),
                    (frame.shape[1], frame.shape[0]),
                    fps=fps,
                    codec="libx264",
                    pix_fmt_out="yuv420p",
                    quality=MP4_QUALITY,
                    macro_block_size=1,
                    output_params=["-f", "mp4"],
                )
                writer.send(None)
            writer.send(frame)
            count += 1
    finally:
        if writer is not None:
            writer.close()
    return count


def _write_gif(tmp: Path, frames: Iterable[np.ndarray], fps: float) -> int:
    from PIL import Image

    frames = list(frames)
    if not frames:
        return 0
    images = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
    # written through our own file object: a failed write (a full disk) raises once, here, and
    # leaves no writer behind to retry the flush when it is collected
    with open(tmp, "wb") as fh:
        images[0].save(fh, format="GIF", save_all=True, append_images=images[1:], duration=1000.0 / fps, loop=0)
    return len(images)


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float) -> int:
    """Atomically write [H, W, 3] uint8 ``frames`` to ``path`` (``.mp4`` or ``.gif``); returns the count."""
    path = Path(path)
    kind = path.suffix.lstrip(".").lower()
    if kind not in VIDEO_FORMATS:
        raise UserError(f"{path}: video files end in .mp4 or .gif")
    if not fps > 0:
        raise SpecError("fps", f"must be > 0, got {fps}")
    with atomic_path(path) as tmp:
        count = (_write_mp4 if kind == "mp4" else _write_gif)(tmp, frames, fps)
        if count == 0:
            raise UserError(f"{path}: no frames to write")
    return count
