"""`pvd edit` end to end: an edited teacher evaluates, renders and teaches through the unchanged
commands; the demo generator's ground truth of edits; bad input is one line and exit 2."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from pvd.cli import main
from pvd.data import load_split
from pvd.model import load_model


@pytest.fixture(scope="module")
def teacher(demo_scene, tmp_path_factory):
    ws = tmp_path_factory.mktemp("teacher")
    assert (
        main(
            [
                "train",
                str(demo_scene),
                "--data_type",
                "synthetic",
                "--model_type",
                "tensors",
                "--workspace",
                str(ws),
                "--iters",
                "30",
                "--batch_rays",
                "256",
                "--no_progress",
            ]
        )
        == 0
    )
    return ws / "checkpoint.pt"


def _serves_as_teacher(ckpt, model_type, student_type, demo_scene, tmp_path):
    """``ckpt`` (of ``model_type``) evaluates, renders a video and teaches a ``student_type`` through
    the CLI; its students inherit the edit's lowered density floor."""
    assert (
        main(
            [
                "evaluate",
                str(demo_scene),
                "--data_type",
                "synthetic",
                "--ckpt",
                str(ckpt),
                "--workspace",
                str(tmp_path / "eval"),
                "--no-lpips",
                "--no_progress",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["model_type"] == model_type
    assert (
        main(
            ["render", "--ckpt", str(ckpt), "--workspace", str(tmp_path / "video"), "--frames", "2", "--format", "gif"]
        )
        == 0
    )
    assert (
        main(
            [
                "distill",
                str(demo_scene),
                "--data_type",
                "synthetic",
                "--teacher_type",
                model_type,
                "--ckpt_teacher",
                str(ckpt),
                "--model_type",
                student_type,
                "--workspace",
                str(tmp_path / "student"),
                "--iters",
                "10",
                "--batch_rays",
                "128",
                "--no_progress",
            ]
        )
        == 0
    )
    student = load_model(tmp_path / "student" / "checkpoint.pt")
    assert student.meta.teacher_type == model_type and student.meta.density_range == (-10.0, 7.0)


def _sphere_box(scene):
    solids = {s["name"]: s for s in json.loads((scene / "solids.json").read_text())}
    return solids["striped_sphere"]["bbox_min"] + solids["striped_sphere"]["bbox_max"]


def test_edit_then_evaluate_render_and_distill(teacher, demo_scene, tmp_path):
    ws = tmp_path / "edited"
    assert (
        main(["edit", "--ckpt", str(teacher), "--workspace", str(ws), "--erase", *map(str, _sphere_box(demo_scene))])
        == 0
    )
    record = json.loads((ws / "record.json").read_text())
    assert record["kind"] == "edit" and record["program"]["operations"][0]["op"] == "erase"
    assert record["sources"][0]["model_type"] == "tensors" and len(record["sources"][0]["sha256"]) == 64
    assert 0 <= record["metrics"]["removed"] <= record["metrics"]["occupied_before"]
    edited = load_model(ws / "checkpoint.pt")
    assert edited.model_type == "edited"
    _serves_as_teacher(ws / "checkpoint.pt", "edited", "vm", demo_scene, tmp_path)


def test_baked_edit_is_a_tensors_teacher(teacher, demo_scene, tmp_path):
    """--bake: a plain tensors checkpoint that evaluate, render and distill --teacher_type tensors read."""
    ws = tmp_path / "baked"
    assert (
        main(
            [
                "edit",
                "--ckpt",
                str(teacher),
                "--workspace",
                str(ws),
                "--erase",
                *map(str, _sphere_box(demo_scene)),
                "--bake",
            ]
        )
        == 0
    )
    record = json.loads((ws / "record.json").read_text())
    assert record["baked"] is True and record["sources"][0]["model_type"] == "tensors"
    baked = load_model(ws / "checkpoint.pt")
    assert baked.model_type == "tensors" and baked.meta.density_range == (-10.0, 7.0)
    assert baked.meta.field_config == load_model(teacher).meta.field_config
    _serves_as_teacher(ws / "checkpoint.pt", "tensors", "hash", demo_scene, tmp_path)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--erase", "0", "0", "0", "0", "1", "1"], "operation 1 (erase): box is empty or inverted along x"),
        (
            ["--erase", "0", "0", "0", "5", "1", "1"],
            "operation 1 (erase): box [0, 0, 0] - [5, 1, 1] leaves the scene box",
        ),
        (["--program", "missing.yaml"], "edit program missing.yaml does not exist"),
    ],
)
def test_bad_edits_are_one_line(teacher, tmp_path, capsys, args, message):
    assert main(["edit", "--ckpt", str(teacher), "--workspace", str(tmp_path / "e"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("pvd edit: error:") and message in err
    assert not (tmp_path / "e" / "checkpoint.pt").exists()


def test_demo_ground_truth_of_edits(demo_scene, tmp_path):
    small = ["--size", "32", "--n_train", "16", "--n_val", "2", "--n_test", "3", "--seed", "0"]
    without = tmp_path / "without"
    assert main(["data", "demo", str(without), *small, "--without", "striped_sphere"]) == 0
    names = [s["name"] for s in json.loads((without / "solids.json").read_text())]
    assert names == ["disc", "checkered_box", "ringed_cylinder", "glossy_ball"]
    full, cut = (load_split(s, "synthetic", "test") for s in (demo_scene, without))
    assert torch.equal(full.cameras.c2w, cut.cameras.c2w)
    assert (cut.images[..., 3] <= full.images[..., 3] + 1e-6).all() and (cut.images[..., 3] < full.images[..., 3]).any()
    moved = tmp_path / "moved"
    assert (
        main(
            [
                "data",
                "demo",
                str(moved),
                *small,
                "--move",
                "glossy_ball",
                "-0.1",
                "-0.1",
                "0",
                "--insert",
                "1:striped_sphere",
                "0.5",
                "0",
                "0",
            ]
        )
        == 0
    )
    solids = {s["name"]: s for s in json.loads((moved / "solids.json").read_text())}
    before = {s["name"]: s for s in json.loads((demo_scene / "solids.json").read_text())}
    assert np.allclose(
        np.subtract(solids["glossy_ball"]["bbox_min"], before["glossy_ball"]["bbox_min"]), [-0.1, -0.1, 0]
    )
    assert "seed1_striped_sphere" in solids
    assert not np.array_equal(iio.imread(moved / "test" / "r_0.png"), iio.imread(demo_scene / "test" / "r_0.png"))


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--without", "teapot"], "--without 'teapot': no such solid; the demo scene has disc, striped_sphere"),
        (["--move", "glossy_ball", "1", "x", "0"], "--move glossy_ball: DX DY DZ must be numbers"),
        (["--move", "glossy_ball", "2", "0", "0"], "--move glossy_ball: the solid would reach"),
        (["--insert", "glossy_ball", "0", "0", "0"], "--insert 'glossy_ball': expected SEED:NAME"),
        (["--insert", "1:glossy_ball", "0", "0", "0", "--insert", "1:glossy_ball", "0", "0", "0"], "is given twice"),
    ],
)
def test_bad_demo_edits_are_one_line(tmp_path, capsys, flags, message):
    assert main(["data", "demo", str(tmp_path / "s"), "--size", "8", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err
    assert not (tmp_path / "s").exists()
