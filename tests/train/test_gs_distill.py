"""Distillation with gs on either side, end to end through the CLI on the demo scene: gs -> hash
(point queries of the splat teacher in the ray engine) and hash -> gs (image-based, on the
teacher's renders)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pvd.cli import main
from pvd.model import load_model


def run(*args) -> int:
    return main([*map(str, args), "--no_progress"])


@pytest.fixture(scope="module")
def teachers(demo_scene, tmp_path_factory):
    root = tmp_path_factory.mktemp("gs_pairs")
    for arch, iters in (("gs", 300), ("hash", 200)):
        assert (
            run(
                "train",
                demo_scene,
                "--data_type",
                "synthetic",
                "--model_type",
                arch,
                "--workspace",
                root / arch,
                "--iters",
                iters,
            )
            == 0
        )
    return root


def distilled(teachers, demo_scene, teacher: str, student: str, iters: int) -> tuple[dict, dict]:
    """The metrics and the whole record of ``teacher``2``student`` distilled for ``iters`` steps."""
    ws = teachers / f"{teacher}2{student}"
    ckpt = teachers / teacher / "checkpoint.pt"
    assert (
        run("distill", demo_scene, "--ckpt_teacher", ckpt, "--model_type", student, "--workspace", ws, "--iters", iters)
        == 0
    )
    record = json.loads((ws / "record.json").read_text())
    assert record["pair"] == f"{teacher}2{student}" and load_model(ws / "checkpoint.pt").model_type == student
    return record["metrics"], record


def test_gs_teacher_distils_into_hash(teachers, demo_scene):
    metrics, record = distilled(teachers, demo_scene, "gs", "hash", 200)
    assert metrics["teacher_psnr_test"] > 20.0
    assert metrics["psnr_vs_teacher"] > 18.0  # the student follows the splats' volume rendering
    # the student marched on the teacher's grid grown by a cell (GRID_DILATION) and keeps its own
    # grid within that region: it occupies cells outside the teacher's grid as saved
    teacher_grid = load_model(teachers / "gs" / "checkpoint.pt").grid.occupied_fraction()
    assert record["grid_occupancy"] > teacher_grid
    assert "gaussians" not in record  # a fixed-size student


def test_hash_teacher_distils_into_gs(teachers, demo_scene):
    metrics, record = distilled(teachers, demo_scene, "hash", "gs", 200)
    assert metrics["psnr_vs_teacher"] > 20.0
    assert record["gaussians"] == len(load_model(Path(record["checkpoint"])).field)
    assert metrics["final_losses"]["rgb"] < 0.01
