import os

import numpy as np
import pytest
import torch

from pvd.data import DataError, index_split, load_split
from pvd.data.llff import average_pose


def test_fern_splits_resolution_and_intrinsics(fern_dir):
    raw = np.load(fern_dir / "poses_bounds.npy")
    test = index_split(fern_dir, "llff", "test")
    train = index_split(fern_dir, "llff", "train")
    assert [os.path.basename(f) for f in test.files] == ["image000.png", "image008.png", "image016.png"]
    assert len(train) == 17 and not set(train.files) & set(test.files)
    assert (test.cameras.width, test.cameras.height) == (1008, 756)
    full_h, full_w, focal = raw[0, 4], raw[0, 9], raw[0, 14]
    assert (full_h, full_w) == (3024, 4032)
    torch.testing.assert_close(test.cameras.fx, torch.full((3,), focal * 1008 / full_w).float())
    torch.testing.assert_close(test.cameras.cy, torch.full((3,), 378.0))
    assert test.near == pytest.approx(1 / 0.75) and test.far == pytest.approx(
        raw[:, 16].max() / raw[:, 15].min() / 0.75
    )


def test_fern_poses_are_recentred_proper_rotations(fern_dir):
    views = [index_split(fern_dir, "llff", s).cameras.c2w for s in ("train", "test")]
    c2w = torch.cat(views).double()
    rot = c2w[:, :3, :3]
    torch.testing.assert_close(rot @ rot.transpose(1, 2), torch.eye(3).expand(20, 3, 3).double(), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(rot), torch.ones(20).double(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(average_pose(c2w.numpy()), np.eye(4), atol=1e-5)
    forward = -rot[:, :, 2]
    assert float((forward @ torch.tensor([0.0, 0.0, -1.0]).double()).min()) > 0.9


def test_axis_conversion_preserves_relative_camera_geometry(tmp_path, write_png):
    """Cameras built in OpenGL axes, stored the LLFF way, come back with the same relative poses."""
    rng = np.random.default_rng(0)
    gl = np.tile(np.eye(4), (9, 1, 1))
    for i in range(9):
        angles = rng.uniform(-0.3, 0.3, 3)
        cx, cy, cz = np.cos(angles)
        sx, sy, sz = np.sin(angles)
        rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
        ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
        gl[i, :3, :3] = rz @ ry @ rx
        gl[i, :3, 3] = rng.uniform(-1, 1, 3)
    llff = np.concatenate([-gl[:, :3, 1:2], gl[:, :3, 0:1], gl[:, :3, 2:4]], axis=2)  # down,right,back
    hwf = np.broadcast_to(np.array([[40.0], [60.0], [50.0]]), (9, 3, 1))
    bounds = rng.uniform(2.0, 10.0, (9, 2))
    bounds.sort(axis=1)
    np.save(tmp_path / "poses_bounds.npy", np.concatenate([np.concatenate([llff, hwf], 2).reshape(9, 15), bounds], 1))
    for i in range(9):
        write_png(tmp_path / "images_4" / f"{i:02d}.png", np.zeros((10, 15, 3), np.uint8))
    c2w = torch.cat([index_split(tmp_path, "llff", s).cameras.c2w for s in ("test", "train")])
    order = [0, 8] + [i for i in range(9) if i % 8]
    ref = torch.from_numpy(gl[order])
    sc = 1 / (bounds.min() * 0.75)
    for i, j in ((0, 1), (2, 5), (3, 8)):
        rel = torch.linalg.inv(c2w[i].double()) @ c2w[j].double()
        rel_ref = torch.linalg.inv(ref[i]) @ ref[j]
        torch.testing.assert_close(rel[:3, :3], rel_ref[:3, :3], atol=1e-5, rtol=0)
        torch.testing.assert_close(rel[:3, 3], rel_ref[:3, 3] * sc, atol=1e-5, rtol=0)
    cams = index_split(tmp_path, "llff", "train").cameras
    assert (cams.width, cams.height) == (15, 10)
    torch.testing.assert_close(cams.fx, torch.full((7,), 50.0 * 15 / 60))


def test_downscale_picks_the_matching_folder_or_averages(fern_dir):
    eighth = load_split(fern_dir, "llff", "test", downscale=2)
    assert eighth.images.shape == (3, 378, 504, 3) and eighth.files[0].endswith("images_8/image000.png")
    assert eighth.meta["downscale"] == 2
    twelfth = index_split(fern_dir, "llff", "test", downscale=3)
    assert twelfth.files[0].endswith("images_4/image000.png") and twelfth.area_factor == 3
    assert (twelfth.cameras.width, twelfth.cameras.height) == (336, 252)
    full = index_split(fern_dir, "llff", "test")
    torch.testing.assert_close(twelfth.cameras.fx, full.cameras.fx / 3)


@pytest.fixture
def fern_copy(fern_dir, tmp_path):
    """A linked copy of fern that a test may break."""
    root = tmp_path / "fern"
    (root / "images_4").mkdir(parents=True)
    for png in sorted((fern_dir / "images_4").iterdir()):
        os.symlink(png, root / "images_4" / png.name)
    os.symlink(fern_dir / "poses_bounds.npy", root / "poses_bounds.npy")
    return root


def test_frame_count_mismatch(fern_copy):
    (fern_copy / "images_4" / "image019.png").unlink()
    with pytest.raises(
        DataError,
        match=r"poses_bounds.npy: frame count mismatch: 20 views .* "
        r"but 19 images",
    ):
        index_split(fern_copy, "llff", "train")


@pytest.mark.parametrize(
    "content, message",
    [
        (np.zeros((20, 16)), r"shape \(20, 16\) .* expected numbers of shape \[n_views, 17\]"),
        (b"garbage bytes", "not a readable .npy array"),
        (np.full((20, 17), np.nan), "non-finite"),
    ],
)
def test_malformed_poses_bounds(fern_copy, content, message):
    target = fern_copy / "poses_bounds.npy"
    target.unlink()
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        np.save(target, content)
    with pytest.raises(DataError, match=message) as info:
        index_split(fern_copy, "llff", "test")
    assert "poses_bounds.npy" in str(info.value)


def test_missing_image_folder(fern_copy):
    for png in (fern_copy / "images_4").iterdir():
        png.unlink()
    (fern_copy / "images_4").rmdir()
    with pytest.raises(DataError, match=r"no image folder for a 4x reduction; expected images_4/"):
        index_split(fern_copy, "llff", "test")
