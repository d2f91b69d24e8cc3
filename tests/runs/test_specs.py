"""Run specs: one declaration per option, from which the CLI, the engine config and the workflow's
schema derive (tests/runs/test_workflow_specs.py checks the workflow's side)."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from pvd.cli import build_parser, error_line
from pvd.commands.args import spec_from_args
from pvd.runs import RUN_KINDS, DistillSpec, EditSpec, EvaluateSpec, SpecError, TrainSpec
from pvd.runs.spec import options

ROOT = Path(__file__).resolve().parents[2]


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("kind", list(RUN_KINDS))
def test_every_flag_of_a_run_verb_is_a_spec_option(kind):
    spec = RUN_KINDS[kind].spec
    dests = {a.dest for a in _subparser(kind)._actions if a.dest not in ("help", "threads")}
    assert dests == {f.name for f, _ in options(spec)}
    for f, opt in options(spec):
        assert opt.help, f"{spec.__name__}.{f.name} has no help"


@pytest.mark.parametrize("kind", list(RUN_KINDS))
def test_help_shows_every_default(kind):
    text = _subparser(kind).format_help()
    for f, _ in options(RUN_KINDS[kind].spec):
        if f.default not in (None, False, dataclasses.MISSING) and not isinstance(f.default, tuple):
            assert f"(default: {f.default})" in " ".join(text.split()), f.name


def test_spec_checks_itself_and_names_the_field(tmp_path):
    with pytest.raises(SpecError) as err:
        TrainSpec(scene_dir=tmp_path, workspace=tmp_path / "ws", data_type="synthetic", model_type="hash", iters=0)
    assert err.value.field == "iters" and str(err.value) == "iters must be >= 1, got 0"
    with pytest.raises(SpecError, match="model_type 'nerf' is unknown; expected one of hash, vm, mlp, tensors"):
        TrainSpec(scene_dir=tmp_path, workspace=tmp_path / "ws", data_type="synthetic", model_type="nerf")
    with pytest.raises(SpecError, match="bound must be a finite number, got inf"):
        TrainSpec(scene_dir=tmp_path, workspace=tmp_path, data_type="llff", model_type="vm", bound=float("inf"))
    with pytest.raises(SpecError, match="scene_dir .* is not a directory"):
        TrainSpec(scene_dir=tmp_path / "no", workspace=tmp_path, data_type="llff", model_type="vm")
    with pytest.raises(SpecError, match="program or erase: give exactly one of them"):
        EditSpec(ckpt=tmp_path / "c.pt", workspace=tmp_path)


def test_the_cli_names_the_option_by_its_flag(tmp_path):
    exc = SpecError("resume", "and `overwrite` contradict each other")
    assert str(exc) == "resume and overwrite contradict each other"
    assert error_line(exc, "train") == "pvd train: error: --resume and --overwrite contradict each other"
    assert error_line(SpecError("scene_dir", "x is not a directory"), "train").endswith(
        "SCENE_DIR x is not a directory"
    )


def test_options_land_in_the_engine_config(tmp_path):
    spec = DistillSpec(
        scene_dir=tmp_path,
        workspace=tmp_path / "ws",
        ckpt_teacher=tmp_path / "t.pt",
        model_type="mlp",
        iters=50,
        stage_iters=(0, 20),
        stages="rgb_only",
        depth_loss=0.1,
        hard_rays=True,
        loss_type="L1",
        use_real_data_for_train=True,
        visibility_cutoff=0.0,
    )
    cfg = spec.engine_config()
    assert (cfg.iters, cfg.stages.stage_iters, cfg.stages.progressive, cfg.stages.depth_weight) == (
        50,
        (0, 20),
        False,
        0.1,
    )
    assert (cfg.active.hard_rays, cfg.active.hard_poses, cfg.loss_type, cfg.use_real_poses) == (True, False, "L1", True)
    assert cfg.visibility_cutoff == 0.0
    assert spec.replace(empty_sample_ratio=0.2).engine_config().empty_sample_ratio == 0.2
    plain = DistillSpec(scene_dir=tmp_path, workspace=tmp_path / "ws", ckpt_teacher=tmp_path / "t.pt", model_type="mlp")
    from pvd.presets import arch_preset

    assert plain.engine_config() == arch_preset("tiny", "mlp").distill  # unset options keep the preset's


def _parse(kind: str, *argv: str):
    args = build_parser().parse_args([kind, *argv])
    return spec_from_args(RUN_KINDS[kind].spec, args)


def test_old_spellings_are_aliases(tmp_path, demo_scene):
    base = [str(demo_scene), "--ckpt", str(tmp_path / "c.pt"), "--workspace", str(tmp_path / "w")]
    assert _parse("evaluate", *base, "--save-renders", "--no-lpips", "--no-progress") == _parse(
        "evaluate", *base, "--save_renders", "--no_lpips", "--no_progress"
    )
    assert _parse("evaluate", *base, "--render_views", "0,3").render_views == (0, 3)
    assert _parse("evaluate", *base, "--render_views", "0", "3").render_views == (0, 3)
    d = [str(demo_scene), "--ckpt_teacher", "t.pt", "--model_type", "vm", "--workspace", "w"]
    assert _parse("distill", *d, "--stage_iters", "2,5").stage_iters == (2, 5)
    assert _parse("distill", *d, "--stage_iters", "2", "5").stage_iters == (2, 5)
    assert _parse("distill", *d, "--density_range", "-100", "7").density_range == (-100.0, 7.0)
    edit = _parse(
        "edit",
        "--ckpt",
        "c.pt",
        "--workspace",
        "w",
        "--erase",
        *"0 0 0 1 1 1".split(),
        "--erase",
        *"-1 -1 -1 0 0 0".split(),
    )
    assert edit.erase == ((0.0, 0.0, 0.0, 1.0, 1.0, 1.0), (-1.0, -1.0, -1.0, 0.0, 0.0, 0.0))


def test_device_defaults_to_auto(tmp_path):
    spec = EvaluateSpec(scene_dir=tmp_path, ckpt=tmp_path / "c.pt", workspace=tmp_path / "w")
    assert spec.device == "auto" and spec.data_type is None
    with pytest.raises(SpecError, match="device 'tpu'"):
        spec.replace(device="tpu")


def test_version_and_no_native_line_before_an_argument_error(tmp_path, demo_scene):
    import pvd

    out = subprocess.run([sys.executable, "-m", "pvd.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"pvd {pvd.__version__}"
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "pvd.cli",
            "train",
            str(demo_scene),
            "--data_type",
            "synthetic",
            "--model_type",
            "hash",
            "--workspace",
            str(tmp_path / "w"),
            "--iters",
            "0",
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == "pvd train: error: --iters must be >= 1, got 0"
    assert "native" not in bad.stdout + bad.stderr and not (tmp_path / "w").exists()


def test_generated_schema_is_current():
    out = subprocess.run([sys.executable, "-m", "pvd.runs.schema", "--check"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
