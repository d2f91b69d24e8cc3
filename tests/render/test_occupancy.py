"""Occupancy grid: cascades, updates on an analytic density, decay, warm-up, untrained cells."""

import math

import pytest
import torch
from analytic_fields import BallField

from pvd.data.cameras import Cameras, Normalization
from pvd.errors import UserError
from pvd.render.occupancy import OccupancyGrid


def _cell_corner_radii(grid):
    """Per cell: (min, max) distance of the cell's points from the origin, cascade 0 only."""
    r = grid.resolution
    idx = torch.arange(r**3)
    centres = grid.cell_positions(idx)
    half = grid.bound / r
    lo = (centres.abs() - half).clamp_min(0).norm(dim=-1)
    hi = (centres.abs() + half).norm(dim=-1)
    return lo.view(r, r, r), hi.view(r, r, r)


def test_cascades_and_validation():
    assert OccupancyGrid(1.0, 8).cascades == 1
    assert OccupancyGrid(2.0, 8).cascades == 2
    assert OccupancyGrid(3.0, 8).cascades == 3
    assert OccupancyGrid(0.5, 8).cascades == 1
    with pytest.raises(UserError, match="cascades"):
        OccupancyGrid(4.0, 8, cascades=2)
    with pytest.raises(UserError, match="resolution"):
        OccupancyGrid(1.0, 0)
    grid = OccupancyGrid(2.0, 4)
    grid.occupancy[1] = False
    assert grid.occupied(torch.tensor([[0.5, 0.5, 0.5], [1.5, 0.0, 0.0]])).tolist() == [True, False]


def test_update_marks_ball_cells():
    field = BallField(sigma=100.0, radius=0.5)
    grid = OccupancyGrid(1.0, 16)
    gen = torch.Generator().manual_seed(0)
    assert grid.update(field.density, 0, generator=gen)
    lo, hi = _cell_corner_radii(grid)
    occ = grid.occupancy[0]
    assert occ[hi < 0.5].all()
    assert not occ[lo > 0.5].any()
    assert int(grid.n_updates) == 1
    expected_mean = 100.0 * (4 / 3 * math.pi * 0.125) / 8
    assert abs(grid.mean_density.item() - expected_mean) / expected_mean < 0.15
    assert not grid.update(field.density, 5)  # not a multiple of update_every


def test_decay_and_partial_updates():
    field = BallField(sigma=100.0, radius=0.5)
    grid = OccupancyGrid(1.0, 8)
    gen = torch.Generator().manual_seed(0)
    grid.update(field.density, 0, generator=gen)
    before = grid.density.clone()
    with torch.no_grad():
        field.log_sigma.fill_(-30.0)  # the ball vanishes
    grid.update(field.density, 16, generator=gen)
    assert torch.allclose(grid.density, before * 0.95)
    mid = grid.density.clone()
    # past the full updates: a quarter of the cells at random plus as many occupied (ball) cells
    field.radius = 2.0
    with torch.no_grad():
        field.log_sigma.fill_(math.log(1000.0))
    grid.update(field.density, 32, full_updates=2, generator=gen)
    visited = torch.isclose(grid.density, torch.tensor(1000.0))
    in_ball = before > 1
    assert visited[in_ball].float().mean() > 0.9
    share = visited[~in_ball].float().mean().item()
    assert 0.15 < share < 0.3  # 1 - exp(-1/4) = 0.22 expected
    assert torch.equal(grid.density[~visited], mid[~visited])


def test_warmup_keeps_everything_then_prunes():
    field = BallField(sigma=100.0, radius=0.3)
    grid = OccupancyGrid(1.0, 8)
    grid.update(field.density, 0, warmup_steps=32)
    assert grid.occupancy.all()
    grid.update(field.density, 32, warmup_steps=32)
    assert 0 < grid.occupied_fraction() < 0.2


def _camera_looking_down_z(distance=3.0, focal=400.0, size=100):
    c2w = torch.eye(4)
    c2w[2, 3] = distance
    f = torch.tensor([focal])
    c = torch.tensor([size / 2])
    return Cameras(c2w[None], f, f, c, c, size, size)


def test_mark_untrained_cuts_outside_the_view():
    grid = OccupancyGrid(1.0, 16)
    cams = _camera_looking_down_z(focal=400.0)  # half-angle ~7 degrees: sees |x|,|y| < ~0.5 at the box
    n_unseen = grid.mark_untrained(cams, Normalization())
    assert 0 < n_unseen < grid.n_cells
    centre = torch.tensor([[0.0, 0.0, 0.0], [0.1, -0.1, 0.8]])
    corner = torch.tensor([[0.95, 0.95, -0.95], [-0.95, 0.9, 0.0]])
    assert grid.occupied(centre).all() and not grid.occupied(corner).any()
    # unseen cells stay empty through updates
    grid.update(BallField(sigma=100.0, radius=2.0).density, 0)
    assert not grid.occupied(corner).any()


def test_mark_untrained_camera_facing_away_and_normalization():
    cams = _camera_looking_down_z(distance=-3.0, focal=50.0)  # behind the box, looking along -z
    grid = OccupancyGrid(1.0, 8)
    assert grid.mark_untrained(cams, Normalization()) == grid.n_cells
    assert not grid.occupancy.any()
    # the same camera in world units 10x larger, mapped by the normalisation, sees the box again
    cams = _camera_looking_down_z(distance=30.0, focal=50.0)
    grid = OccupancyGrid(1.0, 8)
    assert grid.mark_untrained(cams, Normalization(1.0, 0.1, (0.0, 0.0, 0.0))) == 0


def test_state_dict_round_trip():
    grid = OccupancyGrid(2.0, 8)
    grid.update(BallField(sigma=50.0, radius=0.7, bound=2.0).density, 0)
    other = OccupancyGrid(2.0, 8)
    other.load_state_dict(grid.state_dict())
    assert torch.equal(other.occupancy, grid.occupancy) and torch.equal(other.density, grid.density)
    assert int(other.n_updates) == 1
