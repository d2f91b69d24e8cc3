"""``pvd export --format mesh | points`` on tiny teachers trained on the demo scene.

The demo scene (64 px, 24 training views) is known exactly: ``solids.json`` gives every solid's world
bounding box and :func:`pvd.data.demo.demo_solids` its shape, from which the tests compute distances to
the true surfaces (signed distance functions written here). Meshes are compared with the solids'
bounding boxes at 32 grid points per axis (one voxel: 2.5 / 31 world units, about 1.4 training pixels
at the objects' distance).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial import cKDTree

from pvd.cli import main
from pvd.data.cameras import image_rays
from pvd.data.demo import demo_solids
from pvd.model import load_model

RESOLUTION = 32
# per architecture: the flags of a short training run (gs trains on whole images, with its own schedule)
TEACHERS = {
    "hash": ("--iters", "800", "--batch_rays", "512"),
    "tensors": ("--iters", "300", "--batch_rays", "1024", "--lr", "0.1"),
    "gs": ("--iters", "1500"),
}


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    out = tmp_path_factory.mktemp("export_demo") / "scene"
    args = ["data", "demo", str(out), "--size", "64", "--n_train", "24", "--n_val", "1", "--n_test", "2"]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def teacher(scene, tmp_path_factory):
    """arch -> checkpoint of a tiny teacher trained briefly on ``scene``, made on first use."""
    cache = {}

    def get(arch):
        if arch not in cache:
            ws = tmp_path_factory.mktemp(f"export_{arch}")
            args = ["train", str(scene), "--data_type", "synthetic", "--model_type", arch, "--workspace", str(ws)]
            assert main([*args, *TEACHERS[arch], "--no_progress", "--curve_points", "0"]) == 0
            cache[arch] = ws / "checkpoint.pt"
        return cache[arch]

    return get


def _export(ckpt, out, fmt, *extra):
    return main(["export", "--ckpt", str(ckpt), "--out", str(out), "--format", fmt, "--no_progress", *extra])


def _solids_box(scene) -> tuple[np.ndarray, np.ndarray]:
    solids = json.loads((scene / "solids.json").read_text())
    return np.min([s["bbox_min"] for s in solids], 0), np.max([s["bbox_max"] for s in solids], 0)


def distance_to_solids(points: np.ndarray, seed: int = 0) -> np.ndarray:
    """[n] distance of world ``points`` to the nearest surface of the demo scene's solids."""
    best = np.full(len(points), np.inf)
    for s in demo_solids(seed):
        c = np.array(s.centre)
        if s.kind == "sphere":
            d = np.linalg.norm(points - c, axis=1) - s.size[0]
        else:
            if s.kind == "box":
                ca, sa = math.cos(s.angle), math.sin(s.angle)
                local = (points - c) @ np.array([[ca, -sa, 0], [sa, ca, 0], [0, 0, 1]])
                q = np.abs(local) - np.array(s.size)
            else:  # a cylinder about the vertical through its centre, world z from size[1] to size[2]
                r, z0, z1 = s.size
                radial = np.hypot(points[:, 0] - c[0], points[:, 1] - c[1]) - r
                q = np.stack([radial, np.maximum(z0 - points[:, 2], points[:, 2] - z1)], 1)
            d = np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(1), 0)
        best = np.minimum(best, np.abs(d))
    return best


@pytest.mark.parametrize("arch,suffix", [("hash", ".obj"), ("tensors", ".ply"), ("gs", ".ply")])
def test_mesh_bounds_match_the_solids(arch, suffix, teacher, scene, tmp_path):
    out = tmp_path / f"mesh{suffix}"
    assert _export(teacher(arch), out, "mesh", "--resolution", str(RESOLUTION)) == 0
    record = json.loads((tmp_path / f"mesh{suffix}.json").read_text())
    mesh = trimesh.load(out, process=False)
    assert isinstance(mesh, trimesh.Trimesh)
    m = record["metrics"]
    assert (len(mesh.vertices), len(mesh.faces)) == (m["vertices"], m["faces"]) and m["faces"] > 100
    voxel = m["voxel"]
    model = load_model(teacher(arch))
    assert voxel == pytest.approx(2 * model.meta.bound / (RESOLUTION - 1) / model.normalization.scale)
    lo, hi = _solids_box(scene)
    assert np.abs(mesh.bounds[0] - lo).max() <= voxel, (mesh.bounds, lo, hi)
    assert np.abs(mesh.bounds[1] - hi).max() <= voxel, (mesh.bounds, lo, hi)
    np.testing.assert_allclose(mesh.bounds, [m["bbox_min"], m["bbox_max"]], atol=1e-5)
    # most of the surface lies on the solids, and it is coloured by the model (not one flat colour)
    assert np.median(distance_to_solids(np.asarray(mesh.vertices))) < voxel / 2
    colours = np.asarray(mesh.visual.vertex_colors)[:, :3].astype(float)
    assert colours.std(0).min() > 10
    assert record["kind"] == "export" and record["export_format"] == "mesh" and record["views"] == 24
    assert record["config"]["threshold"] == 10.0 and record["inputs"][0]["sha256"]


