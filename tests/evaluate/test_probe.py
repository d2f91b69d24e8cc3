"""Learning-curve probes: where they measure, that they leave training unchanged, that the curve
survives --resume, and what the records hold."""

from __future__ import annotations

import json

import pytest
import torch

from pvd.cli import main
from pvd.data import load_split
from pvd.errors import SpecError
from pvd.evaluate.probe import CurveProbe, ProbeConfig, probe_views
from pvd.model import load_model
from pvd.train.loop import probe_steps

CURVE_KEYS = {"step", "seconds", "cpu_seconds", "psnr"}


def _curve(values: list[dict]) -> list[tuple]:
    """The seconds-free part of a curve: (step, psnr[, psnr_vs_teacher])."""
    return [(p["step"], p["psnr"], p.get("psnr_vs_teacher")) for p in values]


def _same_tensors(a, b):
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize(
    "iters, points, expected",
    [(100, 5, (0, 25, 50, 75, 100)), (3, 20, (0, 1, 2, 3)), (10, 1, (10,)), (10, 0, ()), (7, 2, (0, 7))],
)
def test_probe_steps_are_evenly_spaced_with_both_ends(iters, points, expected):
    assert probe_steps(iters, points) == expected


@pytest.mark.parametrize("n, k, expected", [(10, 4, [0, 3, 6, 9]), (3, 4, [0, 1, 2]), (5, 1, [0]), (200, 2, [0, 199])])
def test_probe_views_are_evenly_spaced(n, k, expected):
    assert probe_views(n, k) == expected


def test_probe_reduces_views_and_describes_them(demo_scene):
    test = load_split(demo_scene, "synthetic", "test")  # 3 views of 32 px
    probe = CurveProbe(test, ProbeConfig(points=3, views=2, size=10))
    assert probe.factor == 4 and probe.gt.shape == (2, 8, 8, 3)
    described = probe.describe()
    assert described["view_indices"] == [0, 2] and described["width"] == described["height"] == 8
    assert described["files"] == [test.files[0], test.files[2]]
    with pytest.raises(SpecError, match="^curve_points must be >= 0, got -1"):
        CurveProbe(test, ProbeConfig(points=-1))
    with pytest.raises(SpecError, match="^probe_size must be >= 1, got 0"):
        CurveProbe(test, ProbeConfig(size=0))


def _train(scene, ws, *extra):
    return main(
        [
            "train",
            str(scene),
            "--data_type",
            "synthetic",
            "--model_type",
            "hash",
            "--workspace",
            str(ws),
            "--iters",
            "30",
            "--batch_rays",
            "256",
            "--no_progress",
            "--seed",
            "2",
            "--ckpt_every",
            "10",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def teacher_runs(demo_scene, tmp_path_factory):
    """The same teacher run without probes, with 4 probes, and with 4 probes stopped at 20 then resumed."""
    root = tmp_path_factory.mktemp("probe_teacher")
    assert _train(demo_scene, root / "plain", "--curve_points", "0") == 0
    assert _train(demo_scene, root / "probed", "--curve_points", "4") == 0
    assert _train(demo_scene, root / "resumed", "--curve_points", "4", "--stop_at", "20") == 0
    assert _train(demo_scene, root / "resumed", "--curve_points", "4", "--resume") == 0
    return root


def test_probes_leave_the_trained_weights_unchanged(teacher_runs):
    plain, probed = (
        load_model(teacher_runs / "plain" / "checkpoint.pt"),
        load_model(teacher_runs / "probed" / "checkpoint.pt"),
    )
    _same_tensors(plain.field, probed.field)
    _same_tensors(plain.grid, probed.grid)
    assert "curve" not in json.loads((teacher_runs / "plain" / "record.json").read_text())


def test_teacher_record_holds_the_curve_and_the_probe_time_apart(teacher_runs):
    record = json.loads((teacher_runs / "probed" / "record.json").read_text())
    curve = record["curve"]
    assert [p["step"] for p in curve] == [0, 10, 20, 30]
    assert all(set(p) == CURVE_KEYS for p in curve)
    assert curve[0]["seconds"] == 0 or curve[0]["seconds"] < 0.5
    assert [p["seconds"] for p in curve] == sorted(p["seconds"] for p in curve)
    assert curve[-1]["seconds"] <= record["seconds"]
    assert curve[-1]["psnr"] > curve[0]["psnr"] + 1
    probe = record["curve_probe"]
    assert probe["view_indices"] == [0, 1, 2] and probe["points"] == 4
    assert probe["seconds"] > 0 and probe["cpu_seconds"] > 0


def test_resumed_curve_equals_the_uninterrupted_one(teacher_runs):
    full = json.loads((teacher_runs / "probed" / "record.json").read_text())
    resumed = json.loads((teacher_runs / "resumed" / "record.json").read_text())
    assert _curve(resumed["curve"]) == _curve(full["curve"])
    _same_tensors(
        load_model(teacher_runs / "probed" / "checkpoint.pt").field,
        load_model(teacher_runs / "resumed" / "checkpoint.pt").field,
    )


def test_student_curve_has_psnr_vs_teacher_and_probes_change_nothing(teacher_runs, demo_scene, tmp_path):
    ckpt = teacher_runs / "plain" / "checkpoint.pt"

    def distill(ws, *extra):
        return main(
            [
                "distill",
                str(demo_scene),
                "--data_type",
                "synthetic",
                "--teacher_type",
                "hash",
                "--ckpt_teacher",
                str(ckpt),
                "--model_type",
                "vm",
                "--workspace",
                str(ws),
                "--iters",
                "12",
                "--batch_rays",
                "256",
                "--no_progress",
                "--ckpt_every",
                "5",
                "--stop_rule",
                "off",  # the rule would raise the curve's points (tests/train/test_converge.py)
                *extra,
            ]
        )

    assert distill(tmp_path / "plain", "--curve_points", "0") == 0
    assert distill(tmp_path / "probed", "--curve_points", "3") == 0
    assert distill(tmp_path / "resumed", "--curve_points", "3", "--stop_at", "6") == 0
    assert distill(tmp_path / "resumed", "--curve_points", "3", "--resume") == 0
    models = {k: load_model(tmp_path / k / "checkpoint.pt") for k in ("plain", "probed", "resumed")}
    _same_tensors(models["plain"].field, models["probed"].field)
    _same_tensors(models["plain"].grid, models["probed"].grid)
    _same_tensors(models["plain"].field, models["resumed"].field)
    curve = json.loads((tmp_path / "probed" / "record.json").read_text())["curve"]
    assert [p["step"] for p in curve] == [0, 6, 12]
    assert all(set(p) == CURVE_KEYS | {"psnr_vs_teacher"} for p in curve)
    resumed = json.loads((tmp_path / "resumed" / "record.json").read_text())["curve"]
    assert _curve(resumed) == _curve(curve)
