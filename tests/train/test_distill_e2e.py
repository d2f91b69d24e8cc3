"""End to end on the demo scene: each student architecture distilled from another architecture
gets closer to its teacher; the CLI writes a standalone checkpoint and a record; resume; errors."""

import json
import math
from dataclasses import replace

import pytest
import torch

from pvd.cli import main
from pvd.data import index_split, load_split
from pvd.data.poses import PoseSampler
from pvd.evaluate.evaluate import evaluate_model, render_view
from pvd.metrics import mse, psnr_from_mse
from pvd.model import ModelMeta, build_model, load_model
from pvd.presets import arch_preset, field_config
from pvd.train.distill import DistillConfig, distill, init_student

TEACHER_ITERS = 150
DISTILL_ITERS = 100
PAIRS = [("vm", "hash"), ("hash", "vm"), ("hash", "mlp"), ("hash", "tensors")]


@pytest.fixture(scope="module")
def teachers(demo_scene, tmp_path_factory):
    out = {}
    for key in ("hash", "vm"):
        ws = tmp_path_factory.mktemp(f"teacher_{key}")
        assert (
            main(
                [
                    "train",
                    str(demo_scene),
                    "--data_type",
                    "synthetic",
                    "--model_type",
                    key,
                    "--workspace",
                    str(ws),
                    "--iters",
                    str(TEACHER_ITERS),
                    "--batch_rays",
                    "512",
                    "--no_progress",
                ]
            )
            == 0
        )
        out[key] = ws / "checkpoint.pt"
    return out


def _psnr_vs(model, reference, cams):
    values = [
        psnr_from_mse(
            mse(render_view(model, cams, v, torch.device("cpu")), render_view(reference, cams, v, torch.device("cpu")))
        )
        for v in range(len(cams))
    ]
    return sum(values) / len(values)


@pytest.mark.parametrize("teacher_type,student_type", PAIRS)
def test_distillation_brings_student_to_teacher(teacher_type, student_type, teachers, demo_scene, tmp_path):
    teacher = load_model(teachers[teacher_type])
    test_cams = load_split(demo_scene, "synthetic", "test").cameras
    index = index_split(demo_scene, "synthetic", "train")
    # a coarser Plenoxels grid keeps the test quick; the other students use their tiny preset
    cfg = field_config(student_type, "tiny")
    if student_type == "tensors":
        cfg = replace(cfg, resolution=32)
    meta = ModelMeta(
        model_type=student_type,
        preset="tiny",
        field_config=cfg,
        render_config=teacher.renderer.config,
        bound=teacher.meta.bound,
        density_range=teacher.meta.density_range,
        normalization=teacher.normalization,
        kind="student",
        teacher_type=teacher_type,
    )
    torch.manual_seed(0)
    student = build_model(meta)
    init_student(student, teacher, "teacher")
    before = _psnr_vs(student, teacher, test_cams)
    cfg = DistillConfig(
        iters=DISTILL_ITERS, batch_rays=512, lr=arch_preset("tiny", student_type).distill.lr, ckpt_every=0
    )
    distill(
        teacher, student, PoseSampler(index.cameras, "synthetic"), cfg, tmp_path, torch.device("cpu"), progress=False
    )
    after = _psnr_vs(student, teacher, test_cams)
    print(f"{teacher_type}2{student_type}: PSNR vs teacher {before:.2f} -> {after:.2f} dB")
    assert after > before + 8, (before, after)


def _distill_args(scene, ckpt, ws, *extra, teacher_type="hash", model_type="vm"):
    return [
        "distill",
        str(scene),
        "--data_type",
        "synthetic",
        "--teacher_type",
        teacher_type,
        "--ckpt_teacher",
        str(ckpt),
        "--model_type",
        model_type,
        "--workspace",
        str(ws),
        "--iters",
        "12",
        "--batch_rays",
        "256",
        "--stage_iters",
        "4,8",
        "--no_progress",
        *extra,
    ]


def test_cli_writes_standalone_checkpoint_and_record(teachers, demo_scene, tmp_path, capsys):
    ws = tmp_path / "ws"
    assert main(_distill_args(demo_scene, teachers["hash"], ws)) == 0
    out = capsys.readouterr().out
    assert "step 4: stage 'density_color'" in out and "step 8: stage 'rgb'" in out
    record = json.loads((ws / "record.json").read_text())
    assert record["kind"] == "distill" and record["pair"] == "hash2vm" and record["iterations"] == 12
    assert [(s["name"], s["start"], s["end"]) for s in record["stages"]] == [
        ("feature", 0, 4),
        ("density_color", 4, 8),
        ("rgb", 8, 12),
    ]
    assert set(record["metrics"]["final_losses"]) == {"total", "feature", "density", "color", "rgb"}
    assert record["init"] == "teacher" and record["student_grid"] == "masked"
    for key in ("psnr_test", "psnr_vs_teacher", "teacher_psnr_test"):
        assert math.isfinite(record["metrics"][key])
    assert record["seconds"] > 0
    # the student checkpoint stands alone: its own grid, read by the normal loader and evaluator
    student = load_model(ws / "checkpoint.pt")
    assert student.meta.kind == "student" and student.meta.teacher_type == "hash"
    assert student.model_type == "vm"
    teacher = load_model(teachers["hash"])
    assert not torch.equal(student.grid.density, teacher.grid.density)
    assert not (student.grid.occupancy & ~teacher.grid.occupancy).any(), "masked: within the teacher's cells"
    test = load_split(demo_scene, "synthetic", "test")
    assert evaluate_model(student, test, lpips=False).psnr == pytest.approx(record["metrics"]["psnr_test"], abs=0.01)


