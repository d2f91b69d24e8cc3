"""Captures (``--data_type capture``): transforms.json variants, lens distortion, masks, the automatic box."""

from __future__ import annotations

import json
import math
import shutil

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from pvd.data import index_split, load_split, scene_normalization
from pvd.data.cameras import Cameras, Normalization, pixel_rays
from pvd.data.demo import DemoConfig
from pvd.data.demo_capture import CaptureOptions, similarity, write_demo_capture
from pvd.data.distortion import Distortion, check_invertible, distort, undistort
from pvd.data.scene import DataError

SMALL = DemoConfig(size=16, n_train=10, n_val=2, n_test=3, spp=1)
LENS = CaptureOptions("OPENCV", (-0.25, 0.06, 0.0, 0.0, 0.004, -0.003))


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    base = tmp_path_factory.mktemp("captures")
    return {
        name: write_demo_capture(base / name, SMALL, options)
        for name, options in {
            "pinhole": CaptureOptions(),
            "lens": LENS,
            "moved": CaptureOptions(similarity_seed=3),
        }.items()
    }


def _edit(src, dst, change) -> None:
    shutil.copytree(src, dst)
    doc = json.loads((dst / "transforms.json").read_text())
    change(doc)
    (dst / "transforms.json").write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "model, coeffs",
    [("OPENCV", (-0.3, 0.08, 0.01, 0.0, 0.003, -0.002)), ("OPENCV_FISHEYE", (0.05, -0.02, 0.004, -0.001, 0.0, 0.0))],
)
def test_undistort_inverts_distort(model, coeffs):
    g = torch.Generator().manual_seed(0)
    x, y = (torch.rand(2, 500, generator=g, dtype=torch.float64) - 0.5) * 1.4
    c = torch.tensor([coeffs], dtype=torch.float64).expand(500, 6)
    xd, yd = distort(model, c, x, y)
    assert float((xd - x).abs().max()) > 1e-3  # the lens does bend
    xu, yu, ok = undistort(model, c, xd, yd)
    assert bool(ok.all()) and float((xu - x).abs().max()) < 1e-9 and float((yu - y).abs().max()) < 1e-9


def test_a_ray_through_a_distorted_pixel_hits_the_point_that_projects_there():
    lens = Distortion("OPENCV", torch.tensor([[-0.2, 0.05, 0.0, 0.0, 0.002, 0.001]], dtype=torch.float64))
    cams = Cameras(
        torch.eye(4)[None],
        torch.tensor([50.0]),
        torch.tensor([52.0]),
        torch.tensor([32.0]),
        torch.tensor([24.0]),
        64,
        48,
        lens,
    )
    point = torch.tensor([0.7, -0.4, -2.0])  # camera at the origin looking down -z
    x, y = point[0] / -point[2], -point[1] / -point[2]  # pinhole, y down
    xd, yd = distort("OPENCV", lens.coeffs, x[None].double(), y[None].double())
    u, v = 32.0 + 50.0 * xd, 24.0 + 52.0 * yd
    ray = pixel_rays(cams, torch.zeros(1, dtype=torch.long), u.float(), v.float(), Normalization())
    hit = ray.origins[0] + ray.directions[0] * point.norm()
    torch.testing.assert_close(hit, point, atol=1e-5, rtol=0)


def test_strong_distortion_that_folds_over_is_a_clear_error():
    lens = Distortion("OPENCV", torch.tensor([[-1.5, 0.0, 0.0, 0.0, 0.0, 0.0]], dtype=torch.float64))
    one = torch.ones(1, dtype=torch.float64)
    with pytest.raises(Exception, match="cannot be inverted at pixel"):
        check_invertible(lens, one * 20, one * 20, one * 32, one * 24, 64, 48, "capture.json")


def test_capture_splits_lens_and_box(captures):
    train = index_split(captures["lens"], "capture", "train")
    test = index_split(captures["lens"], "capture", "test")
    assert (len(train), len(test)) == (10, 3) and train.meta["split_rule"] == "train_filenames"
    assert train.cameras.distortion.model == "OPENCV" and train.cameras.distortion.coeffs.shape == (10, 6)
    assert train.meta["box"] == test.meta["box"] and train.meta["box"]["mode"] == "object"
    box = train.meta["box"]
    assert box["rule"] == "seen" and 0.6 < box["scale"] <= 0.8  # demo: cameras at radius 4 (distances: 0.8)
    # the demo scene (a ground disc of radius 0.9 from z -0.12 to 0, a pillar up to z 0.75) is inside
    ring = torch.tensor([[0.9 * math.cos(a), 0.9 * math.sin(a), z] for a in range(7) for z in (-0.12, 0.0)])
    scene = torch.cat([ring, torch.tensor([[-0.21, 0.48, 0.75]])]).double()
    local = (
        (scene - torch.tensor(box["centre"], dtype=torch.float64))
        @ torch.tensor(box["rotation"], dtype=torch.float64).T
        * box["scale"]
    )
    assert float(local.abs().max()) <= box["bound"]
    split = load_split(captures["lens"], "capture", "test")
    assert split.images.shape == (3, 16, 16, 4) and split.cameras[1].distortion.coeffs.shape == (1, 6)
    assert index_split(captures["pinhole"], "capture", "train").cameras.distortion is None


