"""Growing a gs teacher's occupancy grid before a NeRF student marches on it (pvd.train.splat_distill)."""

from __future__ import annotations

import torch

from pvd.render.occupancy import OccupancyGrid
from pvd.train.splat_distill import dilate_grid


def one_cell_grid(resolution: int = 8) -> OccupancyGrid:
    grid = OccupancyGrid(bound=1.0, resolution=resolution)
    grid.occupancy.zero_()
    grid.occupancy[0, 3, 4, 5] = True
    return grid


def test_dilation_grows_every_direction_by_the_given_cells():
    grid = one_cell_grid()
    share = dilate_grid(grid, 1)
    occupied = grid.occupancy[0].nonzero()
    assert len(occupied) == 27 and share == 27 / 8**3
    assert occupied.min(0).values.tolist() == [2, 3, 4] and occupied.max(0).values.tolist() == [4, 5, 6]
    dilate_grid(grid, 1)  # again: a 5^3 block
    assert int(grid.occupancy.sum()) == 125


def test_dilation_stops_at_unseen_cells_and_at_the_border():
    grid = one_cell_grid()
    grid.seen[0, :, :, 6] = False  # a plane no camera sees
    grid.occupancy[0, 0, 0, 0] = True  # a corner cell: its block is cut by the border
    dilate_grid(grid, 1)
    assert not grid.occupancy[0, :, :, 6].any()
    assert int(grid.occupancy[0, 2:5, 3:6, 4:6].sum()) == 18
    assert int(grid.occupancy[0, :2, :2, :2].sum()) == 8


def test_zero_cells_leave_the_grid_as_it_was():
    grid = one_cell_grid()
    before = grid.occupancy.clone()
    assert dilate_grid(grid, 0) == 1 / 8**3
    assert torch.equal(grid.occupancy, before)
