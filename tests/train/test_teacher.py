"""Teacher training on the demo scene: learning, checkpoints, resume, divergence and CLI errors."""

import json
import math
import subprocess
import sys

import pytest
import torch

from pvd.cli import main
from pvd.data import load_split
from pvd.data.cameras import image_rays
from pvd.model import CheckpointError, load_model

ITERS = 150


def _train(scene, ws, *extra, model_type="hash"):
    return main(
        [
            "train",
            str(scene),
            "--data_type",
            "synthetic",
            "--model_type",
            model_type,
            "--workspace",
            str(ws),
            "--iters",
            str(ITERS),
            "--batch_rays",
            "256",
            "--no_progress",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def trained(demo_scene, tmp_path_factory):
    ws = tmp_path_factory.mktemp("teacher")
    assert _train(demo_scene, ws) == 0
    return ws


def test_training_raises_psnr_and_writes_record(trained):
    record = json.loads((trained / "record.json").read_text())
    metrics = record["metrics"]
    start_psnr = -10 * math.log10(metrics["initial_loss"])  # the first steps' training PSNR
    assert record["kind"] == "train" and record["iterations"] == ITERS
    assert metrics["final_loss"] < metrics["initial_loss"] / 3
    assert metrics["psnr_test"] > start_psnr + 3
    assert record["backend"].split("-")[0] in ("torch", "native")
    assert record["seconds"] > 0 and "code_version" in record


def test_checkpoint_roundtrip_renders_identically(trained, demo_scene):
    model_a = load_model(trained / "checkpoint.pt")
    model_b = load_model(trained / "checkpoint.pt")
    test = load_split(demo_scene, "synthetic", "test")
    rays = image_rays(test.cameras, 0, model_a.normalization)
    bg = torch.ones(3)
    a = model_a.renderer.render_image(rays, bg).rgb
    b = model_b.renderer.render_image(rays, bg).rgb
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert model_a.meta.kind == "teacher" and model_a.meta.model_type == "hash"


def test_resume_matches_uninterrupted_run(demo_scene, tmp_path):
    base = [
        "train",
        str(demo_scene),
        "--data_type",
        "synthetic",
        "--model_type",
        "hash",
        "--iters",
        "40",
        "--batch_rays",
        "256",
        "--no_progress",
        "--seed",
        "3",
        "--ckpt_every",
        "10",
    ]
    full, part = tmp_path / "full", tmp_path / "part"
    assert main([*base, "--workspace", str(full)]) == 0
    # stop at step 20 (a resumable checkpoint, no record), then resume to 40
    assert main([*base, "--workspace", str(part), "--stop_at", "20"]) == 0
    assert not (part / "record.json").exists()
    assert main([*base, "--workspace", str(part), "--resume"]) == 0
    a, b = load_model(full / "checkpoint.pt"), load_model(part / "checkpoint.pt")
    for (name, x), (_, y) in zip(a.field.state_dict().items(), b.field.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)
    for (name, x), (_, y) in zip(a.grid.state_dict().items(), b.grid.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)
    ra = json.loads((full / "record.json").read_text())
    rb = json.loads((part / "record.json").read_text())
    assert ra["metrics"]["psnr_test"] == rb["metrics"]["psnr_test"]


def test_bf16_precision_trains_and_is_recorded(demo_scene, tmp_path, trained):
    """``--precision bf16``: the steps run under bfloat16 autocast (the MLPs' products), the model
    still learns, and the record says so; the default run is float32 on the CPU."""
    ws = tmp_path / "bf16"
    assert _train(demo_scene, ws, "--precision", "bf16") == 0
    record = json.loads((ws / "record.json").read_text())
    default = json.loads((trained / "record.json").read_text())
    assert record["precision"] == "bfloat16" and record["config"]["precision"] == "bf16"
    assert default["precision"] == "float32"
    assert record["metrics"]["final_loss"] < record["metrics"]["initial_loss"] / 3
    assert abs(record["metrics"]["psnr_test"] - default["metrics"]["psnr_test"]) < 1.0
    assert load_model(ws / "checkpoint.pt").field.sigma_net.layers[0].weight.dtype == torch.float32


def test_truncated_checkpoint_is_a_clear_error(trained, tmp_path):
    data = (trained / "checkpoint.pt").read_bytes()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_model(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a pvd checkpoint"):
        load_model(foreign)


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--downscale", "0"], "--downscale"),
        (["--iters", "0"], "--iters"),
        (["--density_range", "3", "1"], "--density_range"),
        (["--precision", "fp8"], "--precision"),
        (["--distortion", "-1"], "--distortion"),
        (["--device", "cuda:0"] if not torch.cuda.is_available() else ["--device", "tpu"], "--device"),
    ],
)
def test_bad_flags_give_one_clear_line(demo_scene, tmp_path, flags, message):
    proc = subprocess.run(
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
            str(tmp_path),
            *flags,
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_tiny_render_step_is_relative_to_the_box():
    """tiny: the same number of finest steps across the box at every bound >= 1 (a bound-2 scene
    would otherwise march twice the samples per ray); paper: the reference's fixed step."""
    from pvd.presets import render_config
    from pvd.render.marching import step_limits

    one, two = render_config("tiny", 0.0, 1.0), render_config("tiny", 0.003, 2.0)
    dt_one = step_limits(one.max_steps, one.grid_resolution, 1)[0]
    dt_two = step_limits(two.max_steps, two.grid_resolution, 2)[0]
    assert dt_two == pytest.approx(2 * dt_one, rel=1e-2)
    assert render_config("tiny", 0.0) == one and one.max_steps == 192
    assert render_config("paper", 0.003, 2.0).max_steps == 1024


def test_distortion_loss_is_an_option_of_volume_teachers(demo_scene, tmp_path, trained, capsys):
    ws = tmp_path / "decisive"
    assert _train(demo_scene, ws, "--distortion", "0.01") == 0
    record = json.loads((ws / "record.json").read_text())
    assert record["config"]["distortion"] == 0.01 and record["config"]["teacher"]["distortion_weight"] == 0.01
    default = json.loads((trained / "record.json").read_text())
    assert record["metrics"]["final_loss"] != default["metrics"]["final_loss"], "the term changed the training"
    gs = ["train", str(demo_scene), "--data_type", "synthetic", "--model_type", "gs", "--distortion", "0.01"]
    assert main([*gs, "--workspace", str(tmp_path / "gs")]) == 2
    assert "distortion" in capsys.readouterr().err and not (tmp_path / "gs").exists()
