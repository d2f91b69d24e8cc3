"""Distillation loop: frozen teacher, one march for both fields, student init, own grid, PVD-AL parts."""

import pytest
import torch
from tiny_models import tiny_model

from pvd.data.cameras import Rays
from pvd.data.poses import PoseSampler
from pvd.render import Renderer
from pvd.train.active import ActiveConfig, HardPoseTracker, HardRayPool, top_weight_mask
from pvd.train.distill import DistillConfig, distill, init_student, rebuild_grid
from pvd.train.stages import StageConfig


def test_teacher_frozen_and_both_fields_see_identical_samples(scene, tmp_path, monkeypatch):
    """One march per step: both fields get the very same positions and directions, the teacher
    without grad; its parameters never change and never receive a gradient."""
    index, norm = scene
    torch.manual_seed(0)
    teacher, student = tiny_model("hash", norm), tiny_model("vm", norm, kind="student")
    init_student(student, teacher, "teacher")
    before = {k: v.clone() for k, v in teacher.field.state_dict().items()}
    student_before = {k: v.clone() for k, v in student.field.state_dict().items()}

    seen = {"teacher": [], "student": []}
    for name, model in (("teacher", teacher), ("student", student)):
        model.field.register_forward_hook(
            lambda m, inp, out, name=name: seen[name].append((inp[0].clone(), inp[1].clone(), torch.is_grad_enabled()))
        )
    composites = []
    original = Renderer.composite
    monkeypatch.setattr(
        Renderer,
        "composite",
        lambda self, s, out, bg: composites.append((s, out, bg.clone())) or original(self, s, out, bg),
    )

    cfg = DistillConfig(
        iters=6, batch_rays=96, stages=StageConfig(stage_iters=(2, 4)), ckpt_every=0, student_grid="teacher"
    )
    distill(
        teacher,
        student,
        PoseSampler(index.cameras, "synthetic", n_poses=4),
        cfg,
        tmp_path,
        torch.device("cpu"),
        progress=False,
    )

    assert len(seen["teacher"]) == len(seen["student"]) == 6
    for (tx, td, t_grad), (sx, sd, s_grad) in zip(seen["teacher"], seen["student"]):
        assert tx.shape[0] > 0 and torch.equal(tx, sx) and torch.equal(td, sd)
        assert not t_grad and s_grad
    # the RGB stage (steps 4, 5) composites student then teacher on the same samples and backgrounds
    assert len(composites) == 4
    for (s_s, out_s, bg_s), (s_t, out_t, bg_t) in zip(composites[::2], composites[1::2]):
        assert s_t is s_s and torch.equal(bg_t, bg_s)
        assert out_s.rgb.requires_grad and not out_t.rgb.requires_grad  # student's, then teacher's
        assert bg_t.shape == (96, 3) and bg_t.std() > 0.1  # random per-ray backgrounds
    for name, value in teacher.field.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert all(p.grad is None and not p.requires_grad for p in teacher.field.parameters())
    assert not teacher.field.training
    assert any(not torch.equal(v, student_before[k]) for k, v in student.field.state_dict().items())


def test_init_student_copies_matching_tensors(scene):
    _, norm = scene
    torch.manual_seed(1)
    teacher = tiny_model("hash", norm)
    teacher.grid.occupancy[0, :4] = False
    same = tiny_model("hash", norm, kind="student")
    copied = init_student(same, teacher, "teacher")
    assert copied == list(teacher.field.state_dict())
    for k, v in teacher.field.state_dict().items():
        assert torch.equal(v, same.field.state_dict()[k])
    cross = tiny_model("mlp", norm, kind="student")
    copied = init_student(cross, teacher, "teacher")
    assert copied and all(k.startswith(("sigma_net.", "color_net.")) for k in copied)
    assert not any(k.startswith("trunk.") for k in copied)
    scratch = tiny_model("hash", norm, kind="student")
    assert init_student(scratch, teacher, "scratch") == []
    assert not torch.equal(scratch.field.table, teacher.field.table)
    for student in (same, cross, scratch):  # the teacher's grid is always shared for marching
        assert torch.equal(student.grid.occupancy, teacher.grid.occupancy)