def test_resume_matches_uninterrupted_run(teachers, demo_scene, tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    extra = ["--ckpt_every", "4", "--seed", "5"]
    assert main(_distill_args(demo_scene, teachers["hash"], full, *extra)) == 0
    assert main(_distill_args(demo_scene, teachers["hash"], part, *extra, "--stop_at", "6")) == 0
    assert not (part / "record.json").exists()
    assert main(_distill_args(demo_scene, teachers["hash"], part, *extra, "--resume")) == 0
    a, b = load_model(full / "checkpoint.pt"), load_model(part / "checkpoint.pt")
    for (name, x), (_, y) in zip(a.field.state_dict().items(), b.field.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)
    torch.testing.assert_close(a.grid.occupancy, b.grid.occupancy, rtol=0, atol=0)
    ra = json.loads((full / "record.json").read_text())
    rb = json.loads((part / "record.json").read_text())
    assert ra["metrics"]["psnr_test"] == rb["metrics"]["psnr_test"]


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--teacher_type", "vm"], "--teacher_type vm does not match"),
        (["--stage_iters", "5"], "--stage_iters"),
        (["--stage_iters", "9,3"], "S1 <= S2"),
        (["--data_type", "llff"], "--data_type llff does not match"),
        (["--real_ray_fraction", "1.5"], "--real_ray_fraction"),
        (["--weight_decay", "-1"], "--weight_decay"),
        (["--visibility_cutoff", "1"], "--visibility_cutoff"),
        (["--stage_warmup", "0.7"], "--stage_warmup"),
    ],
)
def test_bad_flags_give_one_clear_line(teachers, demo_scene, tmp_path, flags, message, capsys):
    args = _distill_args(demo_scene, teachers["hash"], tmp_path / "ws")
    for flag, value in zip(flags[::2], flags[1::2]):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("pvd distill: error: ") and message in err and len(err.strip().splitlines()) == 1


def test_preset_defaults_follow_the_student_architecture(tmp_path):
    """Unset options take the preset's per-student values; explicit options win."""
    from pvd.runs import DistillSpec

    base = {"scene_dir": tmp_path, "ckpt_teacher": tmp_path / "t.pt", "workspace": tmp_path / "ws"}
    for preset in ("tiny", "paper"):
        for arch in ("hash", "vm", "mlp", "tensors"):
            p = arch_preset(preset, arch).distill
            cfg = DistillSpec(**base, model_type=arch, preset=preset).engine_config()
            assert (cfg.iters, cfg.batch_rays, cfg.lr) == (p.iters, p.batch_rays, p.lr)
            assert cfg.weight_decay == p.weight_decay and cfg.visibility_cutoff == p.visibility_cutoff
            assert cfg.stages.warmup == (0.04 if preset == "tiny" else 0.0)  # the paper's schedule has none
    assert arch_preset("tiny", "mlp").distill.iters > arch_preset("tiny", "hash").distill.iters
    cfg = DistillSpec(
        **base, model_type="mlp", iters=7, batch_rays=9, visibility_cutoff=0.0, student_grid="own"
    ).engine_config()
    assert (cfg.iters, cfg.batch_rays, cfg.visibility_cutoff, cfg.student_grid) == (7, 9, 0.0, "own")
    # tiny mlp students on LLFF scenes: fewer steps (the scene's data type, given or the teacher's);
    # other students, other data types and the paper preset keep the preset's
    tiny_mlp = arch_preset("tiny", "mlp").distill
    for spec_type, teacher_data in ((None, "llff"), ("llff", None)):
        cfg = DistillSpec(**base, model_type="mlp", data_type=spec_type).engine_config("hash", teacher_data)
        assert cfg.iters == 1600 < tiny_mlp.iters
        assert (cfg.lr, cfg.batch_rays, cfg.stages) == (tiny_mlp.lr, tiny_mlp.batch_rays, tiny_mlp.stages)
    for arch, data, preset in (("mlp", "synthetic", "tiny"), ("hash", "llff", "tiny"), ("mlp", "llff", "paper")):
        cfg = DistillSpec(**base, model_type=arch, preset=preset).engine_config("vm", data)
        assert cfg.iters == arch_preset(preset, arch).distill.iters
    assert DistillSpec(**base, model_type="mlp", iters=99).engine_config("hash", "llff").iters == 99
    assert DistillSpec(**base, model_type="hash", preset="paper", stage_warmup=0.1).engine_config().stages.warmup == 0.1
    assert DistillSpec(**base, model_type="hash", stage_warmup=0.0).engine_config().stages.warmup == 0.0
