import json

import numpy as np
import pytest

from pvd.data import DATA_TYPES, DataError, Normalization, index_split, load_split, scene_normalization
from pvd.errors import UserError


def test_registry_keys():
    assert DATA_TYPES == ("synthetic", "llff", "tank", "capture")


@pytest.mark.parametrize(
    "data_type, split, message",
    [
        ("blender", "train", r"unknown data_type 'blender'; expected one of synthetic, llff, tank, capture"),
        ("synthetic", "training", r"unknown split 'training'; expected one of train, val, test"),
    ],
)
def test_unknown_names_are_user_errors(tmp_path, data_type, split, message):
    with pytest.raises(DataError, match=message) as info:
        load_split(tmp_path, data_type, split)
    assert isinstance(info.value, UserError)


def test_missing_scene_folder_and_bad_downscale(tmp_path, write_png):
    with pytest.raises(DataError, match="nowhere: scene folder not found"):
        index_split(tmp_path / "nowhere", "llff", "train")
    write_png(tmp_path / "a.png", np.zeros((4, 4, 4), np.uint8))
    frames = [{"file_path": "a", "transform_matrix": np.eye(4).tolist()}]
    (tmp_path / "transforms_train.json").write_text(json.dumps({"camera_angle_x": 1.0, "frames": frames}))
    for bad in (0, 1.5, "2"):
        with pytest.raises(DataError, match="downscale must be a positive integer"):
            load_split(tmp_path, "synthetic", "train", downscale=bad)
    split = load_split(tmp_path, "synthetic", "train", downscale=2)
    assert split.images.shape == (1, 2, 2, 4) and split.meta["format"] == "blender"


def test_scene_normalization_checks_arguments(tmp_path, write_png):
    write_png(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    frames = [{"file_path": "a", "transform_matrix": np.eye(4).tolist()}]
    (tmp_path / "transforms_train.json").write_text(json.dumps({"camera_angle_x": 1.0, "frames": frames}))
    split = index_split(tmp_path, "synthetic", "train")
    assert scene_normalization(split, "llff", 2.0, 0.33) == Normalization(2.0, 0.33, (0.0, 0.0, 0.0))
    with pytest.raises(DataError, match="scale must be a positive number"):
        scene_normalization(split, "synthetic", 1.0, 0.0)
    with pytest.raises(DataError, match="a tank scene needs bbox.txt"):
        scene_normalization(split, "tank", 1.0, 0.5)
    with pytest.raises(DataError, match="unknown data_type"):
        scene_normalization(split, "nerf", 1.0, 0.5)