def test_rebuild_grid_follows_the_students_own_density(scene):
    _, norm = scene
    res = 8
    student = tiny_model("tensors", norm, kind="student", resolution=res)
    x_index = torch.arange(res**3) % res
    with torch.no_grad():
        student.field.grid[:, 0] = torch.where(x_index >= res // 2, 7.0, -2.0)  # dense where x > 0
    student.grid.seen[0, :, :, :2] = False  # cells no camera saw
    student.grid.occupancy.fill_(True)
    share = rebuild_grid(student, 4, torch.Generator().manual_seed(0))
    occ = student.grid.occupancy[0]
    r = occ.shape[0]
    centre_x = (torch.arange(r) + 0.5) / r * 2 - 1
    occupied_x = centre_x[occ.nonzero()[:, 0]]
    assert occupied_x.min() > -0.3  # nothing far into the empty half
    assert occ[centre_x > 0.3][:, :, 2:].all()  # the dense half is kept
    assert not occ[:, :, :2].any()  # unseen cells stay empty
    assert share == pytest.approx(occ.float().mean().item())
    # restricted to a region (the teacher's occupied cells): nothing outside it, the rest unchanged
    region = torch.zeros_like(student.grid.occupancy)
    region[0, :, : r // 2] = True
    unmasked = occ.clone()
    rebuild_grid(student, 4, torch.Generator().manual_seed(0), region)
    assert torch.equal(student.grid.occupancy[0], unmasked & region[0])
    assert (unmasked & ~region[0]).any(), "the region removed something"


def test_top_weight_mask_and_hard_example_pools():
    weights = torch.tensor([0.1, 0.5, 0.2, 0.05, 0.9, 0.01, 0.3, 0.3, 0.3])
    rays = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2])
    opacity = torch.tensor([0.85, 0.91, 0.2])
    mask = top_weight_mask(weights, rays, opacity, top_ratio=0.3, min_opacity=0.5)
    # ray 0: ceil(1.2) = 2 of 4 samples (0.5, 0.2); ray 1: 1 of 2 (0.9); ray 2: too transparent
    assert mask.tolist() == [False, True, True, False, True, False, False, False, False]

    tracker = HardPoseTracker(4)
    tracker.add(torch.tensor([0, 1, 1, 3, -1]), torch.tensor([1.0, 5.0, 3.0, 0.5, 99.0]))
    assert tracker.hardest(0.5).tolist() == [1, 0]
    pool = HardRayPool(capacity=3)
    rays_a = Rays(torch.arange(12.0).reshape(4, 3), torch.ones(4, 3))
    pool.add(rays_a, torch.tensor([0.1, 0.9, 0.5, 0.2]), ratio=0.5)
    assert sorted(pool.origins[:, 0].tolist()) == [3.0, 6.0]
    pool.add(rays_a, torch.tensor([0.9, 0.1, 0.2, 0.5]), ratio=0.5)
    assert len(pool) == 3  # oldest dropped
    drawn = pool.sample(5, torch.Generator().manual_seed(0))
    assert drawn.origins.shape == (5, 3)


def test_pvd_al_options_run(scene, tmp_path):
    index, norm = scene
    torch.manual_seed(2)
    teacher, student = tiny_model("hash", norm), tiny_model("hash", norm, kind="student")
    init_student(student, teacher, "scratch")
    active = ActiveConfig(hard_poses=True, hard_rays=True, hard_ray_pool=500, point_top=True)
    cfg = DistillConfig(
        iters=6,
        batch_rays=64,
        stages=StageConfig(stage_iters=(0, 0), depth_weight=0.1),
        active=active,
        ckpt_every=0,
        poses_per_epoch=3,
        student_grid="teacher",
    )
    result = distill(
        teacher,
        student,
        PoseSampler(index.cameras, "synthetic", n_poses=3),
        cfg,
        tmp_path,
        torch.device("cpu"),
        progress=False,
    )
    assert set(result.final_losses) == {"total", "feature", "density", "color", "rgb", "depth"}
    assert result.stages == [
        {"name": "rgb", "start": 0, "end": 6, "iterations": 6, "final_losses": result.stages[0]["final_losses"]}
    ]
