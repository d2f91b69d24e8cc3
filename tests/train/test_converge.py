"""Converge-aware distillation: the schedule, the rule's verdicts, and real runs on the demo that stop
early, resume to the same end, and record why they stopped; the teacher's test renders are reused."""

import json
import math

import pytest
import torch

from pvd.cli import main
from pvd.errors import SpecError
from pvd.model import load_model
from pvd.train.converge import PlateauLR, StopConfig, StopRule


def _lrs(scheduler_factory, steps, fire=None):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.5)
    sched = scheduler_factory(opt)
    out = []
    for step in range(steps):
        opt.step()
        sched.step()
        if fire is not None and step + 1 == fire[0]:
            sched.fire(*fire)
        out.append(opt.param_groups[0]["lr"])
    return out, sched


def test_plateau_lr_is_the_cosine_until_it_fires_then_anneals_to_the_final_rate():
    cosine, _ = _lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=100, eta_min=1e-3), 100)
    plateau, _ = _lrs(lambda o: PlateauLR(o, 100, 1e-3), 100)
    assert plateau == pytest.approx(cosine, rel=1e-9)
    fired, sched = _lrs(lambda o: PlateauLR(o, 100, 1e-3), 60, fire=(40, 10))
    assert fired[:40] == pytest.approx(cosine[:40], rel=1e-9)
    assert sched.end == 50
    assert fired[44] < cosine[44] and fired[49] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(fired[39:50], fired[40:50])), "the tail only decreases"


def _rule(cap=100, start=0, **cfg):
    p = torch.nn.Parameter(torch.zeros(1))
    sched = PlateauLR(torch.optim.SGD([p], lr=0.1), cap, 0.0)
    return StopRule(StopConfig(rule="plateau", **cfg), cap, start, sched)


def _replay(rule, values, every=10, cap=100):
    """Feed ``values`` as curve points every ``every`` steps (the curve probe's), step by step as
    the engine does; returns the step the run ends at (``cap`` when it never ends early)."""
    curve = [{"step": 0, "psnr_vs_teacher": 0.0}]
    values = list(values)
    for done in range(1, cap + 1):
        if done % every == 0 and values:
            curve.append({"step": done, "psnr_vs_teacher": values.pop(0)})
        if rule.finished(done, curve):
            return done, curve
    return cap, curve


def test_rule_fires_on_a_plateau_of_the_best_value_not_on_noise():
    # points at 10, 20, ...; window 0.2 of 100 = 20 steps
    rule = _rule(window=0.2, min_gain=0.1)
    end, curve = _replay(rule, [20, 25, 24, 26, 26.05, 25.0, 26.08, 30])
    # best 26 at 40; at 60 the best (26.05) gained 0.05 over the best up to 40 -> plateau
    assert rule.scheduler.fired_at == 60 and end == 60 + round(0.25 * 60)
    stop = rule.describe(end, curve)
    assert stop["reason"] == "plateau" and stop["fired_at"] == 60 and stop["steps"] == end
    assert [h["step"] for h in stop["history"]][:6] == [10, 20, 30, 40, 50, 60]


def test_rule_target_and_a_rising_curve():
    rule = _rule(target=40.0)
    end, curve = _replay(rule, [30, 36, 41])
    assert rule.describe(end, curve)["reason"] == "target" and rule.scheduler.fired_at == 30
    rising = _rule(window=0.2, min_gain=0.1)
    end, curve = _replay(rising, [float(v) for v in range(10, 30)])
    assert end == 100 and rising.scheduler.fired_at is None, "a curve that still rises runs to the cap"
    assert rising.describe(end, curve)["reason"] == "cap"


def test_rule_watches_only_the_last_stage():
    rule = _rule(start=50, target=40.0)
    end, curve = _replay(rule, [99.0] * 10)
    assert rule.scheduler.fired_at == 60, "points up to the start are not read"
    assert [h["step"] for h in rule.describe(end, curve)["history"]][0] == 60


def test_the_rule_raises_the_curve_to_two_points_per_window():
    assert StopConfig(rule="plateau", window=0.2).curve_points(0) == 11
    assert StopConfig(rule="plateau", window=0.2).curve_points(20) == 20
    assert StopConfig(rule="off").curve_points(0) == 0


