"""Fault catalogue, flags: every bad flag is refused up front with one line naming it (exit 2), and
nothing is written -- not even the workspace folder."""

from __future__ import annotations

import pytest
from fault_cases import train_args

# (extra flags of `pvd train`, text the message must hold)
TRAIN_FLAGS = [
    (["--bound", "inf"], "--bound must be a finite number, got inf"),
    (["--bound", "nan"], "--bound must be a finite number, got nan"),
    (["--bound", "-1"], "--bound must be > 0, got -1.0"),
    (["--scale", "inf"], "--scale must be a finite number, got inf"),
    (["--scale", "0"], "--scale must be > 0, got 0.0"),
    (["--dt_gamma", "inf"], "--dt_gamma must be a finite number, got inf"),
    (["--dt_gamma", "-0.5"], "--dt_gamma must be >= 0, got -0.5"),
    (["--lr", "inf"], "--lr must be a finite number, got inf"),
    (["--lr", "0"], "--lr must be > 0, got 0.0"),
    (["--lr", "abc"], "argument --lr: expected a number, got 'abc'"),
    (["--density_range", "0", "inf"], "--density_range must be a finite number, got inf"),
    (["--density_range", "3", "1"], "--density_range LO must be < HI"),
    (["--init_points", "cloud.obj"], "--init_points expects auto, random or a points3D.bin"),
    (["--init_points", "random"], "--init_points applies to gs teachers only, not to hash"),
    (["--max_gaussians", "0"], "--max_gaussians must be >= 1, got 0"),
    (["--max_gaussians", "100"], "--max_gaussians applies to gs teachers only, not to hash"),
    (["--downscale", "0"], "--downscale must be >= 1, got 0"),
    (["--iters", "0"], "--iters must be >= 1, got 0"),
    (["--batch_rays", "-4"], "--batch_rays must be >= 1, got -4"),
    (["--stop_at", "0"], "--stop_at must be >= 1, got 0"),
    (["--ckpt_every", "-1"], "--ckpt_every must be >= 0"),
    (["--resume", "--overwrite"], "--resume and --overwrite contradict each other"),
    (["--threads", "0"], "--threads must be >= 1, got 0"),
    (["--device", "tpu"], "--device 'tpu'"),
]


@pytest.mark.parametrize("extra,message", TRAIN_FLAGS, ids=[" ".join(f) for f, _ in TRAIN_FLAGS])
def test_train_flag_is_refused_before_anything_is_written(pvd, demo_scene, tmp_path, extra, message):
    ws = tmp_path / "ws"
    result = pvd(*train_args(demo_scene, ws, "hash", *extra))
    assert result.rc == 2
    assert message in result.line
    assert not ws.exists()


def test_missing_scene_folder_is_named(pvd, tmp_path):
    result = pvd(*train_args(tmp_path / "nowhere", tmp_path / "ws"))
    assert result.rc == 2 and f"SCENE_DIR {tmp_path / 'nowhere'} is not a directory" in result.line
    assert not (tmp_path / "ws").exists()


DISTILL_FLAGS = [
    (["--real_ray_fraction", "nan"], "--real_ray_fraction must be a finite number, got nan"),
    (["--depth_loss", "inf"], "--depth_loss must be a finite number, got inf"),
    (["--depth_loss", "-1"], "--depth_loss must be >= 0"),
    (["--weight_decay", "-1"], "--weight_decay must be >= 0"),
    (["--visibility_cutoff", "inf"], "--visibility_cutoff must be a finite number, got inf"),
    (["--poses_per_epoch", "0"], "--poses_per_epoch must be >= 1"),
]


@pytest.mark.parametrize("extra,message", DISTILL_FLAGS, ids=[" ".join(f) for f, _ in DISTILL_FLAGS])
def test_distill_flag_is_refused_before_anything_is_written(pvd, demo_scene, teacher, tmp_path, extra, message):
    ws = tmp_path / "ws"
    result = pvd(
        "distill",
        demo_scene,
        "--data_type",
        "synthetic",
        "--teacher_type",
        "hash",
        "--ckpt_teacher",
        teacher / "checkpoint.pt",
        "--model_type",
        "vm",
        "--workspace",
        ws,
        "--no_progress",
        *extra,
    )
    assert result.rc == 2
    assert message in result.line
    assert not ws.exists()


RENDER_EVAL_FLAGS = [
    (["render", "--fps", "inf"], "--fps must be a finite number, got inf"),
    (["render", "--fps", "0"], "--fps must be > 0"),
    (["render", "--size", "0x10"], "--size"),
    (["evaluate", "--downscale", "0"], "--downscale must be >= 1, got 0"),
]


@pytest.mark.parametrize("extra,message", RENDER_EVAL_FLAGS, ids=[" ".join(f) for f, _ in RENDER_EVAL_FLAGS])
def test_render_and_evaluate_flags(pvd, demo_scene, teacher, tmp_path, extra, message):
    ws = tmp_path / "ws"
    verb, *flags = extra
    scene = [demo_scene, "--data_type", "synthetic"]
    result = pvd(verb, *scene, "--ckpt", teacher / "checkpoint.pt", "--workspace", ws, "--no_progress", *flags)
    assert result.rc == 2
    assert message in result.line
    assert not ws.exists()


def test_malformed_sha256_is_refused_before_any_download(pvd, tmp_path):
    root = tmp_path / "data"
    result = pvd(
        "data",
        "download",
        "synthetic",
        "--root",
        root,
        "--url",
        "http://127.0.0.1:9/never.zip",
        "--sha256",
        "not-a-digest",
    )
    assert result.rc == 2
    assert "--sha256 'not-a-digest': expected a SHA-256 digest" in result.line
    assert not root.exists()


def test_download_root_that_is_a_file(pvd, tmp_path):
    root = tmp_path / "data.txt"
    root.write_text("not a folder\n")
    result = pvd("data", "download", "synthetic", "--root", root, "--url", "http://127.0.0.1:9/never.zip")
    assert result.rc == 2
    assert f"--root {root} is a file" in result.line
    assert root.read_text() == "not a folder\n"
