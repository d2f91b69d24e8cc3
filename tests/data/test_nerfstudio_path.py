"""Reading nerfstudio camera_path.json files: poses, intrinsics, and one clear line per bad field."""

import json
import math

import pytest
import torch

from pvd.data.cameras import Cameras
from pvd.data.nerfstudio_path import read_camera_path, resized, write_camera_path
from pvd.data.poses import look_at
from pvd.errors import UserError


def _path_file(tmp_path, **changes):
    """A two-frame path (fov 40 and 60 degrees, 64 x 48) as nerfstudio writes it, with ``changes``."""
    eye = torch.tensor([[3.0, 0.0, 1.0], [0.0, 3.0, 1.0]])
    c2w = look_at(eye, torch.zeros(2, 3), torch.tensor([0.0, 0.0, 1.0]))
    data = {
        "keyframes": [{"matrix": c2w[0].reshape(-1).tolist(), "fov": 40, "aspect": 4 / 3}],
        "camera_type": "perspective",
        "render_height": 48,
        "render_width": 64,
        "camera_path": [
            {"camera_to_world": c2w[0].reshape(-1).tolist(), "fov": 40.0, "aspect": 4 / 3},
            {"camera_to_world": c2w[1].tolist(), "fov": 60, "aspect": 4 / 3},  # nested rows are read too
        ],
        "fps": 24,
        "seconds": 2 / 24,
        "smoothness_value": 0.5,
        "is_cycle": False,
    }
    data.update(changes)
    path = tmp_path / "camera_path.json"
    path.write_text(json.dumps(data))
    return path, c2w


def test_poses_and_intrinsics_are_read(tmp_path):
    path, c2w = _path_file(tmp_path)
    read = read_camera_path(path)
    cams = read.cameras
    assert (cams.width, cams.height, len(cams)) == (64, 48, 2)
    torch.testing.assert_close(cams.c2w, c2w)
    focal = torch.tensor([24 / math.tan(math.radians(20)), 24 / math.tan(math.radians(30))])
    torch.testing.assert_close(cams.fy, focal)
    torch.testing.assert_close(cams.fx, focal)
    assert cams.cx.tolist() == [32.0, 32.0] and cams.cy.tolist() == [24.0, 24.0]
    assert read.fps == 24 and read.keyframes == 1
    # a frame's vertical field of view: the top and bottom pixel edges are fov/2 off the axis
    assert math.degrees(2 * math.atan(24 / float(cams.fy[1]))) == pytest.approx(60, abs=1e-4)
    small = resized(cams, 32, 24)
    torch.testing.assert_close(small.fy, focal / 2)


def test_written_paths_read_back(tmp_path):
    _, c2w = _path_file(tmp_path)
    cams = Cameras(
        c2w, torch.full((2,), 50.0), torch.full((2,), 50.0), torch.full((2,), 40.0), torch.full((2,), 30.0), 80, 60
    )
    write_camera_path(tmp_path / "out.json", cams, fps=12)
    back = read_camera_path(tmp_path / "out.json")
    torch.testing.assert_close(back.cameras.c2w, c2w)
    torch.testing.assert_close(back.cameras.fy, cams.fy)
    assert back.fps == 12 and back.seconds == pytest.approx(2 / 12)


BAD = [
    ({"render_width": 0}, "render_width must be a whole number > 0, got 0"),
    ({"render_height": 10.5}, "render_height must be a whole number > 0, got 10.5"),
    ({"camera_type": "fisheye"}, "camera_type 'fisheye' is not rendered by pvd"),
    ({"camera_path": []}, "camera_path must be a non-empty list of frames"),
    ({"camera_path": [{"fov": 50}]}, "camera_path[0] lacks 'camera_to_world'"),
    ({"camera_path": [{"camera_to_world": [1, 0, 0], "fov": 50}]}, "camera_path[0].camera_to_world must be 16 numbers"),
    (
        {"camera_path": [{"camera_to_world": [2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], "fov": 50}]},
        "camera_path[0].camera_to_world: its upper-left 3 x 3 must be a rotation",
    ),
    (
        {"camera_path": [{"camera_to_world": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1], "fov": 50}]},
        "its last row must be 0 0 0 1",
    ),
    (
        {"camera_path": [{"camera_to_world": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], "fov": 180}]},
        "camera_path[0].fov (degrees) must be a number > 0 and < 180, got 180",
    ),
    ({"fps": -1}, "fps must be a number > 0, got -1"),
]


@pytest.mark.parametrize("changes,message", BAD, ids=[m[:30] for _, m in BAD])
def test_bad_fields_are_named(tmp_path, changes, message):
    path, _ = _path_file(tmp_path, **changes)
    with pytest.raises(UserError) as info:
        read_camera_path(path)
    assert str(info.value).startswith(f"camera path {path}:") and message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_camera_path(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match="is not JSON"):
        read_camera_path(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(UserError, match="must hold a JSON object"):
        read_camera_path(tmp_path / "list.json")
    path, _ = _path_file(tmp_path)
    data = json.loads(path.read_text())
    del data["render_width"]
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="lacks 'render_width'"):
        read_camera_path(path)
