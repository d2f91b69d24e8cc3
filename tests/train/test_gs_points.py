"""gs teachers started from a point cloud: nearest-neighbour scales (KD-tree and grid search against
brute force), the Gaussians placed at the points, and ``pvd train --init_points`` end to end."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from plyfile import PlyData, PlyElement

from pvd.cli import main
from pvd.data.points import PointCloud
from pvd.fields.gs import SH_C0, GSConfig, GSField
from pvd.model import load_model, read_checkpoint
from pvd.presets import arch_preset
from pvd.train.splat_init import init_from_points, knn_spacing, knn_spacing_grid


def brute_force(points: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(points.double(), points.double())
    d.fill_diagonal_(float("inf"))
    m = min(k, len(points) - 1)
    return d.topk(m, largest=False).values.mean(1).float()


def clouds():
    g = torch.Generator().manual_seed(0)
    sphere = torch.nn.functional.normalize(torch.randn(3000, 3, generator=g), dim=1)
    clumps = torch.cat([torch.rand(500, 3, generator=g) * 0.01, torch.rand(40, 3, generator=g) * 50])
    twins = torch.rand(100, 3, generator=g).repeat(2, 1)  # every point twice: neighbours at distance 0
    return [torch.rand(2000, 3, generator=g), sphere, clumps, twins, torch.rand(3, 3, generator=g)]


@pytest.mark.parametrize("which", range(5))
def test_knn_spacing_matches_brute_force(which):
    points = clouds()[which]
    expected = brute_force(points, 3)
    torch.testing.assert_close(knn_spacing_grid(points), expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(knn_spacing(points), expected, atol=1e-6, rtol=1e-5)


def test_gaussians_sit_at_the_points_topped_up_or_subsampled():
    torch.manual_seed(0)
    field = GSField(GSConfig(n_init=50, sh_degree=2, init_opacity=0.2), bound=1.0)
    random_means = field.means.detach().clone()
    g = torch.Generator().manual_seed(1)
    points = PointCloud(torch.rand(30, 3, generator=g) - 0.5, torch.rand(30, 3, generator=g), "/x/points3D.bin")
    info = init_from_points(field, points, torch.Generator().manual_seed(2))
    assert info == {"source": "points3D.bin", "points": 30, "random": 20}
    assert torch.equal(field.means[:30], points.positions)
    assert torch.equal(field.means[30:], random_means[:20])  # topped up by the field's own random ones
    torch.testing.assert_close(field.sh_dc[:30] * SH_C0 + 0.5, points.colors)
    scale = torch.exp(field.log_scales)
    torch.testing.assert_close(scale, brute_force(field.means.detach(), 3)[:, None].expand(50, 3))
    assert torch.equal(field.sh_rest, torch.zeros(50, 8, 3))
    torch.testing.assert_close(torch.sigmoid(field.opacity_logits), torch.full((50,), 0.2))

    many = PointCloud(torch.rand(400, 3, generator=g) - 0.5, torch.rand(400, 3, generator=g), "/x/sparse_pc.ply")
    info = init_from_points(field, many, torch.Generator().manual_seed(2))
    assert info == {"source": "sparse_pc.ply", "points": 50, "random": 0} and len(field) == 50
    hits = (field.means.detach()[:, None] == many.positions[None]).all(-1)  # [50, 400]
    assert torch.equal(hits.sum(1), torch.ones(50, dtype=torch.long)) and int(hits.any(0).sum()) == 50


def write_ply(path, xyz: np.ndarray, rgb: np.ndarray) -> None:
    vertex = np.empty(len(xyz), dtype=[(k, "f4") for k in "xyz"] + [(k, "u1") for k in ("red", "green", "blue")])
    for j, k in enumerate("xyz"):
        vertex[k] = xyz[:, j]
    for j, k in enumerate(("red", "green", "blue")):
        vertex[k] = rgb[:, j]
    PlyData([PlyElement.describe(vertex, "vertex")]).write(str(path))


def test_cli_trains_from_a_point_cloud(demo_scene, tmp_path):
    """The demo scene with a nerfstudio-style ply in its world frame: the Gaussians start at the
    points inside the box (scale 0.5: box = 0.5 x world), and the record says so."""
    rng = np.random.default_rng(0)
    xyz = np.concatenate([rng.uniform(-1.6, 1.6, (300, 3)), [[5.0, 0.0, 0.0], [0.0, -2.5, 0.0]]])
    rgb = rng.integers(0, 256, (302, 3))
    ply = tmp_path / "cloud.ply"
    write_ply(ply, xyz, rgb)
    base = ["train", "--data_type", "synthetic", "--model_type", "gs", "--scale", "0.5", "--bound", "1"]
    base += ["--no_progress", "--curve_points", "0"]
    ws = tmp_path / "stopped"
    assert main([*base, str(demo_scene), "--workspace", str(ws), "--init_points", str(ply), "--stop_at", "1"]) == 0
    means = read_checkpoint(ws / "checkpoint.pt").field["means"]
    expected = torch.from_numpy(0.5 * xyz[:300]).float()
    assert means.shape == (4000, 3)  # the tiny preset's n_init: 300 points, 3700 random ones
    torch.testing.assert_close(means[:300], expected, atol=6e-4, rtol=0)  # one Adam step of lr 5e-4 away

    scene = tmp_path / "scene"
    shutil.copytree(demo_scene, scene)
    write_ply(scene / "sparse_pc.ply", xyz, rgb)
    doc = json.loads((scene / "transforms_train.json").read_text())
    (scene / "transforms_train.json").write_text(json.dumps({**doc, "ply_file_path": "sparse_pc.ply"}))
    ws = tmp_path / "auto"
    assert main([*base, str(scene), "--workspace", str(ws), "--iters", "20"]) == 0
    record = json.loads((ws / "record.json").read_text())
    assert record["init"] == {"source": "sparse_pc.ply", "points": 300, "random": 3700}
    assert record["config"]["init_points"] == "auto" and len(load_model(ws / "checkpoint.pt").field) > 0

    ws = tmp_path / "random"
    assert main([*base, str(scene), "--workspace", str(ws), "--iters", "5", "--init_points", "random"]) == 0
    assert json.loads((ws / "record.json").read_text())["init"] == {"source": "random", "points": 0, "random": 4000}

    write_ply(scene / "sparse_pc.ply", np.full((5, 3), 9.0), rgb[:5])  # the scene's cloud, all outside the box
    ws = tmp_path / "outside"
    assert main([*base, str(scene), "--workspace", str(ws), "--iters", "5"]) == 0
    init = json.loads((ws / "record.json").read_text())["init"]
    assert init == {"source": "random", "points": 0, "random": 4000, "unused_file": str(scene / "sparse_pc.ply")}


def test_bad_init_points_are_one_line_errors(demo_scene, tmp_path, capsys):
    base = ["train", str(demo_scene), "--data_type", "synthetic", "--iters", "5", "--no_progress"]
    bad = tmp_path / "points3D.txt"
    bad.write_text("1 0 0 0 255 0\n")
    assert main([*base, "--model_type", "gs", "--workspace", str(tmp_path / "a"), "--init_points", str(bad)]) != 0
    err = capsys.readouterr().err
    assert f"{bad} line 1: expected 'ID X Y Z R G B ERROR'" in err and "Traceback" not in err
    assert not (tmp_path / "a").exists()  # refused before the workspace is claimed
    far = tmp_path / "far.ply"
    write_ply(far, np.full((4, 3), 40.0), np.zeros((4, 3), np.uint8))
    assert main([*base, "--model_type", "gs", "--workspace", str(tmp_path / "b"), "--init_points", str(far)]) != 0
    assert "--init_points" in (err := capsys.readouterr().err) and "lies in the scene's box" in err
    assert main([*base, "--model_type", "gs", "--workspace", str(tmp_path / "c"), "--init_points", "cloud.obj"]) != 0
    assert "--init_points expects auto, random or a points3D.bin" in capsys.readouterr().err
    assert main([*base, "--model_type", "hash", "--workspace", str(tmp_path / "d"), "--init_points", "random"]) != 0
    assert "--init_points applies to gs teachers only" in capsys.readouterr().err


def test_max_gaussians_caps_densification(demo_scene, tmp_path, capsys):
    base = ["train", str(demo_scene), "--data_type", "synthetic", "--no_progress", "--curve_points", "0"]
    base += ["--iters", "101", "--model_type", "gs"]  # one densification, at step 100
    counts = {}
    for cap in (None, 4000):
        ws = tmp_path / f"cap{cap}"
        assert main([*base, "--workspace", str(ws), *(["--max_gaussians", str(cap)] if cap else [])]) == 0
        counts[cap] = len(load_model(ws / "checkpoint.pt").field)
        recorded = json.loads((ws / "record.json").read_text())["config"]["teacher"]["max_gaussians"]
        assert recorded == (cap or arch_preset("tiny", "gs").teacher.max_gaussians)
    assert counts[4000] <= 4000 < counts[None]
    assert main([*base, "--workspace", str(tmp_path / "h"), "--model_type", "hash", "--max_gaussians", "9"]) != 0
    assert "--max_gaussians applies to gs teachers only" in capsys.readouterr().err
