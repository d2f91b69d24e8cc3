"""The demo scene as a *capture*: one ``transforms.json`` (nerfstudio layout, split lists), optionally
seen through a distorting lens and with every pose moved by a random similarity transform.

It is the ground truth for :mod:`pvd.data.capture`: the same solids and cameras as the demo scene,
so training on the distorted images with the coefficients declared must match training on the
pinhole renders, and the automatic box must find the scene wherever the similarity puts it. Images
are rendered through the lens (every sub-pixel ray goes through the undistorted direction of its
distorted position); the similarity only changes the recorded poses (the scene moves with them).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import imageio.v3 as iio
import torch

from pvd.data.demo import DemoConfig, demo_poses, demo_solids, render_view
from pvd.data.distortion import COEFFS, Distortion, check_model
from pvd.data.poses import random_rotations
from pvd.errors import UserError
from pvd.records import file_mode


@dataclass(frozen=True)
class CaptureOptions:
    """How the demo capture is taken.

    Attributes:
        camera_model: ``PINHOLE``, ``OPENCV`` or ``OPENCV_FISHEYE``.
        coeffs: ``k1 k2 k3 k4 p1 p2`` of the lens.
        similarity_seed: move the whole capture by a random rotation, translation (up to 5 units) and
            scale (0.2x to 5x) drawn from this seed; None keeps the demo's frame.
    """

    camera_model: str = "PINHOLE"
    coeffs: tuple[float, ...] = (0.0,) * 6
    similarity_seed: int | None = None


def similarity(seed: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(rotation [3, 3], translation [3], scale) drawn from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    rot = random_rotations(1, math.pi, gen)[0]
    shift = (torch.rand(3, generator=gen) * 2 - 1) * 5
    scale = float(math.exp((torch.rand(1, generator=gen).item() * 2 - 1) * math.log(5)))
    return rot, shift, scale


def write_demo_capture(
    out_dir: str | Path, config: DemoConfig = DemoConfig(), options: CaptureOptions = CaptureOptions()
) -> Path:
    """Render the demo capture into ``out_dir`` (built beside it, renamed into place)."""
    out_dir = Path(out_dir)
    check_model(options.camera_model, dict(zip(COEFFS, options.coeffs)), "pvd data demo-capture")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UserError(f"{out_dir}: already exists and is not an empty folder; remove it or choose another OUT_DIR")
    lens = None
    if options.camera_model not in ("PINHOLE", "SIMPLE_PINHOLE"):
        lens = Distortion(options.camera_model, torch.tensor([options.coeffs], dtype=torch.float64))
    rot, shift, scale = (
        similarity(options.similarity_seed)
        if options.similarity_seed is not None
        else (torch.eye(3), torch.zeros(3), 1.0)
    )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    os.chmod(tmp, file_mode(directory=True))  # mkdtemp made it private (0o700)
    try:
        solids = demo_solids(config.seed)
        frames, lists = [], {}
        for split in ("train", "val", "test"):
            (tmp / split).mkdir()
            lists[split] = []
            for i, c2w in enumerate(demo_poses(config, split)):
                name = f"{split}/r_{i}.png"
                iio.imwrite(tmp / name, render_view(solids, c2w, config, lens))
                moved = c2w.clone()
                moved[:3, :3] = rot @ c2w[:3, :3]
                moved[:3, 3] = scale * (rot @ c2w[:3, 3]) + shift
                frames.append({"file_path": name, "transform_matrix": moved.tolist()})
                lists[split].append(name)
        focal = 0.5 * config.size / math.tan(0.5 * config.camera_angle_x)
        doc = {
            "camera_model": options.camera_model,
            "fl_x": focal,
            "fl_y": focal,
            "cx": config.size / 2,
            "cy": config.size / 2,
            "w": config.size,
            "h": config.size,
            **dict(zip(COEFFS, options.coeffs)),
            "frames": frames,
            **{f"{split}_filenames": names for split, names in lists.items()},
            "pvd_demo_capture": {**asdict(config), **asdict(options), "similarity_scale": scale},
        }
        (tmp / "transforms.json").write_text(json.dumps(doc, indent=2) + "\n")
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out_dir
