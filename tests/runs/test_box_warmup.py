"""``pvd train`` on a capture: the warm-up shrinks the automatic box, resume keeps it, a hand-set box
skips it."""

from __future__ import annotations

import json

import pytest
import torch

from pvd.data import index_split
from pvd.data.demo import DemoConfig
from pvd.data.demo_capture import CaptureOptions, write_demo_capture
from pvd.model import read_checkpoint
from pvd.runs import TrainSpec, run_train
from pvd.runs.spec import SpecError


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    return write_demo_capture(
        tmp_path_factory.mktemp("warm") / "cap",
        DemoConfig(size=16, n_train=12, n_val=2, n_test=2, spp=1),
        CaptureOptions(),
    )


def _spec(capture, ws, **kw) -> TrainSpec:
    # the tiny preset prunes the occupancy grid from step 64: the shortest useful warm-up is 65 steps
    settings = {"iters": 70, "batch_rays": 1024, "box_warmup": 69, **kw}
    return TrainSpec(
        scene_dir=capture,
        data_type="capture",
        model_type="hash",
        workspace=ws,
        no_progress=True,
        curve_points=0,
        device="cpu",
        **settings,
    )


def test_the_warm_up_shrinks_the_box_and_resume_keeps_it(capture, tmp_path, capsys):
    seen = index_split(capture, "capture", "train").meta["box"]
    ws = tmp_path / "ws"
    assert run_train(_spec(capture, ws, stop_at=1)).psnr_test is None
    assert capsys.readouterr().out.count("box warm-up (69 steps)") == 1
    stopped = read_checkpoint(ws / "checkpoint.pt").meta.normalization
    assert stopped.scale > seen["scale"]  # the demo scene fills part of the seen region
    run_train(_spec(capture, ws, resume=True))
    assert "box warm-up" not in capsys.readouterr().out  # the box of the first warm-up, from the checkpoint
    assert read_checkpoint(ws / "checkpoint.pt").meta.normalization == stopped
    box = json.loads((ws / "record.json").read_text())["scene_box"]
    assert box["rule"] == "seen" and box["scale"] == seen["scale"]  # the automatic box, then the warm-up's
    assert box["warmup"]["resumed"] and box["warmup"]["scale"] == pytest.approx(stopped.scale)


def test_a_warm_up_that_cannot_prune_is_a_clear_error(capture, tmp_path):
    with pytest.raises(SpecError, match="box_warmup.*must exceed the preset's 64 steps"):
        run_train(_spec(capture, tmp_path / "short", box_warmup=20))


def test_a_box_set_by_hand_has_no_warm_up(capture, tmp_path, capsys):
    ws = tmp_path / "hand"
    run_train(_spec(capture, ws, box_centre=(0.1, -0.2, 0.3), scale=0.7, iters=4))
    assert "box warm-up" not in capsys.readouterr().out
    norm = read_checkpoint(ws / "checkpoint.pt").meta.normalization
    assert norm.scale == 0.7
    centre = norm.to_box(torch.tensor([[0.1, -0.2, 0.3]], dtype=torch.float64))
    assert float(centre.abs().max()) < 1e-6
    assert "warmup" not in json.loads((ws / "record.json").read_text())["scene_box"]


def test_a_run_too_short_for_a_warm_up_says_so(capture, tmp_path, capsys):
    ws = tmp_path / "short_run"
    run_train(_spec(capture, ws, iters=4))
    assert "no box warm-up: the run's 4 steps are too few" in capsys.readouterr().out
    assert "warmup" not in json.loads((ws / "record.json").read_text())["scene_box"]
