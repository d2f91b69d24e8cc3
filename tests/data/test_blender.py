import json
import math

import numpy as np
import pytest
import torch

from pvd.data import DataError, index_split, load_split
from pvd.data.images import image_size


@pytest.fixture(scope="module")
def lego_train_small(lego_dir):
    """The lego train split at 1/8 size (read once for this module)."""
    return load_split(lego_dir, "synthetic", "train", downscale=8)


def test_lego_counts_sizes_and_intrinsics_at_full_resolution(lego_dir):
    meta = json.loads((lego_dir / "transforms_train.json").read_text())
    focal = 0.5 * 800 / math.tan(0.5 * meta["camera_angle_x"])
    for split, n in (("train", 100), ("test", 200)):
        index = index_split(lego_dir, "synthetic", split)
        assert len(index) == n
        assert (index.cameras.width, index.cameras.height) == (800, 800)
        assert all(image_size(f) == (800, 800) for f in index.files[::37])
        torch.testing.assert_close(index.cameras.fx, torch.full((n,), focal))
        torch.testing.assert_close(index.cameras.cx, torch.full((n,), 400.0))
        assert index.files[:2] == (str(lego_dir / split / "r_0.png"), str(lego_dir / split / "r_1.png"))
        expected = torch.tensor(meta["frames"][1]["transform_matrix"]) if split == "train" else None
        if expected is not None:
            torch.testing.assert_close(index.cameras.c2w[1], expected)


def test_lego_loads_rgba_with_scaled_intrinsics(lego_train_small, lego_dir):
    split = lego_train_small
    assert split.images.shape == (100, 100, 100, 4) and split.has_alpha
    assert split.images.dtype == torch.float32
    assert 0.0 <= float(split.images.min()) and float(split.images.max()) <= 1.0
    assert float(split.images[:, 0, 0, 3].max()) == 0.0  # corners are background
    assert 0.05 < float(split.images[..., 3].mean()) < 0.6
    full = index_split(lego_dir, "synthetic", "train")
    torch.testing.assert_close(split.cameras.fx, full.cameras.fx / 8)
    assert split.meta["downscale"] == 8 and split.files == full.files


def test_missing_split_names_the_file(lego_dir):
    with pytest.raises(DataError, match="transforms_val.json: split file not found"):
        index_split(lego_dir, "synthetic", "val")


def _scene(root, write_png, frames, size=(6, 4), **global_keys):
    rng = np.random.default_rng(0)
    for frame in frames:
        name = frame["file_path"]
        name = name if name.endswith(".png") else name + ".png"
        write_png(root / name, rng.integers(0, 256, (size[1], size[0], 4), dtype=np.uint8))
    return {**global_keys, "frames": frames}


def _pose(x):
    m = np.eye(4)
    m[:3, 3] = [x, 0.0, 4.0]
    return m.tolist()


def test_per_frame_intrinsics_extensions_and_3x4_poses(tmp_path, write_png):
    frames = [
        {"file_path": "./train/a.png", "transform_matrix": _pose(0)[:3], "fl_x": 5.0, "cx": 2.5},
        {"file_path": "train/b", "transform_matrix": _pose(1), "fl_x": 6.0, "fl_y": 7.0},
    ]
    doc = _scene(tmp_path, write_png, frames, cy=1.5, camera_angle_x=1.0)
    (tmp_path / "transforms_train.json").write_text(json.dumps(doc))
    split = load_split(tmp_path, "synthetic", "train")
    cams = split.cameras
    torch.testing.assert_close(cams.fx, torch.tensor([5.0, 6.0]))
    torch.testing.assert_close(cams.fy, torch.tensor([5.0, 7.0]))
    torch.testing.assert_close(cams.cx, torch.tensor([2.5, 3.0]))
    torch.testing.assert_close(cams.cy, torch.tensor([1.5, 1.5]))
    assert split.files[1].endswith("train/b.png") and split.images.shape == (2, 4, 6, 4)
    torch.testing.assert_close(cams.c2w[1, :3, 3], torch.tensor([1.0, 0.0, 4.0]))


def test_single_transforms_json_holds_out_every_8th_frame(tmp_path, write_png):
    frames = [{"file_path": f"images/{i:03d}", "transform_matrix": _pose(i)} for i in range(18)]
    doc = _scene(
        tmp_path,
        write_png,
        frames,
        fl_x=5.0,
        fl_y=5.5,
        cx=3.1,
        cy=2.2,
        w=6,
        h=4,
        k1=0.0,
        k2=0.0,
        p1=0.0,
        p2=0.0,
        aabb_scale=16,
    )
    (tmp_path / "transforms.json").write_text(json.dumps(doc))
    test = index_split(tmp_path, "synthetic", "test")
    train = index_split(tmp_path, "synthetic", "train")
    assert test.meta["frame_indices"] == [0, 8, 16]
    assert len(train) == 15 and 8 not in train.meta["frame_indices"]
    assert test.meta["aabb_scale"] == 16 and test.meta["holdout_every"] == 8
    torch.testing.assert_close(test.cameras.c2w[:, 0, 3], torch.tensor([0.0, 8.0, 16.0]))
    half = index_split(tmp_path, "synthetic", "train", downscale=2)
    assert (half.cameras.width, half.cameras.height) == (3, 2)
    torch.testing.assert_close(half.cameras.cx, torch.full((15,), 1.55))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"k1": 0.01}, r"lens distortion \{'k1': 0.01\}: read this capture with data_type capture"),
        ({"w": 7}, "w/h say 7x4 but"),
        ({"camera_angle_x": None, "fl_x": None}, "no focal length"),
        ({"transform_matrix": [[1, 0], [0, 1]]}, r"'transform_matrix' must be a finite 4x4 or 3x4"),
        ({"file_path": "train/nowhere"}, r"image 'train/nowhere' not found"),
    ],
)
def test_bad_frames_raise_one_clear_error(tmp_path, write_png, change, message):
    frames = [{"file_path": f"train/{i}", "transform_matrix": _pose(i)} for i in range(3)]
    doc = _scene(tmp_path, write_png, frames, camera_angle_x=0.7)
    frame = doc["frames"][1]
    for key, value in change.items():
        if value is None:
            doc.pop(key, None)
        else:
            frame[key] = value
    (tmp_path / "transforms_train.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=message) as info:
        index_split(tmp_path, "synthetic", "train")
    assert "transforms_train.json" in str(info.value)


def test_unreadable_png_and_broken_json_are_reported(tmp_path, write_png):
    frames = [{"file_path": f"train/{i}", "transform_matrix": _pose(i)} for i in range(3)]
    doc = _scene(tmp_path, write_png, frames, camera_angle_x=0.7)
    (tmp_path / "transforms_train.json").write_text(json.dumps(doc))
    (tmp_path / "train" / "2.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match="2.png: unreadable image"):
        load_split(tmp_path, "synthetic", "train")
    (tmp_path / "transforms_test.json").write_text("{not json")
    with pytest.raises(DataError, match="transforms_test.json: not readable as JSON"):
        index_split(tmp_path, "synthetic", "test")
