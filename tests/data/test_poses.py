"""Data-free pose samplers on the real lego / fern / NSVF-lego training cameras."""

import math

import pytest
import torch

from pvd.data.loader import index_split
from pvd.data.poses import PoseSampler, look_at, random_rotations, world_up
from pvd.errors import UserError


def _check_rotations(c2w):
    rot = c2w[:, :3, :3]
    assert torch.allclose(torch.det(rot), torch.ones(len(rot)), atol=1e-5)
    assert torch.allclose(rot.transpose(1, 2) @ rot, torch.eye(3).expand_as(rot), atol=1e-5)
    assert torch.equal(c2w[:, 3], torch.tensor([0.0, 0.0, 0.0, 1.0]).expand(len(c2w), 4))


def _view_cosines(c2w, target):
    """Cosine between each camera's view axis (-z) and the direction to ``target``."""
    forward = -c2w[:, :3, 2]
    to_target = torch.nn.functional.normalize(target - c2w[:, :3, 3], dim=-1)
    return (forward * to_target).sum(-1)


@pytest.mark.parametrize("scene", ["lego", "nsvf"])
def test_orbit_samplers_on_lego_cameras(scene, lego_dir, nsvf_lego):
    root, data_type = (lego_dir, "synthetic") if scene == "lego" else (nsvf_lego, "tank")
    cams = index_split(root, data_type, "train", 8).cameras
    assert len(cams) == 100
    sampler = PoseSampler(cams, data_type)
    region = sampler.region
    # lego's cameras orbit the origin at radius ~4.03 with world +z up
    assert region.center.norm() < 0.05
    assert torch.allclose(region.up, torch.tensor([0.0, 0.0, 1.0]), atol=1e-3)
    assert region.radius[0] == pytest.approx(4.031, abs=0.01) and region.radius[1] == pytest.approx(4.031, abs=0.01)
    views = sampler.sample(torch.Generator().manual_seed(0))
    assert len(views) == (312 if data_type == "synthetic" else 87)
    _check_rotations(views.c2w)
    assert _view_cosines(views.c2w, region.center).min() > 0.9999
    centres = views.c2w[:, :3, 3]
    assert torch.allclose(centres.norm(dim=-1), torch.full((len(views),), 4.031), atol=0.01)
    elevation = torch.rad2deg(torch.asin(centres[:, 2] / centres.norm(dim=-1)))
    if data_type == "synthetic":  # the upper hemisphere
        assert elevation.min() >= -0.1 and elevation.max() > 60
    else:  # the training cameras' elevation band
        train_el = torch.rad2deg(torch.asin(cams.c2w[:, 2, 3] / cams.c2w[:, :3, 3].norm(dim=-1)))
        assert elevation.min() >= train_el.min() - 0.1 and elevation.max() <= train_el.max() + 0.1
    # cameras stay upright: their right axis is horizontal
    assert views.c2w[:, 2, 0].abs().max() < 1e-4
    # intrinsics come from the training cameras, resampled each epoch
    assert set(views.fx.tolist()) <= set(cams.fx.tolist()) and views.width == cams.width
    again = sampler.sample(torch.Generator().manual_seed(1))
    assert not torch.allclose(again.c2w, views.c2w)


def test_llff_sampler_on_fern_cameras(fern_dir):
    index = index_split(fern_dir, "llff", "train", 2)
    cams = index.cameras
    sampler = PoseSampler(cams, "llff", near=index.near, far=index.far)
    region = sampler.region
    views = sampler.sample(torch.Generator().manual_seed(0))
    _check_rotations(views.c2w)
    centres = views.c2w[:, :3, 3]
    lo, hi = cams.c2w[:, :3, 3].min(0).values, cams.c2w[:, :3, 3].max(0).values
    assert (centres >= lo - 1e-6).all() and (centres <= hi + 1e-6).all()
    assert _view_cosines(views.c2w, region.center).min() > 0.9999
    # the focus point lies in front of the cameras, between the scene's near and far depths
    mean_forward = torch.nn.functional.normalize(-cams.c2w[:, :3, 2].mean(0), dim=0)
    depth = float((region.center - cams.c2w[:, :3, 3].mean(0)) @ mean_forward)
    assert index.near < depth < index.far
    # sampled views look roughly the way the training cameras do (forward-facing)
    assert (-views.c2w[:, :3, 2] @ mean_forward).min() > math.cos(math.radians(15))
    assert (views.c2w[:, :3, 1] @ region.up).min() > 0.9


