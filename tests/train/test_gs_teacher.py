"""gs teachers: image-based training with densification, pruning, opacity reset and the SH ramp;
resume; the CLI path (``pvd train --model_type gs``) with its record and test PSNR."""

from __future__ import annotations

import json

import torch

from pvd.cli import main
from pvd.data import load_split, scene_normalization
from pvd.model import ModelMeta, build_model, load_model
from pvd.presets import field_config, render_config
from pvd.train.splat import GSTeacherConfig, GSTeacherTask, gs_optimizer
from pvd.train.teacher import train_teacher

CFG = GSTeacherConfig(
    iters=60,
    ckpt_every=0,
    densify_from=10,
    densify_until=50,
    densify_every=10,
    reset_every=30,
    sh_every=20,
    grad_threshold=1e-5,
)


def gs_model(scene, n_init: int = 500):
    train = load_split(scene, "synthetic", "train", 1)
    norm = scene_normalization(train, "synthetic", 1.0, 0.8)
    config = field_config("gs", "tiny").__class__(n_init=n_init, index_resolution=16)
    meta = ModelMeta("gs", "tiny", config, render_config("tiny"), 1.0, normalization=norm)
    torch.manual_seed(0)
    model = build_model(meta)
    model.grid.mark_untrained(train.cameras, norm)
    return model, train


def test_training_densifies_ramps_sh_and_learns(demo_scene, tmp_path):
    model, train = gs_model(demo_scene)
    result = train_teacher(model, train, CFG, tmp_path, torch.device("cpu"), progress=False)
    assert result.steps == 60 and result.final_loss < 0.8 * result.initial_loss
    assert len(model.field) != 500  # densified and pruned
    assert model.field.degree == 3  # 0 at the start, +1 every 20 steps
    assert model.grid.occupied_fraction() > 0  # rebuilt from the point density at the end


def test_densify_keeps_the_optimizer_consistent(demo_scene):
    model, train = gs_model(demo_scene, n_init=200)
    opt, _ = gs_optimizer(model.field, CFG)
    task = GSTeacherTask(model, train, CFG, torch.Generator().manual_seed(0), torch.device("cpu"), opt)
    task.loss(0, print).backward()
    opt.step()
    task.grad_sum.fill_(1.0)  # every Gaussian over the threshold: clone the small, split the large
    task.grad_count.fill_(1.0)
    with torch.no_grad():
        model.field.log_scales[:50] = 0.0  # 1 box unit: above percent_dense x extent -> split
    task.densify()
    field = model.field
    # 150 small ones cloned (300), 50 large ones split into 2 (100); the originals of the splits dropped
    opacity = torch.sigmoid(field.opacity_logits)
    assert len(field) == 400 - int((opacity < CFG.prune_opacity).sum())
    params = [p for g in opt.param_groups for p in g["params"]]
    assert {id(p) for p in params} == {
        id(getattr(field, n)) for n in ("means", "log_scales", "quats", "opacity_logits", "sh_dc", "sh_rest")
    }
    for p in params:
        assert opt.state[p]["exp_avg"].shape == p.shape
    task.loss(1, print).backward()
    opt.step()  # a step after the resize runs


def test_resume_continues_bit_for_bit(demo_scene, tmp_path):
    model, train = gs_model(demo_scene, n_init=300)
    train_teacher(model, train, CFG, tmp_path / "a", torch.device("cpu"), progress=False)
    (tmp_path / "b").mkdir()
    stopped, _ = gs_model(demo_scene, n_init=300)
    train_teacher(stopped, train, CFG, tmp_path / "b", torch.device("cpu"), progress=False, stop_at=35)
    resumed, _ = gs_model(demo_scene, n_init=300)
    train_teacher(resumed, train, CFG, tmp_path / "b", torch.device("cpu"), progress=False, resume=True)
    for name, value in model.field.state_dict().items():
        assert torch.equal(resumed.field.state_dict()[name], value), name


def test_cli_trains_a_gs_teacher_and_evaluates_it_by_rasterisation(demo_scene, tmp_path):
    ws = tmp_path / "gs"
    args = ["train", str(demo_scene), "--data_type", "synthetic", "--model_type", "gs", "--workspace", str(ws)]
    assert main([*args, "--iters", "150", "--no_progress"]) == 0
    record = json.loads((ws / "record.json").read_text())
    assert record["model_type"] == "gs" and record["metrics"]["psnr_test"] > 15.0
    model = load_model(ws / "checkpoint.pt")
    assert model.model_type == "gs" and len(model.field) > 0
    assert record["gaussians"] == len(model.field)  # the count after densification and pruning
