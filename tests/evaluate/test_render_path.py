"""``pvd render --path FILE.json``: a nerfstudio camera path rendered to an MP4 and frames."""

import json
import math

import imageio.v2 as iio2
import imageio.v3 as iio
import numpy as np
import pytest
import torch

from pvd.cli import main
from pvd.data.cameras import Cameras
from pvd.data.poses import look_at
from pvd.evaluate.evaluate import render_view
from pvd.evaluate.video import ffmpeg_available
from pvd.model import load_model

FRAMES, WIDTH, HEIGHT, FOV, FPS = 6, 40, 30, 30.0, 10


@pytest.fixture(scope="module")
def teacher(demo_scene, tmp_path_factory):
    ws = tmp_path_factory.mktemp("path_teacher")
    args = ["train", str(demo_scene), "--data_type", "synthetic", "--model_type", "hash", "--workspace", str(ws)]
    assert main(args + ["--iters", "60", "--batch_rays", "256", "--no_progress", "--curve_points", "0"]) == 0
    return ws / "checkpoint.pt"


def _poses() -> torch.Tensor:
    """[FRAMES, 4, 4]: 108 degrees of a turn at 30 degrees elevation, 4 world units from the origin."""
    az = torch.linspace(0, math.pi * 0.6, FRAMES)
    el = math.radians(30)
    eye = 4 * torch.stack([az.cos() * math.cos(el), az.sin() * math.cos(el), torch.full_like(az, math.sin(el))], 1)
    return look_at(eye, torch.zeros(FRAMES, 3), torch.tensor([0.0, 0.0, 1.0]))


def _write_path(path, poses):
    frames = [{"camera_to_world": p.reshape(-1).tolist(), "fov": FOV, "aspect": WIDTH / HEIGHT} for p in poses]
    keyframes = [{"matrix": poses[i].reshape(-1).tolist(), "fov": FOV, "aspect": WIDTH / HEIGHT} for i in (0, -1)]
    path.write_text(
        json.dumps(
            {
                "keyframes": keyframes,
                "camera_type": "perspective",
                "render_height": HEIGHT,
                "render_width": WIDTH,
                "camera_path": frames,
                "fps": FPS,
                "seconds": FRAMES / FPS,
                "smoothness_value": 0.5,
                "is_cycle": False,
                "crop": None,
            }
        )
    )


def _render(model, pose) -> np.ndarray:
    """The frame of one pose, rendered here: [H, W, 3] uint8."""
    f = (HEIGHT / 2) / math.tan(math.radians(FOV) / 2)
    one = lambda v: torch.tensor([v])  # noqa: E731
    cams = Cameras(pose[None], one(f), one(f), one(WIDTH / 2), one(HEIGHT / 2), WIDTH, HEIGHT)
    return (render_view(model, cams, 0, torch.device("cpu")).numpy() * 255 + 0.5).astype(np.uint8)


@pytest.mark.skipif(not ffmpeg_available(), reason="MP4 needs imageio-ffmpeg's ffmpeg")
def test_camera_path_file_renders_its_frames(teacher, tmp_path):
    poses = _poses()
    path = tmp_path / "camera_path.json"
    _write_path(path, poses)
    ws = tmp_path / "ws"
    args = ["render", "--ckpt", str(teacher), "--path", str(path), "--workspace", str(ws), "--save_frames"]
    assert main(args + ["--no_progress"]) == 0
    reader = iio2.get_reader(ws / "video.mp4", format="FFMPEG")
    assert reader.count_frames() == FRAMES and reader.get_meta_data()["fps"] == pytest.approx(FPS)
    video = [reader.get_data(i) for i in (0, FRAMES - 1)]
    assert video[0].shape == (HEIGHT, WIDTH, 3)
    frames = sorted((ws / "frames").iterdir())
    assert [p.name for p in frames] == [f"{i:05d}.png" for i in range(FRAMES)]
    model = load_model(teacher)
    first, last = _render(model, poses[0]), _render(model, poses[-1])
    assert np.array_equal(iio.imread(frames[0]), first) and np.array_equal(iio.imread(frames[-1]), last)
    assert np.abs(first.astype(int) - last).mean() > 3  # the path moves
    for got, want, other in ((video[0], first, last), (video[1], last, first)):
        err = np.abs(got.astype(int) - want).mean()
        assert err < 4 and err < np.abs(got.astype(int) - other).mean() / 3
    record = json.loads((ws / "record.json").read_text())
    assert record["metrics"]["frames"] == FRAMES and record["fps"] == FPS and record["path"] == str(path)
    assert (record["width"], record["height"]) == (WIDTH, HEIGHT)


def test_bad_camera_path_is_one_line(teacher, tmp_path, capsys):
    path = tmp_path / "camera_path.json"
    _write_path(path, _poses())
    data = json.loads(path.read_text())
    data["camera_path"][2]["fov"] = -3
    path.write_text(json.dumps(data))
    ws = tmp_path / "ws"
    assert main(["render", "--ckpt", str(teacher), "--path", str(path), "--workspace", str(ws)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("pvd render: error: --path camera path") and "camera_path[2].fov" in err[-1]
    assert not ws.exists()
    assert main(["render", "--ckpt", str(teacher), "--path", "circle", "--workspace", str(ws)]) == 2
    assert "expected one of orbit, spiral or a nerfstudio camera_path .json file" in capsys.readouterr().err
