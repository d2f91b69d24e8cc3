import math

import pytest
import torch

from pvd.data.cameras import Cameras
from pvd.data.poses import look_at
from pvd.errors import SpecError, UserError
from pvd.evaluate.camera_path import orbit_poses, parse_size, path_cameras, spiral_poses


def _ring(center, up, radius=4.0, elev_deg=30.0, n=12):
    """Cameras on a ring (varying azimuth from 20 deg) around ``center`` about ``up``, looking at it."""
    up = up / up.norm()
    e1 = torch.linalg.cross(up, torch.tensor([0.3, 0.2, 0.9]))
    e1 = e1 / e1.norm()
    e2 = torch.linalg.cross(up, e1)
    az = torch.linspace(0.35, 0.35 + 2 * math.pi * (n - 1) / n, n)
    el = math.radians(elev_deg) + 0.05 * torch.sin(3 * az)  # a little wobble, mean still ~elev
    pos = center + radius * (
        el.cos()[:, None] * (az.cos()[:, None] * e1 + az.sin()[:, None] * e2) + el.sin()[:, None] * up
    )
    return look_at(pos, center.expand(n, 3), up), e1, e2


def _cams(c2w, w=40, h=30):
    n = len(c2w)
    return Cameras(
        c2w, torch.full((n,), 35.0), torch.full((n,), 35.0), torch.full((n,), w / 2), torch.full((n,), h / 2), w, h
    )


def test_orbit_recovers_centre_radius_elevation_and_looks_at_centre():
    center, up = torch.tensor([1.0, 2.0, -0.5]), torch.tensor([0.2, 0.1, 1.0])
    c2w, e1, e2 = _ring(center, up)
    poses = orbit_poses(c2w, 8)
    up = up / up.norm()
    off = poses[:, :3, 3] - center
    dist = off.norm(dim=-1)
    torch.testing.assert_close(dist, torch.full((8,), 4.0), atol=1e-3, rtol=0)
    elev = torch.rad2deg(torch.asin(off @ up / dist))
    torch.testing.assert_close(elev, torch.full((8,), 30.0), atol=0.1, rtol=0)
    # -z of every camera points at the centre; rotations are proper
    torch.testing.assert_close(-poses[:, :3, 2], off.neg() / dist[:, None], atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(poses[:, :3, :3]), torch.ones(8), atol=1e-5, rtol=0)

    # starts at the first camera's azimuth, equal steps of 45 degrees
    def azimuth(p):
        return torch.atan2(p @ e2, p @ e1)

    assert float(azimuth(off[0])) == pytest.approx(float(azimuth(c2w[0, :3, 3] - center)), abs=1e-3)
    steps = torch.remainder(azimuth(off[1:]) - azimuth(off[:-1]), 2 * math.pi)
    torch.testing.assert_close(steps, torch.full((7,), math.pi / 4), atol=1e-4, rtol=0)


def _forward_facing(n=9, depth=5.0):
    """Cameras on a 3x3 grid in the z = 0 plane, looking along -z at a point ``depth`` away."""
    xs = torch.tensor([-0.3, 0.0, 0.3])
    pos = torch.stack([torch.tensor([x, y, 0.0]) for x in xs for y in xs * 0.5])
    target = torch.tensor([0.0, 0.0, -depth])
    return look_at(pos, target.expand(n, 3), torch.tensor([0.0, 1.0, 0.0]))


def test_spiral_stays_within_the_camera_spread_and_looks_at_the_focus():
    cams = _cams(_forward_facing())
    poses = spiral_poses(cams, 40, near=2.0, far=10.0)
    pos = poses[:, :3, 3]
    # offsets bounded by the 90th-percentile camera offsets (0.3, 0.15) in x/y, and by 0.0 in z
    # (all cameras share z = 0: a flat spiral)
    assert float(pos[:, 0].abs().max()) <= 0.3 + 1e-5 and float(pos[:, 1].abs().max()) <= 0.15 + 1e-5
    assert float(pos[:, 0].abs().max()) > 0.25
    torch.testing.assert_close(pos[:, 2], torch.zeros(40), atol=1e-5, rtol=0)
    # LLFF focus depth 1 / (0.25 / near + 0.75 / far) = 1 / (0.125 + 0.075) = 5 along -z
    focus = torch.tensor([0.0, 0.0, -5.0])
    view = -poses[:, :3, 2]
    to_focus = (focus - pos) / (focus - pos).norm(dim=-1, keepdim=True)
    torch.testing.assert_close(view, to_focus, atol=1e-4, rtol=0)
    assert float(poses[:, 1, 1].min()) > 0.9  # camera up stays up


def test_spiral_on_real_fern_cameras_faces_forward(fern_dir):
    from pvd.data import index_split

    train = index_split(fern_dir, "llff", "train", 8)
    cams = path_cameras(train.cameras, "spiral", 30, near=train.near, far=train.far)
    mean_view = -train.cameras.c2w[:, :3, 2].mean(0)
    mean_view = mean_view / mean_view.norm()
    assert float((-cams.c2w[:, :3, 2] @ mean_view).min()) > 0.95
    lo, hi = train.cameras.c2w[:, :3, 3].min(0).values, train.cameras.c2w[:, :3, 3].max(0).values
    span = (hi - lo).norm()
    assert float((cams.c2w[:, :3, 3] - train.cameras.c2w[:, :3, 3].mean(0)).norm(dim=-1).max()) < span


def test_path_cameras_intrinsics_and_errors():
    c2w, _, _ = _ring(torch.zeros(3), torch.tensor([0.0, 0.0, 1.0]))
    train = _cams(c2w)
    same = path_cameras(train, "orbit", 5)
    assert (same.width, same.height, len(same)) == (40, 30, 5)
    torch.testing.assert_close(same.fx, torch.full((5,), 35.0))
    big = path_cameras(train, "orbit", 5, size=(80, 80))
    assert float(big.fx[0]) == pytest.approx(70.0) and float(big.fy[0]) == pytest.approx(70.0)
    assert float(big.cx[0]) == pytest.approx(40.0) and float(big.cy[0]) == pytest.approx(40.0)
    with pytest.raises(SpecError, match="^path 'zigzag': expected one of"):
        path_cameras(train, "zigzag", 5)
    with pytest.raises(SpecError, match="^frames must be >= 1, got 0"):
        path_cameras(train, "orbit", 0)
    with pytest.raises(UserError, match="at least 2"):
        path_cameras(train[[0]], "orbit", 5)


def test_parse_size():
    assert parse_size("400x300") == (400, 300)
    for bad in ("400", "0x3", "ax3", "4x3x2"):
        with pytest.raises(SpecError, match="^size '.*': expected WIDTHxHEIGHT"):
            parse_size(bad)
