import subprocess
import sys

import numpy as np
import pytest
import torch

from pvd.cli import main
from pvd.data import Normalization, image_rays, load_split, pixel_rays
from pvd.data.demo import LIGHT, DemoConfig, demo_solids, shade_rays, write_demo
from pvd.errors import UserError

SMALL = DemoConfig(seed=3, size=24, n_train=3, n_val=1, n_test=2, spp=3)


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    return write_demo(tmp_path_factory.mktemp("demo") / "scene", SMALL, progress=False)


def test_demo_reads_back_through_the_synthetic_loader(small_demo):
    for split, n in (("train", 3), ("val", 1), ("test", 2)):
        scene = load_split(small_demo, "synthetic", split)
        assert scene.images.shape == (n, 24, 24, 4)
        assert scene.meta["format"] == "blender"
    alpha = scene.images[..., 3]
    assert float(alpha.max()) == 1.0 and float(alpha[:, 0, 0].max()) == 0.0
    assert bool(((alpha > 0.05) & (alpha < 0.95)).any())  # anti-aliased edges


def test_saved_pixels_agree_with_the_scene_seen_through_the_loaded_cameras(small_demo):
    """Poses and intrinsics read back by the loader see the same geometry the renderer drew."""
    scene = load_split(small_demo, "synthetic", "train")
    solids = demo_solids(SMALL.seed)
    for view in range(len(scene)):
        rays = image_rays(scene.cameras, view, Normalization())
        _, hit = shade_rays(solids, rays.origins, rays.directions)
        stored = scene.images[view, ..., 3].reshape(-1)
        sure = (stored == 0) | (stored == 1)
        assert float(sure.float().mean()) > 0.5
        assert float((hit[sure] == stored[sure]).float().mean()) > 0.995


def test_same_seed_same_bytes_other_seed_other_scene(small_demo, tmp_path):
    again = write_demo(tmp_path / "again", SMALL, progress=False)
    other = write_demo(tmp_path / "other", DemoConfig(**{**SMALL.__dict__, "seed": 4}), progress=False)
    for rel in ("train/r_2.png", "test/r_1.png", "transforms_val.json"):
        assert (again / rel).read_bytes() == (small_demo / rel).read_bytes()
    assert (other / "train/r_0.png").read_bytes() != (small_demo / "train/r_0.png").read_bytes()


def test_scene_fits_the_synthetic_box_and_shading_depends_on_view():
    for solid in demo_solids(0):
        c = np.asarray(solid.centre)
        if solid.kind == "sphere":
            lo, hi = c - solid.size[0], c + solid.size[0]
        elif solid.kind == "box":
            reach = np.hypot(solid.size[0], solid.size[1])
            lo, hi = c - [reach, reach, solid.size[2]], c + [reach, reach, solid.size[2]]
        else:
            r, z0, z1 = solid.size
            lo, hi = c + [-r, -r, z0], c + [r, r, z1]
        assert (lo >= -1).all() and (hi <= 1).all(), solid
    glossy = demo_solids(0)[4]
    top = torch.tensor(glossy.centre) + torch.tensor([0.0, 0.0, glossy.size[0]])
    mirror = LIGHT * torch.tensor([-1.0, -1.0, 1.0])  # the light reflected about the top's normal
    origins = torch.stack([top + 3 * mirror, top + 3 * LIGHT])
    directions = (top - origins) / (top - origins).norm(dim=-1, keepdim=True)
    rgb, hit = shade_rays(demo_solids(0), origins, directions)
    assert hit.tolist() == [1.0, 1.0] and float((rgb[0] - rgb[1]).min()) > 0.3  # highlight


def test_existing_output_and_bad_sizes_are_refused(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="already exists and is not an empty folder"):
        write_demo(tmp_path / "full", SMALL)
    assert main(["data", "demo", str(tmp_path / "x"), "--size", "0"]) == 2
    assert not (tmp_path / "x").exists() and list(tmp_path.iterdir()) == [tmp_path / "full"]


def test_cli_default_demo_round_trips(tmp_path):
    out = tmp_path / "x"
    proc = subprocess.run(
        [sys.executable, "-m", "pvd.cli", "data", "demo", str(out)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "written to" in proc.stdout
    counts = {s: len(load_split(out, "synthetic", s, downscale=2)) for s in ("train", "val", "test")}
    assert counts == {"train": 50, "val": 10, "test": 10}
    train = load_split(out, "synthetic", "train")
    assert train.images.shape == (50, 80, 80, 4)
    rays = pixel_rays(
        train.cameras,
        torch.zeros(1, dtype=torch.long),
        torch.tensor([40.0]),
        torch.tensor([40.0]),
        Normalization(1.0, 0.8),
    )
    assert 3.0 < float(rays.origins.norm()) < 3.4  # radius 4 at scale 0.8