def test_the_box_follows_a_moved_capture(captures):
    rot, shift, scale = similarity(3)
    a = index_split(captures["pinhole"], "capture", "train")
    b = index_split(captures["moved"], "capture", "train")
    box_a, box_b = a.meta["box"], b.meta["box"]
    assert box_b["scale"] * scale == pytest.approx(box_a["scale"], rel=1e-4)
    moved_centre = scale * (rot @ torch.tensor(box_a["centre"], dtype=torch.float32)) + shift
    # the same box up to the grid that finds it (its axes about up follow the world frame): 2 % of its size
    near = 0.02 / box_b["scale"]
    torch.testing.assert_close(torch.tensor(box_b["centre"], dtype=torch.float32), moved_centre, atol=near, rtol=0)
    # the box maps the moved cameras to the same distance from its centre (box units)
    norm_a = scene_normalization(a, "capture", box_a["bound"], box_a["scale"])
    norm_b = scene_normalization(b, "capture", box_b["bound"], box_b["scale"])
    da = norm_a.to_box(a.cameras.c2w[:, :3, 3]).norm(dim=-1)
    db = norm_b.to_box(b.cameras.c2w[:, :3, 3]).norm(dim=-1)
    torch.testing.assert_close(da, db, atol=0.02, rtol=0)
    # both boxes stand upright: the demo's up (world +z), moved by the similarity, is box +z
    up_b = norm_b.to_box_dir((rot @ torch.tensor([0.0, 0.0, 1.0]))[None])[0]
    torch.testing.assert_close(up_b, torch.tensor([0.0, 0.0, 1.0]), atol=1e-4, rtol=0)
    torch.testing.assert_close(
        norm_a.to_box_dir(torch.tensor([[0.0, 0.0, 1.0]]))[0], torch.tensor([0.0, 0.0, 1.0]), atol=1e-4, rtol=0
    )


def test_holdout_masks_aabb_and_applied_transform(captures, tmp_path):
    def change(doc):
        for key in ("train_filenames", "val_filenames", "test_filenames"):
            del doc[key]
        doc["aabb_scale"] = 4
        doc["applied_transform"] = np.eye(4)[:3].tolist()
        for frame in doc["frames"]:
            frame["mask_path"] = "mask.png"

    _edit(captures["pinhole"], tmp_path / "c", change)
    mask = np.zeros((16, 16), np.uint8)
    mask[4:12, 4:12] = 255
    iio.imwrite(tmp_path / "c" / "mask.png", mask)
    test = index_split(tmp_path / "c", "capture", "test")
    assert test.meta["frame_indices"] == [0, 8] and test.meta["box"]["mode"] == "unbounded"
    assert test.meta["box"]["bound"] == 4 and test.meta["box"]["dt_gamma"] > 0
    assert test.meta["applied_transform"][0][0] == 1.0
    alpha = test.load().images[0, ..., 3]
    assert float(alpha[8, 8]) == 1.0 and float(alpha[0, 0]) == 0.0


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda d: d.update(camera_model="EQUIRECTANGULAR"),
            "camera_model 'EQUIRECTANGULAR' is not supported; supported: ",
        ),
        (lambda d: d.update(k4=0.1), "camera_model OPENCV has no coefficient\\(s\\) k4"),
        (lambda d: d.update(k1=float("nan")), "'k1' must be a finite number"),
        (lambda d: d.update(aabb_scale=0), "'aabb_scale' must be a positive number"),
        (lambda d: [f.update(transform_matrix=np.eye(4).tolist()) for f in d["frames"]], "the same camera position"),
        (
            lambda d: d["frames"][2].update(transform_matrix=[[float("nan")] * 4] * 4),
            "frame 2: 'transform_matrix' must be",
        ),
        (
            lambda d: (
                d["frames"][1].update(file_path="train/missing.png"),
                d["train_filenames"].__setitem__(1, "train/missing.png"),
            ),
            "frame 1: image 'train/missing.png' not found",
        ),
        (lambda d: d["frames"][1].update(w=20), "w/h say 20x16"),
        (lambda d: d.update(train_filenames=["nowhere.png"]), "1 of the train_filenames name no frame"),
        (lambda d: d.update(applied_transform=[[1, 0], [0, 1]]), "'applied_transform' must be a finite 3x4 or 4x4"),
    ],
)
def test_bad_captures_are_clear_errors(captures, tmp_path, change, message):
    _edit(captures["lens"], tmp_path / "bad", change)
    with pytest.raises(DataError, match=message):
        index_split(tmp_path / "bad", "capture", "train")


def test_forward_facing_capture_asks_for_a_box(captures, tmp_path):
    def forward(doc):
        for i, frame in enumerate(doc["frames"]):
            m = np.eye(4)
            m[:3, 3] = [0.1 * (i % 5), 0.1 * (i // 5), 0.0]
            frame["transform_matrix"] = m.tolist()

    _edit(captures["pinhole"], tmp_path / "ff", forward)
    with pytest.raises(DataError, match="do not look at a common centre"):
        index_split(tmp_path / "ff", "capture", "train")
