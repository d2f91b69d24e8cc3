"""The automatic box of captures: what off-centre cameras see, the fallback, the warm-up's shrink."""

from __future__ import annotations

import math

import pytest
import torch

from pvd.data.cameras import Normalization
from pvd.data.capture import auto_box, distance_box
from pvd.data.poses import look_at
from pvd.runs.warm_box import shrink_to


def _rig(n: int, aim, fov_deg: float, jitter: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """[n, 4, 4] cameras from one side (azimuth -30..150 deg, elevation 10..60 deg, 3-4.5 units from
    their look-at points ``aim`` + jitter) and their [n, 6] intrinsics (64 px square images)."""
    g = torch.Generator().manual_seed(seed)
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=g)  # noqa: E731
    az, el, dist = torch.deg2rad(u(-30, 150)), torch.deg2rad(u(10, 60)), u(3.0, 4.5)
    targets = torch.tensor(aim) + jitter * torch.randn(n, 3, generator=g)
    centres = targets + dist[:, None] * torch.stack([el.cos() * az.cos(), el.cos() * az.sin(), el.sin()], -1)
    c2w = look_at(centres, targets, torch.tensor([0.0, 0.0, 1.0]))
    f = 32 / math.tan(math.radians(fov_deg) / 2)
    return c2w.double(), torch.tensor([[f, f, 32.0, 32.0, 64.0, 64.0]] * n, dtype=torch.float64)


def _in_view(points: torch.Tensor, c2w: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """[n_cams, m] whether each camera's pinhole image holds each point (the test's own projection)."""
    out = []
    for pose, (fx, fy, cx, cy, w, h) in zip(c2w, k):
        rel = points - pose[:3, 3]
        x, y, z = (rel @ pose[:3, i] for i in range(3))
        u, v = cx + fx * x / -z, cy - fy * y / -z
        out.append((z < 0) & (u >= 0) & (u <= w) & (v >= 0) & (v <= h))
    return torch.stack(out)


def _inside(box, points: torch.Tensor) -> torch.Tensor:
    """[m] whether world points lie in ``box`` (a :class:`~pvd.data.capture.CaptureBox`)."""
    rot = torch.tensor(box.rotation, dtype=torch.float64)
    local = (points - torch.tensor(box.centre, dtype=torch.float64)) @ rot.T * box.scale
    return (local.abs() <= box.bound).all(-1)


def _ball(radius: float, n: int = 2000) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    d = torch.randn(n, 3, generator=g, dtype=torch.float64)
    return radius * d / d.norm(dim=-1, keepdim=True)


def test_the_box_holds_what_off_centre_cameras_look_at():
    c2w, k = _rig(40, aim=(0.8, 0.6, 0.4), fov_deg=70, jitter=0.1)
    ball = _ball(0.7)  # the "object": at the origin, beside the point the cameras aim at
    assert bool(_in_view(ball, c2w, k).all())  # every camera has it in frame
    box = auto_box(c2w, k, None, "rig")
    assert box.rule == "seen" and bool(_inside(box, ball).all())
    assert not bool(_inside(distance_box(c2w, None, "rig"), ball).all())  # the distance box cuts it
    # not a box around everything: its half-size is less than the distance of the nearest camera
    assert box.bound / box.scale < float((c2w[:, :3, 3] - torch.tensor([0.8, 0.6, 0.4])).norm(dim=-1).min())


def test_an_unbounded_capture_keeps_aabb_scale_around_the_seen_region():
    c2w, k = _rig(30, aim=(0.0, 0.0, 0.0), fov_deg=60, jitter=0.0)
    obj, unb = auto_box(c2w, k, None, "rig"), auto_box(c2w, k, 16, "rig")
    assert unb.mode == "unbounded" and unb.bound == 16 and unb.dt_gamma > 0
    assert unb.scale == pytest.approx(obj.scale) and unb.centre == pytest.approx(obj.centre)


def test_cameras_that_share_no_view_fall_back_with_one_line(capsys):
    # narrow lenses aimed at scattered points: no region is in 90 % of the views
    c2w, k = _rig(30, aim=(0.0, 0.0, 0.0), fov_deg=3, jitter=0.8, seed=2)
    first = auto_box(c2w, k, None, "scattered.json")
    again = auto_box(c2w, k, None, "scattered.json")
    assert first.rule == again.rule == "distance"
    assert first.scale == distance_box(c2w, None, "scattered.json").scale
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scattered.json: no region is seen by 90% of the cameras")


def test_the_warm_up_shrink_fills_the_box_with_the_occupied_region():
    rot = ((0.0, -1.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, 1.0))
    norm = Normalization(1.0, 0.5, (0.2, -0.1, 0.3), rot)
    lo, hi = torch.tensor([-0.3, 0.1, -0.5]), torch.tensor([0.1, 0.4, -0.1])
    new, share = shrink_to(norm, lo, hi, cell=0.02)
    assert share == pytest.approx(0.2 + 0.02)
    corners = torch.stack(
        [torch.where(torch.tensor(b, dtype=torch.bool), hi, lo) for b in ((0, 0, 0), (1, 1, 1), (0, 1, 0))]
    ).double()
    moved = new.to_box(norm.to_world(corners))
    assert float(moved.abs().max()) <= 1.0 and float(moved.abs().max()) > 0.8  # inside, and filling it
    # a region as large as the old box keeps it
    same, share = shrink_to(norm, torch.full((3,), -1.0), torch.full((3,), 1.0), cell=0.02)
    assert share == 1.0 and same.scale == norm.scale