@pytest.mark.parametrize(
    "cfg,field",
    [
        ({"rule": "sometimes"}, "stop_rule"),
        ({"window": 0.0}, "stop_window"),
        ({"window": 1.5}, "stop_window"),
        ({"min_gain": math.nan}, "stop_min_gain"),
        ({"target": -1.0}, "stop_target"),
    ],
)
def test_bad_settings_name_the_option(cfg, field):
    with pytest.raises(SpecError) as err:
        StopConfig(**cfg).check()
    assert err.value.field == field


@pytest.fixture(scope="module")
def hash_teacher(demo_scene, tmp_path_factory):
    ws = tmp_path_factory.mktemp("converge_teacher")
    args = ["train", str(demo_scene), "--data_type", "synthetic", "--model_type", "hash", "--workspace", str(ws)]
    assert main([*args, "--iters", "150", "--batch_rays", "512", "--no_progress"]) == 0
    return ws / "checkpoint.pt"


def _distill(scene, teacher, ws, *extra):
    args = ["distill", str(scene), "--ckpt_teacher", str(teacher), "--model_type", "vm", "--workspace", str(ws)]
    return main([*args, "--iters", "60", "--batch_rays", "256", "--stage_iters", "4,8", "--no_progress", *extra])


STOPPING = ["--stop_rule", "plateau", "--stop_target", "15", "--curve_points", "0"]


def test_a_run_that_matched_its_teacher_stops_and_says_why(demo_scene, hash_teacher, tmp_path, capsys):
    ws = tmp_path / "ws"
    assert _distill(demo_scene, hash_teacher, ws, *STOPPING) == 0
    assert "stop rule: target, cap 60" in capsys.readouterr().out
    record = json.loads((ws / "record.json").read_text())
    stop = record["stop"]
    assert stop["rule"] == "plateau" and stop["reason"] == "target" and stop["cap"] == 60
    assert stop["fired_at"] is not None and record["iterations"] == stop["steps"] < 60
    assert stop["history"][-1]["psnr_vs_teacher"] >= 15
    assert record["config"]["distill"]["stop"]["target"] == 15
    assert record["curve"][-1]["step"] == record["iterations"], "the last step is probed"
    student = load_model(ws / "checkpoint.pt")  # a finished, standalone checkpoint
    assert student.meta.step == record["iterations"]
    off = tmp_path / "off"
    assert _distill(demo_scene, hash_teacher, off, "--stop_rule", "off") == 0
    assert json.loads((off / "record.json").read_text())["iterations"] == 60


def test_a_resumed_stopping_run_ends_where_the_uninterrupted_one_does(demo_scene, hash_teacher, tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    extra = [*STOPPING, "--ckpt_every", "5", "--seed", "3"]
    assert _distill(demo_scene, hash_teacher, full, *extra) == 0
    fired = json.loads((full / "record.json").read_text())["stop"]["fired_at"]
    assert _distill(demo_scene, hash_teacher, part, *extra, "--stop_at", str(fired + 1)) == 0
    assert not (part / "record.json").exists()
    assert _distill(demo_scene, hash_teacher, part, *extra, "--resume") == 0
    a, b = load_model(full / "checkpoint.pt"), load_model(part / "checkpoint.pt")
    for (name, x), (_, y) in zip(a.field.state_dict().items(), b.field.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)
    ra, rb = (json.loads((w / "record.json").read_text()) for w in (full, part))
    assert ra["stop"] == rb["stop"] and ra["iterations"] == rb["iterations"]
    assert ra["metrics"]["psnr_test"] == rb["metrics"]["psnr_test"]


def test_teacher_test_renders_are_made_once_per_checkpoint(demo_scene, hash_teacher, tmp_path):
    cache = hash_teacher.parent / "cache"
    for ws in ("a", "b"):
        assert _distill(demo_scene, hash_teacher, tmp_path / ws, "--iters", "8", "--stop_rule", "off") == 0
    entries = sorted(cache.glob("renders-*.pt"))
    assert len(entries) >= 1
    ra, rb = (json.loads((tmp_path / w / "record.json").read_text()) for w in "ab")
    assert ra["metrics"]["teacher_psnr_test"] == rb["metrics"]["teacher_psnr_test"]
    # a damaged entry is made again, with the same scores
    for entry in entries:
        entry.write_bytes(b"not a tensor file")
    assert _distill(demo_scene, hash_teacher, tmp_path / "c", "--iters", "8", "--stop_rule", "off") == 0
    rc = json.loads((tmp_path / "c" / "record.json").read_text())
    assert rc["metrics"]["teacher_psnr_test"] == ra["metrics"]["teacher_psnr_test"]
    assert all(e.stat().st_size > 100 for e in cache.glob("renders-*.pt"))