def test_real_poses_option_and_jitter(lego_dir):
    cams = index_split(lego_dir, "synthetic", "train", 8).cameras
    real = PoseSampler(cams, "synthetic", use_real=True)
    assert real.sample(torch.Generator()).c2w is cams.c2w
    sampler = PoseSampler(cams, "synthetic", n_poses=50)
    gen = torch.Generator().manual_seed(3)
    views = sampler.sample(gen)
    jittered = sampler.jitter(views, 9.0, gen)
    _check_rotations(jittered.c2w)
    assert _view_cosines(jittered.c2w, sampler.region.center).min() > 0.9999
    moved = torch.acos(
        torch.nn.functional.normalize(jittered.c2w[:, :3, 3], dim=-1)
        .mul(torch.nn.functional.normalize(views.c2w[:, :3, 3], dim=-1))
        .sum(-1)
        .clamp(-1, 1)
    )
    assert torch.rad2deg(moved).max() <= 9.0 + 1e-3 and torch.rad2deg(moved).max() > 1.0


def test_helpers_and_errors(lego_dir):
    rot = random_rotations(100, math.radians(9), torch.Generator().manual_seed(0))
    angle = torch.rad2deg(torch.acos(((rot.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1, 1)))
    assert angle.max() <= 9.0 + 1e-3
    # straight down the up axis still gives a proper rotation
    c2w = look_at(torch.tensor([[0.0, 0.0, 4.0]]), torch.zeros(1, 3), torch.tensor([0.0, 0.0, 1.0]))
    _check_rotations(c2w)
    assert torch.allclose(-c2w[0, :3, 2], torch.tensor([0.0, 0.0, -1.0]))
    cams = index_split(lego_dir, "synthetic", "train", 8).cameras
    assert torch.allclose(world_up(cams.c2w), torch.tensor([0.0, 0.0, 1.0]), atol=1e-3)
    with pytest.raises(UserError, match="data_type"):
        PoseSampler(cams, "colmap")
    with pytest.raises(UserError, match="at least 2"):
        PoseSampler(cams[0], "synthetic")


def _seen_by_any(points: torch.Tensor, views) -> torch.Tensor:
    """[m] whether each world point [m, 3] projects inside the image of at least one view."""
    rot, t = views.c2w[:, :3, :3], views.c2w[:, :3, 3]
    q = torch.einsum("kji,kmj->kmi", rot, points[None] - t[:, None])  # camera coordinates
    z = -q[..., 2]
    u = views.fx[:, None] * q[..., 0] / z + views.cx[:, None]
    v = -views.fy[:, None] * q[..., 1] / z + views.cy[:, None]
    return ((z > 0) & (u >= 0) & (u < views.width) & (v >= 0) & (v < views.height)).any(0)


def test_llff_sampled_views_cover_what_the_test_views_see(fern_dir):
    """Distillation only teaches the student what some sampled view sees: the points a fern test
    view sees at the near, focus and far depths must be in the frame of the sampled views of a
    few epochs (measured: >= 97.8 % of test pixels at every depth, 20 epochs)."""
    train = index_split(fern_dir, "llff", "train", 8)
    test = index_split(fern_dir, "llff", "test", 8)
    sampler = PoseSampler(train.cameras, "llff", near=train.near, far=train.far)
    gen = torch.Generator().manual_seed(0)
    epochs = [sampler.sample(gen) for _ in range(20)]
    views = type(epochs[0])(
        torch.cat([e.c2w for e in epochs]),
        torch.cat([e.fx for e in epochs]),
        torch.cat([e.fy for e in epochs]),
        torch.cat([e.cx for e in epochs]),
        torch.cat([e.cy for e in epochs]),
        train.cameras.width,
        train.cameras.height,
    )
    cams = test.cameras
    ys, xs = torch.meshgrid(torch.arange(cams.height) + 0.5, torch.arange(cams.width) + 0.5, indexing="ij")
    focus = 1.0 / (0.25 / train.near + 0.75 / train.far)
    for i in range(len(cams)):
        dirs = (
            torch.stack(
                ((xs - cams.cx[i]) / cams.fx[i], -(ys - cams.cy[i]) / cams.fy[i], -torch.ones_like(xs)), -1
            ).reshape(-1, 3)
            @ cams.c2w[i, :3, :3].T
        )
        for depth in (train.near, focus, train.far):
            seen = _seen_by_any(cams.c2w[i, :3, 3] + dirs * depth, views)
            assert seen.float().mean() > 0.95, (i, depth, float(seen.float().mean()))
