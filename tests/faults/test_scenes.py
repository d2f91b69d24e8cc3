"""Fault catalogue, scenes and checkpoints: degenerate cameras in every format, malformed camera
keys and checkpoint files that are not checkpoints -- one line naming the file (exit 2), no hang, and
no workspace written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fault_cases import edit_frames, train_args

ZERO = [[0.0] * 4 for _ in range(4)]


def _set(frame_key=None, doc_key=None, value=None, frame=0):
    def edit(doc):
        if frame_key is not None:
            doc["frames"][frame][frame_key] = value
        if doc_key is not None:
            doc[doc_key] = value

    return edit


def _scaled_pose(doc):
    m = np.asarray(doc["frames"][1]["transform_matrix"])
    m[:3, :3] *= 2.0
    doc["frames"][1]["transform_matrix"] = m.tolist()


# (split damaged, edit of its transforms json, text the message must hold)
BLENDER_CASES = {
    "zero pose in train": (
        "train",
        _set("transform_matrix", value=ZERO),
        "train/r_0.png: camera of view 0 of the 'train' split",
    ),
    "nan pose in train": (
        "train",
        _set("transform_matrix", value=[[float("nan")] * 4] * 4),
        "'transform_matrix' must be a finite 4x4 or 3x4 matrix",
    ),
    "scaled rotation": ("train", _scaled_pose, "the rotation part of its pose is not orthonormal"),
    "camera_angle_x 0": (
        "train",
        _set(doc_key="camera_angle_x", value=0),
        "'camera_angle_x' must be a field of view in radians between 0 and pi, got 0",
    ),
    "camera_angle_x negative": ("train", _set(doc_key="camera_angle_x", value=-0.5), "'camera_angle_x' must be"),
    "camera_angle_x above pi": ("train", _set(doc_key="camera_angle_x", value=4.0), "'camera_angle_x' must be"),
    "fl_x 0": ("train", _set("fl_x", value=0), "focal lengths must be positive"),
    "fl_x negative": ("train", _set("fl_x", value=-20), "focal lengths must be positive"),
    "cx infinite": ("train", _set("cx", value=float("inf")), "'cx' must be a finite number"),
    "pose 2x2": ("train", _set("transform_matrix", value=[[1, 0], [0, 1]]), "must be a finite 4x4 or 3x4 matrix"),
    "no frames": ("train", _set(doc_key="frames", value=[]), "expected a non-empty 'frames' list"),
    "w/h mismatch": ("train", _set("w", value=64), "w/h say 64x32"),
}


@pytest.mark.parametrize("case", list(BLENDER_CASES))
def test_bad_camera_in_the_train_split_stops_train(pvd, scene, tmp_path, case):
    split, edit, message = BLENDER_CASES[case]
    edit_frames(scene, split, edit)
    ws = tmp_path / "ws"
    result = pvd(*train_args(scene, ws))
    assert result.rc == 2
    assert message in result.line
    assert "transforms_train.json" in result.line or "/train/r_" in result.line  # names the file
    assert "diverge" not in result.err and not ws.exists()


def test_zero_pose_in_the_test_split_stops_evaluate_without_metrics(pvd, scene, teacher, tmp_path):
    edit_frames(scene, "test", _set("transform_matrix", value=ZERO, frame=1))
    ws = tmp_path / "eval"
    result = pvd(
        "evaluate",
        scene,
        "--data_type",
        "synthetic",
        "--ckpt",
        teacher / "checkpoint.pt",
        "--workspace",
        ws,
        "--no-lpips",
        "--no_progress",
    )
    assert result.rc == 2
    assert "test/r_1.png: camera of view 1 of the 'test' split" in result.line
    assert "not orthonormal" in result.line
    assert not ws.exists()


def test_one_frame_transforms_json_is_a_clear_error(pvd, scene, tmp_path):
    doc = json.loads((scene / "transforms_train.json").read_text())
    for split in ("train", "val", "test"):
        (scene / f"transforms_{split}.json").unlink()
    doc["frames"] = doc["frames"][:1]
    (scene / "transforms.json").write_text(json.dumps(doc))
    ws = tmp_path / "ws"
    result = pvd(*train_args(scene, ws))
    assert result.rc == 2
    assert "transforms.json: 1 frame(s) leave no 'train' views" in result.line
    assert not ws.exists()


def test_zero_pose_in_an_nsvf_scene(pvd, nsvf_scene, tmp_path):
    np.savetxt(nsvf_scene / "pose" / "0_002.txt", np.zeros((4, 4)))
    ws = tmp_path / "ws"
    result = pvd(
        "train",
        nsvf_scene,
        "--data_type",
        "tank",
        "--model_type",
        "hash",
        "--workspace",
        ws,
        "--iters",
        "2",
        "--no_progress",
    )
    assert result.rc == 2
    assert "rgb/0_002.png: camera of view 2 of the 'train' split" in result.line
    assert not ws.exists()


def test_nsvf_scene_with_good_cameras_loads(nsvf_scene):
    from pvd.data import index_split

    assert len(index_split(nsvf_scene, "tank", "train")) == 16


def test_zero_pose_in_an_llff_scene(pvd, llff_scene, tmp_path):
    rows = np.load(llff_scene / "poses_bounds.npy")
    pose = rows[3, :15].reshape(3, 5)
    pose[:, :4] = 0.0  # rotation and centre zero, height/width/focal kept
    rows[3, :15] = pose.reshape(-1)
    np.save(llff_scene / "poses_bounds.npy", rows)
    ws = tmp_path / "ws"
    result = pvd(
        "train",
        llff_scene,
        "--data_type",
        "llff",
        "--model_type",
        "hash",
        "--workspace",
        ws,
        "--iters",
        "2",
        "--no_progress",
    )
    assert result.rc == 2
    assert "images_4/003.png: camera of view 2 of the 'train' split" in result.line
    assert not ws.exists()


def test_llff_scene_with_good_cameras_loads(llff_scene):
    from pvd.data import index_split

    assert len(index_split(llff_scene, "llff", "train")) == 16


@pytest.mark.parametrize(
    "content,what", [(b"just some text\n", "text"), (b"", "empty"), (b"PK\x03\x04junk", "zip"), (None, "missing")]
)
def test_checkpoint_that_is_not_one(pvd, demo_scene, tmp_path, content, what):
    ckpt = tmp_path / "model.pt"
    if content is not None:
        ckpt.write_bytes(content)
    ws = tmp_path / "eval"
    result = pvd(
        "evaluate",
        demo_scene,
        "--data_type",
        "synthetic",
        "--ckpt",
        ckpt,
        "--workspace",
        ws,
        "--no-lpips",
        "--no_progress",
    )
    assert result.rc == 2
    expected = "does not exist" if content is None else "is truncated or not a pvd checkpoint"
    assert f"checkpoint {ckpt} {expected}" in result.line
    assert not ws.exists()


def test_teacher_checkpoint_that_is_text(pvd, demo_scene, tmp_path):
    ckpt = tmp_path / "teacher.pt"
    ckpt.write_text("hello\n")
    ws = tmp_path / "student"
    result = pvd(
        "distill",
        demo_scene,
        "--data_type",
        "synthetic",
        "--teacher_type",
        "hash",
        "--ckpt_teacher",
        ckpt,
        "--model_type",
        "vm",
        "--workspace",
        ws,
        "--no_progress",
    )
    assert result.rc == 2 and f"checkpoint {ckpt} is truncated or not a pvd checkpoint (KeyError" in result.line
    assert not ws.exists()


def test_teacher_type_that_does_not_match(pvd, demo_scene, teacher, tmp_path):
    ws = tmp_path / "student"
    result = pvd(
        "distill",
        demo_scene,
        "--data_type",
        "synthetic",
        "--teacher_type",
        "vm",
        "--ckpt_teacher",
        teacher / "checkpoint.pt",
        "--model_type",
        "mlp",
        "--workspace",
        ws,
        "--no_progress",
    )
    assert result.rc == 2 and "--teacher_type vm does not match --ckpt_teacher" in result.line
    assert not ws.exists()