def test_unseen_surfaces_are_kept_on_request(teacher, scene, tmp_path):
    ckpt = teacher("hash")
    args = ("--resolution", str(RESOLUTION), "--view_size", "32")
    assert _export(ckpt, tmp_path / "seen.ply", "mesh", *args) == 0
    seen = trimesh.load(tmp_path / "seen.ply", process=False)
    assert _export(ckpt, tmp_path / "all.ply", "mesh", "--resolution", str(RESOLUTION), "--keep_unseen") == 0
    everything = trimesh.load(tmp_path / "all.ply", process=False)
    # all of the density's level set: closed, and more of it than the views see
    assert everything.is_watertight and everything.volume > 0
    assert len(everything.faces) > len(seen.faces)
    assert everything.bounds[0][2] <= seen.bounds[0][2]


def rendered_surface(model, view: int) -> np.ndarray:
    """[n, 3] world points the pixels of training view ``view`` see with opacity >= 0.5, computed here
    from the model's own image renderer: ray marching, or for gs the splat rasteriser (on the CPU:
    its depth is the distance along the ray)."""
    cams, norm = model.meta.cameras, model.normalization
    rays = image_rays(cams, view, norm)
    with torch.no_grad():
        if model.model_type == "gs":
            out = model.renderer.render_camera(cams, view, norm, torch.zeros(3))
            assert not out.depth_is_z
        else:
            out = model.renderer.render_image(rays, torch.zeros(3))
    opacity, depth = out.opacity.reshape(-1), out.depth.reshape(-1)
    hit = opacity >= 0.5
    box = rays.origins[hit] + (depth[hit] / opacity[hit])[:, None] * rays.directions[hit]
    return ((box - torch.tensor(norm.offset)) / norm.scale).numpy()


@pytest.mark.parametrize("arch", ["hash", "gs"])
def test_points_lie_on_the_rendered_surface(arch, teacher, scene, tmp_path):
    ckpt = teacher(arch)
    out = tmp_path / "points.ply"
    assert _export(ckpt, out, "points", "--device", "cpu") == 0
    record = json.loads((tmp_path / "points.ply.json").read_text())
    cloud = trimesh.load(out)
    points = np.asarray(cloud.vertices)
    assert isinstance(cloud, trimesh.PointCloud) and len(points) == record["metrics"]["points"] > 1000
    # the surface each training pixel sees, computed here from the renderer: the same points
    model = load_model(ckpt)
    expected = np.concatenate([rendered_surface(model, view) for view in range(len(model.meta.cameras))])
    assert len(expected) == len(points)
    assert cKDTree(expected).query(points)[0].max() < 1e-4
    assert cKDTree(points).query(expected)[0].max() < 1e-4
    norm = model.normalization
    # and that surface is the scene's: most points within one voxel of a solid
    voxel = 2 * model.meta.bound / (RESOLUTION - 1) / norm.scale
    d = distance_to_solids(points)
    assert np.median(d) < voxel / 2 and (d < voxel).mean() > 0.75
    colours = np.asarray(cloud.colors)[:, :3].astype(float)
    assert colours.std(0).min() > 10
    assert _export(ckpt, tmp_path / "few.ply", "points", "--max_points", "500", "--view_size", "32") == 0
    few = trimesh.load(tmp_path / "few.ply")
    assert len(few.vertices) == 500
    assert json.loads((tmp_path / "few.ply.json").read_text())["metrics"]["candidates"] > 500


def test_edited_checkpoint_exports_without_the_erased_solid(teacher, scene, tmp_path):
    solids = {s["name"]: s for s in json.loads((scene / "solids.json").read_text())}
    sphere = solids["striped_sphere"]
    lo, hi = np.array(sphere["bbox_min"]), np.array(sphere["bbox_max"])
    lo[2] = 0.02  # above the disc it stands on
    erase = [str(v) for v in (*(lo - 0.05), *(hi + 0.05))]
    ws = tmp_path / "edit"
    assert main(["edit", "--ckpt", str(teacher("hash")), "--workspace", str(ws), "--erase", *erase]) == 0
    out = tmp_path / "edited.ply"
    assert _export(ws / "checkpoint.pt", out, "mesh", "--resolution", str(RESOLUTION), "--view_size", "32") == 0
    mesh = trimesh.load(out, process=False)
    v = np.asarray(mesh.vertices)
    inside = np.all((v > lo + 0.05) & (v < hi - 0.05), axis=1)
    assert len(v) > 100 and not inside.any()
    assert json.loads((tmp_path / "edited.ply.json").read_text())["model_type"] == "edited"


def test_bad_thresholds_and_names_are_one_line_and_write_nothing(teacher, tmp_path, capsys):
    ckpt = teacher("hash")
    peak = math.exp(load_model(ckpt).meta.density_range[1])
    cases = [
        (["--threshold", "5000"], f"--threshold must be below the model's largest density {peak:.4g}"),
        (["--threshold", "1000"], "--threshold 1000: the model's density stays within"),
        (["--threshold", "0"], "--threshold must be > 0, got 0.0"),
        (["--resolution", "4"], "--resolution must be >= 8, got 4"),
    ]
    for extra, message in cases:
        assert _export(ckpt, tmp_path / "m.ply", "mesh", *extra) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert lines[-1].startswith("pvd export: error: ") and message in lines[-1], lines
        assert not any("Traceback" in line for line in lines)
    assert _export(ckpt, tmp_path / "m.pth", "mesh") == 2
    assert f"--out {tmp_path / 'm.pth'}: a mesh export ends in .ply or .obj" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no partial mesh, no record
