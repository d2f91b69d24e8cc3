"""Stage scheduling: which terms are active at which step; the tensors skip; decay; ablation."""

import pytest

from pvd.errors import SpecError, UserError
from pvd.train.stages import StageConfig, StageSchedule, default_stage_iters, parse_stage_iters


def test_default_boundaries_scale_with_run_length():
    assert default_stage_iters(30000) == (2000, 5000)
    assert default_stage_iters(600) == (40, 100)
    sched = StageSchedule(StageConfig(), 3000, has_feature=True)
    assert sched.boundaries == (200, 500)


def test_active_terms_per_stage():
    sched = StageSchedule(StageConfig(stage_iters=(10, 30)), 100, has_feature=True)
    assert [s.name for s in sched.stages] == ["feature", "density_color", "rgb"]
    assert sched.weights_at(0).active() == ("feature",)
    assert sched.weights_at(9).active() == ("feature",)
    assert sched.weights_at(10).active() == ("feature", "density", "color")
    assert sched.weights_at(29).active() == ("feature", "density", "color")
    assert sched.weights_at(30).active() == ("feature", "density", "color", "rgb")
    assert sched.weights_at(99).active() == ("feature", "density", "color", "rgb")
    w = sched.weights_at(50)
    assert (w.density, w.color, w.rgb, w.depth) == (0.002, 0.002, 1.0, 0.0)
    assert not sched.weights_at(29).needs_render and sched.weights_at(30).needs_render
    assert sched.describe() == [
        {"name": "feature", "start": 0, "end": 10, "iterations": 10},
        {"name": "density_color", "start": 10, "end": 30, "iterations": 20},
        {"name": "rgb", "start": 30, "end": 100, "iterations": 70},
    ]


def test_feature_weight_decays_every_step():
    sched = StageSchedule(StageConfig(stage_iters=(10, 30)), 100, has_feature=True)
    assert sched.weights_at(0).feature == pytest.approx(0.002 * 0.995)
    assert sched.weights_at(9).feature == pytest.approx(0.002 * 0.995**10)
    assert sched.weights_at(60).feature == pytest.approx(0.002 * 0.995**61)


def test_tensors_skip_feature_stage():
    sched = StageSchedule(StageConfig(stage_iters=(10, 30)), 100, has_feature=False)
    assert [(s.name, s.start, s.end) for s in sched.stages] == [("density_color", 0, 30), ("rgb", 30, 100)]
    assert sched.weights_at(0).active() == ("density", "color")
    assert sched.weights_at(40).active() == ("density", "color", "rgb")
    assert sched.weights_at(40).feature == 0.0


def test_ablation_and_all_terms_from_start():
    rgb_only = StageSchedule(StageConfig(progressive=False), 100, has_feature=True)
    assert [s.name for s in rgb_only.stages] == ["rgb_only"]
    assert all(rgb_only.weights_at(k).active() == ("rgb",) for k in (0, 50, 99))
    al = StageSchedule(StageConfig(stage_iters=(0, 0), depth_weight=0.1), 100, has_feature=True)
    assert [s.name for s in al.stages] == ["rgb"]
    assert al.weights_at(0).active() == ("feature", "density", "color", "rgb", "depth")


def test_boundaries_beyond_run_and_bad_input():
    sched = StageSchedule(StageConfig(stage_iters=(50, 500)), 100, has_feature=True)
    assert [(s.name, s.end) for s in sched.stages] == [("feature", 50), ("density_color", 100)]
    assert sched.stage_at(99).name == "density_color"
    assert parse_stage_iters("2000,5000") == (2000, 5000)
    with pytest.raises(SpecError, match="^stage_iters '2000': expected two integers"):
        parse_stage_iters("2000")
    with pytest.raises(SpecError, match="^stage_iters 30,10: expected 0 <= S1 <= S2"):
        StageSchedule(StageConfig(stage_iters=(30, 10)), 100, True)
    with pytest.raises(UserError, match="feature_decay"):
        StageSchedule(StageConfig(feature_decay=1.5), 100, True)


def test_stage_warmup_ramps_the_rate_after_each_stage_change():
    sched = StageSchedule(StageConfig(stage_iters=(10, 30), warmup=0.05), 100, has_feature=True)
    assert sched.warmup_steps == 5
    assert [sched.lr_factor(k) for k in range(0, 10)] == [1.0] * 10  # the first stage: no ramp
    assert [sched.lr_factor(k) for k in range(10, 16)] == [0.2, 0.4, 0.6, 0.8, 1.0, 1.0]
    assert [sched.lr_factor(k) for k in range(30, 36)] == [0.2, 0.4, 0.6, 0.8, 1.0, 1.0]
    assert sched.lr_factor(99) == 1.0
    off = StageSchedule(StageConfig(stage_iters=(10, 30)), 100, has_feature=True)
    assert {off.lr_factor(k) for k in range(100)} == {1.0}
    single = StageSchedule(StageConfig(progressive=False, warmup=0.5), 100, has_feature=True)
    assert {single.lr_factor(k) for k in range(100)} == {1.0}
    with pytest.raises(UserError, match="warmup must be in \\[0, 1\\), got 1.0"):
        StageSchedule(StageConfig(warmup=1.0), 100, True)
