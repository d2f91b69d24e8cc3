"""`pvd evaluate` and `pvd render` end to end on a tiny teacher trained on the demo scene."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch

from pvd.cli import main
from pvd.data import load_split
from pvd.evaluate.evaluate import evaluate_model
from pvd.evaluate.scene_check import SceneMismatch, check_scene
from pvd.model import load_model

ITERS = 20


@pytest.fixture(scope="module")
def teacher(demo_scene, tmp_path_factory):
    ws = tmp_path_factory.mktemp("teacher")
    assert (
        main(
            [
                "train",
                str(demo_scene),
                "--data_type",
                "synthetic",
                "--model_type",
                "hash",
                "--workspace",
                str(ws),
                "--iters",
                str(ITERS),
                "--batch_rays",
                "256",
                "--no_progress",
            ]
        )
        == 0
    )
    return ws


def _evaluate(scene, ckpt, ws, *extra):
    return main(
        [
            "evaluate",
            str(scene),
            "--data_type",
            "synthetic",
            "--ckpt",
            str(ckpt),
            "--workspace",
            str(ws),
            "--no_progress",
            *extra,
        ]
    )


def test_metrics_match_the_trainer_and_a_recomputation(teacher, demo_scene, tmp_path):
    ws = tmp_path / "eval"
    assert _evaluate(demo_scene, teacher / "checkpoint.pt", ws, "--save-renders") == 0
    metrics = json.loads((ws / "metrics.json").read_text())
    trained = json.loads((teacher / "record.json").read_text())
    assert abs(metrics["psnr"] - trained["metrics"]["psnr_test"]) < 0.01
    again = evaluate_model(
        load_model(teacher / "checkpoint.pt"), load_split(demo_scene, "synthetic", "test"), lpips=False
    )
    assert metrics["psnr"] == pytest.approx(again.psnr, abs=1e-6)
    assert metrics["ssim"] == pytest.approx(again.ssim, abs=1e-6)
    assert metrics["n_images"] == 3 and metrics["split"] == "test" and metrics["ssim_mode"] == "standard"
    assert [p["psnr"] for p in metrics["per_image"]] == pytest.approx([s.psnr for s in again.per_image], abs=1e-6)
    assert [p["file"] for p in metrics["per_image"]] == list(again.per_image[i].file for i in range(3))
    assert metrics["render_seconds"] > 0 and metrics["fps"] == pytest.approx(3 / metrics["render_seconds"])
    # LPIPS is either a number or null with the reason -- never both missing
    for net in ("alex", "vgg"):
        assert metrics[f"lpips_{net}"] is not None or "lpips_unavailable_reason" in metrics
    record = json.loads((ws / "record.json").read_text())
    assert record["kind"] == "evaluate" and record["metrics"]["psnr"] == metrics["psnr"]
    assert record["model_type"] == "hash" and record["model_kind"] == "teacher"
    renders = sorted(p.name for p in (ws / "renders").iterdir())
    assert len(renders) == 12 and "000_r_0.png" in renders and "000_r_0_error.png" in renders
    assert "000_r_0_depth.png" in renders
    assert iio.imread(ws / "renders" / "002_r_2_gt.png").shape == (32, 32, 3)


def test_compat_ssim_and_no_lpips(teacher, demo_scene, tmp_path):
    ws = tmp_path / "eval"
    assert (
        _evaluate(demo_scene, teacher / "checkpoint.pt", ws, "--ssim", "pvd-compat", "--no-lpips", "--split", "val")
        == 0
    )
    metrics = json.loads((ws / "metrics.json").read_text())
    assert metrics["ssim_mode"] == "pvd-compat" and metrics["split"] == "val" and metrics["n_images"] == 2
    assert metrics["lpips_alex"] is None and "not requested" in metrics["lpips_unavailable_reason"]
    assert not (ws / "renders").exists()


def test_bad_checkpoints_are_clear_errors(teacher, demo_scene, tmp_path, capsys):
    data = (teacher / "checkpoint.pt").read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 3])
    assert _evaluate(demo_scene, truncated, tmp_path / "a") == 2
    assert "truncated.pt" in capsys.readouterr().err
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {}}, foreign)
    assert _evaluate(demo_scene, foreign, tmp_path / "b") == 2
    assert "not a pvd checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "a" / "metrics.json").exists()


def test_missing_split_and_other_scene_are_clear_errors(teacher, demo_scene, tmp_path, capsys):
    scene = tmp_path / "scene"
    shutil.copytree(demo_scene, scene)
    (scene / "transforms_val.json").unlink()
    assert _evaluate(scene, teacher / "checkpoint.pt", tmp_path / "a", "--split", "val") == 2
    assert "transforms_val.json" in capsys.readouterr().err
    assert (
        main(
            [
                "evaluate",
                str(scene),
                "--data_type",
                "llff",
                "--ckpt",
                str(teacher / "checkpoint.pt"),
                "--workspace",
                str(tmp_path / "b"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "error: --data_type llff does not match checkpoint" in err and "trained on 'synthetic' data" in err
    other = tmp_path / "other"
    assert (
        main(
            [
                "data",
                "demo",
                str(other),
                "--size",
                "32",
                "--n_train",
                "12",
                "--n_val",
                "1",
                "--n_test",
                "2",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    assert _evaluate(other, teacher / "checkpoint.pt", tmp_path / "c") == 2
    assert "another scene" in capsys.readouterr().err


def test_aspect_ratio_mismatch_is_another_scene(teacher, demo_scene):
    model = load_model(teacher / "checkpoint.pt")
    split = load_split(demo_scene, "synthetic", "test")
    check_scene(model.meta, teacher / "checkpoint.pt", demo_scene, "synthetic", split)  # its own scene passes
    wide = replace(model.meta, image_width=64, image_height=32)
    with pytest.raises(SceneMismatch, match="64x32"):
        check_scene(wide, teacher / "checkpoint.pt", demo_scene, "synthetic", split)


@pytest.mark.parametrize("fmt", ["gif", "mp4"])
def test_render_video_from_checkpoint_cameras(teacher, tmp_path, fmt):
    from pvd.evaluate.video import ffmpeg_available

    if fmt == "mp4" and not ffmpeg_available():
        pytest.skip("no ffmpeg")
    ws = tmp_path / "video"
    assert (
        main(
            [
                "render",
                "--ckpt",
                str(teacher / "checkpoint.pt"),
                "--workspace",
                str(ws),
                "--frames",
                "4",
                "--size",
                "24x16",
                "--fps",
                "8",
                "--format",
                fmt,
                "--no_progress",
            ]
        )
        == 0
    )
    frames = iio.imread(ws / f"video.{fmt}", index=None)
    assert frames.shape[:3] == (4, 16, 24)
    assert frames.std() > 0  # the object is visible, not a blank background
    record = json.loads((ws / "record.json").read_text())
    assert record["kind"] == "render" and record["path"] == "orbit" and record["metrics"]["frames"] == 4


def test_render_without_stored_cameras_needs_the_scene(teacher, demo_scene, tmp_path, capsys):
    payload = torch.load(teacher / "checkpoint.pt", weights_only=True)
    del payload["meta"]["cameras"]
    ckpt = tmp_path / "nocams.pt"
    torch.save(payload, ckpt)
    base = ["render", "--ckpt", str(ckpt), "--frames", "2", "--format", "gif", "--no_progress"]
    assert main([*base, "--workspace", str(tmp_path / "a")]) == 2
    assert "SCENE_DIR" in capsys.readouterr().err
    assert main(["render", str(demo_scene), *base[1:], "--workspace", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "video.gif").is_file()


def test_render_views_saves_only_those_views_and_lists_them(teacher, demo_scene, tmp_path, capsys):
    assert _evaluate(demo_scene, teacher / "checkpoint.pt", tmp_path / "ws", "--no-lpips", "--render_views", "1") == 0
    metrics = json.loads((tmp_path / "ws" / "metrics.json").read_text())
    assert [r["view"] for r in metrics["renders"]] == [1]
    written = sorted(p.name for p in (tmp_path / "ws" / "renders").iterdir())
    kinds = ("render", "gt", "error", "depth")
    assert written == sorted(Path(metrics["renders"][0][k]).name for k in kinds)
    assert all((tmp_path / "ws" / metrics["renders"][0][k]).is_file() for k in kinds)
    assert _evaluate(demo_scene, teacher / "checkpoint.pt", tmp_path / "bad", "--no-lpips", "--render_views", "7") == 2
    assert "--render_views [7]" in capsys.readouterr().err


def test_depth_image_is_the_rendered_distance_on_the_cameras_scale(teacher, demo_scene, tmp_path):
    """The saved depth PNG: the model's rendered distance, coloured on the scale metrics.json records
    (the camera's distances to the sphere around the box), white where nothing is seen."""
    from matplotlib import colormaps

    from pvd.evaluate.evaluate import render_view_full

    assert _evaluate(demo_scene, teacher / "checkpoint.pt", tmp_path / "ws", "--no-lpips", "--render_views", "1") == 0
    entry = json.loads((tmp_path / "ws" / "metrics.json").read_text())["renders"][0]
    image = iio.imread(tmp_path / "ws" / entry["depth"])
    model = load_model(teacher / "checkpoint.pt")
    cams = load_split(demo_scene, "synthetic", "test").cameras
    centre = cams.c2w[1, :3, 3].double().norm().item()  # demo world: the box is centred on the origin
    radius = model.meta.bound * 3**0.5 / model.normalization.scale
    assert entry["depth_near"] == pytest.approx(centre - radius, rel=1e-4)
    assert entry["depth_far"] == pytest.approx(centre + radius, rel=1e-4)
    _, opacity, distance = render_view_full(model, cams, 1, torch.device("cpu"))
    seen = (opacity >= 0.5).numpy()
    assert image.shape == (32, 32, 3) and 0 < seen.mean() < 1
    assert (image[~seen] == 255).all()
    t = ((distance[opacity >= 0.5] - entry["depth_near"]) / (entry["depth_far"] - entry["depth_near"])).numpy()
    expected = (colormaps["turbo"](t)[:, :3] * 255 + 0.5).astype("uint8")
    assert abs(image[seen].astype(int) - expected).max() <= 1
    assert len({tuple(p) for p in image[seen]}) > 5  # a range of depths, not one flat colour


def test_reference_scores_against_another_models_renders(teacher, demo_scene, tmp_path, capsys):
    """--reference CKPT: the ground truth of every view is that checkpoint's render, not the image."""
    from pvd.evaluate.evaluate import render_view
    from pvd.metrics import mse, psnr_from_mse

    other = tmp_path / "other"
    assert (
        main(
            [
                "train",
                str(demo_scene),
                "--data_type",
                "synthetic",
                "--model_type",
                "hash",
                "--workspace",
                str(other),
                "--iters",
                "5",
                "--batch_rays",
                "256",
                "--no_progress",
            ]
        )
        == 0
    )
    ws = tmp_path / "ws"
    assert (
        _evaluate(
            demo_scene,
            teacher / "checkpoint.pt",
            ws,
            "--no-lpips",
            "--render_views",
            "0",
            "--reference",
            str(other / "checkpoint.pt"),
        )
        == 0
    )
    metrics = json.loads((ws / "metrics.json").read_text())
    assert metrics["reference"] == {"checkpoint": str(other / "checkpoint.pt"), "model_type": "hash", "kind": "teacher"}
    assert json.loads((ws / "record.json").read_text())["reference"] == metrics["reference"]
    model, ref = load_model(teacher / "checkpoint.pt"), load_model(other / "checkpoint.pt")
    cams = load_split(demo_scene, "synthetic", "test").cameras
    device = torch.device("cpu")
    expected = [
        psnr_from_mse(mse(render_view(model, cams, v, device), render_view(ref, cams, v, device)))
        for v in range(len(cams))
    ]
    assert [p["psnr"] for p in metrics["per_image"]] == pytest.approx(expected, abs=1e-4)
    assert _evaluate(demo_scene, teacher / "checkpoint.pt", tmp_path / "img", "--no-lpips") == 0
    against_images = json.loads((tmp_path / "img" / "metrics.json").read_text())["psnr"]
    assert abs(metrics["psnr"] - against_images) > 0.1  # not the score against the images
    saved_gt = iio.imread(ws / metrics["renders"][0]["gt"])
    rendered = (render_view(ref, cams, 0, device).numpy() * 255 + 0.5).astype("uint8")
    assert abs(saved_gt.astype(int) - rendered.astype(int)).max() <= 1  # the saved "gt" is the reference's render
    assert (
        _evaluate(
            demo_scene, teacher / "checkpoint.pt", tmp_path / "self", "--reference", str(teacher / "checkpoint.pt")
        )
        == 2
    )
    assert "is --ckpt itself" in capsys.readouterr().err
