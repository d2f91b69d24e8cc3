"""One lifecycle per run kind: library code runs a spec without argv, the CLI runs the same; data and
teacher types come from the checkpoint; the record's config is the spec as it ran."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pvd.cli import main
from pvd.runs import TrainSpec, run_train, spec_dict


@pytest.fixture(scope="module")
def teacher(demo_scene, tmp_path_factory) -> Path:
    """A hash teacher trained through the library (no argv): its workspace."""
    ws = tmp_path_factory.mktemp("lifecycle") / "hash"
    spec = TrainSpec(
        scene_dir=demo_scene,
        data_type="synthetic",
        model_type="hash",
        workspace=ws,
        iters=8,
        batch_rays=128,
        no_progress=True,
        curve_points=2,
        device="cpu",
    )
    outcome = run_train(spec)
    assert outcome.steps == 8 and outcome.psnr_test is not None
    record = json.loads((ws / "record.json").read_text())
    assert {k: record["config"][k] for k in spec_dict(spec)} == {
        **spec_dict(spec),
        **{"downscale": 1, "bound": 1.0, "scale": 0.8, "dt_gamma": 0.0},  # resolved: the dataset's defaults
    }
    assert record["device_request"] == "cpu"
    return ws


def test_distill_and_evaluate_take_the_types_from_the_checkpoint(teacher, demo_scene, tmp_path):
    student = tmp_path / "hash2vm"
    assert (
        main(
            [
                "distill",
                str(demo_scene),
                "--ckpt_teacher",
                str(teacher / "checkpoint.pt"),
                "--model_type",
                "vm",
                "--workspace",
                str(student),
                "--iters",
                "6",
                "--batch_rays",
                "128",
                "--no_progress",
                "--curve_points",
                "0",
            ]
        )
        == 0
    )
    record = json.loads((student / "record.json").read_text())
    assert record["pair"] == "hash2vm" and record["teacher_type"] == "hash" and record["data_type"] == "synthetic"
    assert record["config"]["teacher_type"] == "hash" and record["config"]["data_type"] == "synthetic"
    assert record["device_request"] == "auto" and record["device"] == "cpu"  # the default device, said
    ev = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                str(demo_scene),
                "--ckpt",
                str(student / "checkpoint.pt"),
                "--workspace",
                str(ev),
                "--no_lpips",
                "--no_progress",
            ]
        )
        == 0
    )
    assert json.loads((ev / "record.json").read_text())["data_type"] == "synthetic"


def test_a_type_that_disagrees_with_the_checkpoint_is_an_error(teacher, demo_scene, tmp_path, capsys):
    rc = main(
        [
            "distill",
            str(demo_scene),
            "--ckpt_teacher",
            str(teacher / "checkpoint.pt"),
            "--teacher_type",
            "vm",
            "--model_type",
            "vm",
            "--workspace",
            str(tmp_path / "s"),
        ]
    )
    assert rc == 2
    assert "--teacher_type vm does not match --ckpt_teacher" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600)])
def test_every_file_follows_the_umask(teacher, demo_scene, tmp_path, umask, mode):
    """Each command's outputs (checkpoint, record, metrics, renders, video, workspace identity) get
    0666 & ~umask, in real processes started with that umask."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    def pvd(*argv):
        out = subprocess.run(
            [sys.executable, "-m", "pvd.cli", *map(str, argv)],
            env=env,
            capture_output=True,
            text=True,
            preexec_fn=lambda: os.umask(umask),
        )
        assert out.returncode == 0, out.stderr

    ckpt = teacher / "checkpoint.pt"
    pvd(
        "distill",
        demo_scene,
        "--ckpt_teacher",
        ckpt,
        "--model_type",
        "mlp",
        "--workspace",
        tmp_path / "d",
        "--iters",
        "2",
        "--batch_rays",
        "64",
        "--no_progress",
        "--curve_points",
        "0",
    )
    pvd(
        "evaluate",
        demo_scene,
        "--ckpt",
        ckpt,
        "--workspace",
        tmp_path / "e",
        "--no_lpips",
        "--save_renders",
        "--no_progress",
    )
    pvd("render", "--ckpt", ckpt, "--workspace", tmp_path / "r", "--frames", "2", "--size", "16x16", "--no_progress")
    pvd("edit", "--ckpt", ckpt, "--workspace", tmp_path / "x", "--erase", 0, 0, 0, 0.1, 0.1, 0.1, "--grid_passes", 1)
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != ".pvd.lock"]
    assert len(files) > 10
    wrong = {
        str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in files
        if stat.S_IMODE(p.stat().st_mode) != mode
    }
    assert wrong == {}
