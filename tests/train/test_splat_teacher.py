"""A gs teacher distilled into a NeRF student: its rasterised views are the only targets
(pvd.train.splat_distill.from_splats), so no step evaluates the teacher's field at points, and the
schedule for that case comes from pvd.presets.distill_config."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_model

from pvd.data.poses import PoseSampler
from pvd.presets import arch_preset, distill_config
from pvd.runs.distill import DistillSpec
from pvd.train.distill import DistillConfig, distill
from pvd.train.splat_distill import from_splats, splat_targets


def test_gs_teacher_schedule_is_the_colour_term_alone_without_cutoff():
    plain = arch_preset("tiny", "hash").distill
    assert plain.stages.progressive and plain.visibility_cutoff > 0
    for teacher in ("hash", "vm", "mlp", "tensors", "edited", None):
        assert distill_config("tiny", "hash", teacher) == plain
    # tiny hash from a gs teacher: the colour term alone, no cut-off, 2.4 times the steps (each costs
    # 2.4 to 3 times less), no stopping rule; the rest of the schedule is the preset's
    cfg = distill_config("tiny", "hash", "gs")
    assert not cfg.stages.progressive and cfg.visibility_cutoff == 0.0
    assert cfg.iters == 2400 > plain.iters and not cfg.stop.enabled
    assert (cfg.lr, cfg.batch_rays, cfg.weight_decay) == (plain.lr, plain.batch_rays, plain.weight_decay)
    # students measured better with the plain schedule (mlp), not measured (vm, tensors, paper) and
    # gs students (they learn from images either way) keep the preset's
    for preset, student in (("tiny", "mlp"), ("tiny", "vm"), ("tiny", "tensors"), ("tiny", "gs"), ("paper", "hash")):
        assert distill_config(preset, student, "gs") == arch_preset(preset, student).distill


def test_set_options_override_the_gs_teacher_schedule(tmp_path):
    base = dict(scene_dir=tmp_path, workspace=tmp_path / "ws", ckpt_teacher=tmp_path / "t.pt", model_type="hash")
    cfg = DistillSpec(**base).engine_config("gs")
    assert not cfg.stages.progressive and cfg.visibility_cutoff == 0.0 and cfg.iters == 2400
    cfg = DistillSpec(**base, stages="progressive", visibility_cutoff=0.01, iters=50).engine_config("gs")
    assert cfg.stages.progressive and cfg.visibility_cutoff == 0.01 and cfg.iters == 50
    # the spec's own teacher_type is used when the caller gives none
    assert not DistillSpec(**base, teacher_type="gs").engine_config().stages.progressive
    assert DistillSpec(**base).engine_config().stages.progressive


def _field_calls(model) -> list[int]:
    calls: list[int] = []
    model.field.register_forward_hook(lambda m, inp, out: calls.append(inp[0].shape[0]))
    return calls


@pytest.mark.parametrize("splat_schedule", [True, False])
def test_gs_teacher_field_is_not_evaluated_on_its_rasterised_targets(scene, tmp_path, splat_schedule):
    """With the gs-teacher schedule every ray's target is a rasterised pixel and the colour term is
    the only one: the teacher's point field (an approximation of its splats) is never queried. The
    plain schedule (per-sample terms, visibility cut-off) queries it at every step."""
    index, norm = scene
    torch.manual_seed(0)
    teacher, student = tiny_model("gs", norm, n_init=300), tiny_model("hash", norm, kind="student")
    sampler = PoseSampler(index.cameras, "synthetic", n_poses=4)
    real = splat_targets(teacher, sampler, 0, torch.device("cpu"))
    cfg = DistillConfig(iters=4, batch_rays=64, ckpt_every=0, student_grid="teacher", real_ray_fraction=1.0)
    if splat_schedule:
        cfg = from_splats(cfg)
    teacher_calls, student_calls = _field_calls(teacher), _field_calls(student)
    result = distill(teacher, student, sampler, cfg, tmp_path, torch.device("cpu"), progress=False, real=real)
    assert len(student_calls) == 4 and all(n > 0 for n in student_calls)
    if splat_schedule:
        assert teacher_calls == [] and set(result.final_losses) == {"rgb", "total"}
    else:
        assert len(teacher_calls) == 4 and {"density", "color"} <= set(result.final_losses)
