import os

import numpy as np
import pytest
import torch

from pvd.data import DataError, Normalization, index_split, load_split, pixel_rays, scene_normalization


def test_nsvf_lego_splits_intrinsics_and_box(nsvf_lego):
    train = index_split(nsvf_lego, "tank", "train")
    test = index_split(nsvf_lego, "tank", "test")
    assert len(train) == 100 and all(os.path.basename(f).startswith("0_") for f in train.files)
    assert len(test) == 200 and os.path.basename(test.files[199]) == "2_0199.png"
    assert (test.cameras.width, test.cameras.height) == (800, 800)
    first = (nsvf_lego / "intrinsics.txt").read_text().split()
    torch.testing.assert_close(train.cameras.fx, torch.full((100,), float(first[0])))
    torch.testing.assert_close(train.cameras.cy, torch.full((100,), float(first[2])))
    box = [float(v) for v in (nsvf_lego / "bbox.txt").read_text().split()]
    assert train.bbox == (tuple(box[:3]), tuple(box[3:6])) and train.meta["voxel_size"] == box[6]
    with pytest.raises(DataError, match=r"no 1_\* views, so the 'val' split does not exist"):
        index_split(nsvf_lego, "tank", "val")


def test_opencv_poses_become_opengl(nsvf_lego):
    stored = np.loadtxt(nsvf_lego / "pose" / "0_0003.txt")
    c2w = index_split(nsvf_lego, "tank", "train").cameras.c2w[3].double()
    torch.testing.assert_close(c2w[:3, 0], torch.from_numpy(stored[:3, 0]))
    torch.testing.assert_close(c2w[:3, 1:3], -torch.from_numpy(stored[:3, 1:3]))
    torch.testing.assert_close(c2w[:3, 3], torch.from_numpy(stored[:3, 3]))


@pytest.mark.parametrize("split, views", [("train", (0, 57, 99)), ("test", (0, 123))])
def test_same_rays_as_the_blender_lego(nsvf_lego, lego_dir, split, views):
    nsvf = index_split(nsvf_lego, "tank", split).cameras
    blender = index_split(lego_dir, "synthetic", split).cameras
    norm = Normalization(bound=1.0, scale=0.8, offset=(0.1, -0.2, 0.05))
    grid = torch.cat([torch.arange(0, 800, 7), torch.tensor([799])]).float() + 0.5
    v, u = (x.reshape(-1) for x in torch.meshgrid(grid, grid, indexing="ij"))
    for view in views:
        index = torch.full_like(u, view, dtype=torch.long)
        a, b = pixel_rays(nsvf, index, u, v, norm), pixel_rays(blender, index, u, v, norm)
        torch.testing.assert_close(a.origins, b.origins, atol=1e-5, rtol=0)
        torch.testing.assert_close(a.directions, b.directions, atol=1e-5, rtol=0)


def test_tank_normalization_centres_the_box(nsvf_lego):
    split = index_split(nsvf_lego, "tank", "train")
    norm = scene_normalization(split, "tank", bound=1.0, scale=0.8)
    lo, hi = torch.tensor(split.bbox[0]), torch.tensor(split.bbox[1])
    torch.testing.assert_close(norm.to_box((lo + hi) / 2), torch.zeros(3), atol=1e-6, rtol=0)
    torch.testing.assert_close(norm.to_box(hi) - norm.to_box(lo), 0.8 * (hi - lo))
    assert scene_normalization(split, "synthetic", 1.0, 0.8).offset == (0.0, 0.0, 0.0)


MATRIX_FORM = "100.0 0.0 8.0 0.0\n0.0 110.0 6.0 0.0\n0.0 0.0 1.0 0.0\n0.0 0.0 0.0 1.0\n"
LEGACY_FORM = "100.0 8.0 6.0 0.\n0. 0. 0.\n0.\n1.\n12 16\n"


@pytest.fixture
def tiny_tank(tmp_path, write_png):
    """A Tanks&Temples-like scene: 3 train (0_) and 2 val (1_) views, 16x12 RGB, matrix intrinsics."""
    root = tmp_path / "Tiny"
    rng = np.random.default_rng(0)
    for stem in ("0_0000", "0_0001", "0_0002", "1_0000", "1_0001"):
        write_png(root / "rgb" / f"{stem}.png", rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
        pose = np.eye(4)
        pose[:3, 3] = rng.uniform(-1, 1, 3)
        (root / "pose").mkdir(exist_ok=True)
        np.savetxt(root / "pose" / f"{stem}.txt", pose)
    (root / "intrinsics.txt").write_text(MATRIX_FORM)
    (root / "bbox.txt").write_text("-1 -2 -3 1 2 3 0.1\n")
    return root


def test_matrix_and_legacy_intrinsics_and_val_as_test(tiny_tank):
    test = load_split(tiny_tank, "tank", "test", downscale=2)
    assert [os.path.basename(f) for f in test.files] == ["1_0000.png", "1_0001.png"]
    assert test.images.shape == (2, 6, 8, 3) and test.meta["prefix"] == "1_"
    torch.testing.assert_close(test.cameras.fx, torch.full((2,), 50.0))
    torch.testing.assert_close(test.cameras.fy, torch.full((2,), 55.0))
    (tiny_tank / "intrinsics.txt").write_text(LEGACY_FORM)
    cams = index_split(tiny_tank, "tank", "train").cameras
    torch.testing.assert_close(cams.fy, torch.full((3,), 100.0))
    torch.testing.assert_close(cams.cx, torch.full((3,), 8.0))
    (tiny_tank / "intrinsics.txt").write_text(" ".join(MATRIX_FORM.split()) + "\n")
    val = index_split(tiny_tank, "tank", "val")
    torch.testing.assert_close(val.cameras.fy, torch.full((2,), 110.0))


def _write(name: str, text: str):
    return lambda root: (root / name).write_text(text)


def _remove(name: str):
    return lambda root: (root / name).unlink()


@pytest.mark.parametrize(
    "breakage, message",
    [
        (_remove("pose/0_0001.txt"), r"0_0001.png: image has no pose; expected .*pose/0_0001.txt"),
        (_remove("rgb/0_0002.png"), r"0_0002.txt: pose has no image"),
        (_write("intrinsics.txt", "100 8 6\n0 0\n"), r"intrinsics.txt: lines with \[3, 2\] numbers"),
        (_write("intrinsics.txt", "f cx cy 0\n"), r"intrinsics.txt: non-numeric content"),
        (_remove("intrinsics.txt"), r"intrinsics.txt: file not found"),
        (_write("pose/0_0000.txt", "1 0 0\n0 1 0\n"), r"0_0000.txt: 2 rows of lengths"),
        (_write("bbox.txt", "1 2 3\n"), r"bbox.txt: expected one line"),
        (_write("rgb/0_0001.png", "broken"), r"0_0001.png: unreadable image"),
    ],
)
def test_broken_tank_scenes(tiny_tank, breakage, message):
    breakage(tiny_tank)
    with pytest.raises(DataError, match=message):
        load_split(tiny_tank, "tank", "train")
