"""Multi-cascade occupancy grid: which cells of the box are worth sampling.

Cascade ``c`` (``0 <= c < C``, ``C = 1 + ceil(log2 bound)`` for ``bound > 1``, else 1) is a
``R^3`` grid over ``[-s_c, s_c]^3`` with ``s_c = min(2^c, bound)`` (box units); a point belongs to
the finest cascade that contains it. Cell ``[c, i, j, k]`` is indexed x (i), y (j), z (k); the flat
index is ``((c * R + i) * R + j) * R + k``.

Each cell stores a running density estimate (1 / box unit). An update evaluates the field at one
jittered point per chosen cell and sets ``density = max(density * decay, new)`` for those cells;
the first ``full_updates`` updates visit every cell, later ones ``R^3 C / 4`` random cells plus as
many currently occupied ones. A cell is occupied when its density exceeds
``min(mean density, density_thresh)``. Cells that no training camera sees are marked empty once
(:meth:`OccupancyGrid.mark_untrained`) and never become occupied again. During a warm-up
(``step < warmup_steps``) densities are updated but nothing is pruned, so geometry that is not
learned yet is not lost for good.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from pvd.data.cameras import Cameras, Normalization
from pvd.errors import UserError
from pvd.ops.march import cell_index


def min_cascades(bound: float) -> int:
    """Cascades needed to cover ``[-bound, bound]^3``: ``1 + ceil(log2 bound)`` (at least 1)."""
    return 1 + max(0, math.ceil(math.log2(bound) - 1e-9))


def uniform(shape: tuple[int, ...], generator: torch.Generator | None, device) -> Tensor:
    """Uniform [0, 1) numbers from ``generator`` (on its own device), moved to ``device``."""
    gen_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gen_device).to(device)


class OccupancyGrid(nn.Module):
    """Occupancy of ``C`` cascades of ``R^3`` cells; all state lives in buffers (saved in state_dict).

    Buffers:
        density: [C, R, R, R] float32 running density estimate per cell.
        occupancy: [C, R, R, R] bool, cells the marcher samples.
        seen: [C, R, R, R] bool, cells inside at least one training camera's view.
        mean_density: [] float32, mean of ``density`` over all cells after the last update.
        n_updates: [] int64, updates performed so far.
    """

    def __init__(self, bound: float, resolution: int = 128, cascades: int | None = None):
        super().__init__()
        if not bound > 0:
            raise UserError(f"occupancy grid: bound must be > 0, got {bound}")
        if resolution < 1:
            raise UserError(f"occupancy grid: resolution must be >= 1, got {resolution}")
        needed = min_cascades(bound)
        if cascades is None:
            cascades = needed
        if cascades < needed:
            raise UserError(f"occupancy grid: bound {bound} needs at least {needed} cascades, got {cascades}")
        self.bound = float(bound)
        self.resolution = int(resolution)
        self.cascades = int(cascades)
        shape = (self.cascades,) + (self.resolution,) * 3
        self.register_buffer("density", torch.zeros(shape))
        self.register_buffer("occupancy", torch.ones(shape, dtype=torch.bool))
        self.register_buffer("seen", torch.ones(shape, dtype=torch.bool))
        self.register_buffer("mean_density", torch.zeros(()))
        self.register_buffer("n_updates", torch.zeros((), dtype=torch.long))

    @property
    def n_cells(self) -> int:
        return self.cascades * self.resolution**3

    def cascade_extent(self, c: int) -> float:
        """Half side ``s_c`` of cascade ``c`` in box units."""
        return min(2.0**c, self.bound)

    def occupied(self, x: Tensor) -> Tensor:
        """[n, 3] box points -> [n] bool, whether the point's cell is occupied."""
        return self.occupancy.reshape(-1)[cell_index(x, self.bound, self.cascades, self.resolution)]

    def occupied_fraction(self) -> float:
        """Share of occupied cells over all cascades."""
        return self.occupancy.float().mean().item()

    def occupied_bounds(self, trim: float) -> tuple[Tensor, Tensor] | None:
        """Corners ``([3] lo, [3] hi)`` (box units) of the occupied cells of cascade 0, each axis
        trimmed by the share ``trim`` of those cells at either end (stray cells); None when none is
        occupied."""
        ijk = self.occupancy[0].nonzero().float().cpu()
        if len(ijk) == 0:
            return None
        lo = torch.quantile(ijk, trim, dim=0)
        hi = torch.quantile(ijk, 1 - trim, dim=0) + 1
        s = self.cascade_extent(0)
        return (lo / self.resolution * 2 - 1) * s, (hi / self.resolution * 2 - 1) * s

    def cell_positions(self, flat: Tensor, jitter: Tensor | None = None) -> Tensor:
        """[n] flat cell indices -> [n, 3] box points, cell centres or ``jitter`` ([n, 3] in [0, 1))."""
        r = self.resolution
        c, rem = flat // r**3, flat % r**3
        ijk = torch.stack([rem // (r * r), (rem // r) % r, rem % r], dim=-1).float()
        ijk = ijk + (0.5 if jitter is None else jitter)
        extent = torch.clamp(torch.exp2(c.float()), max=self.bound).unsqueeze(-1)
        return (ijk / r * 2 - 1) * extent

    @torch.no_grad()
    def update(
        self,
        density_fn,
        step: int,
        *,
        density_thresh: float = 10.0,
        decay: float = 0.95,
        update_every: int = 16,
        warmup_steps: int = 0,
        full_updates: int = 16,
        chunk: int = 1 << 16,
        generator: torch.Generator | None = None,
    ) -> bool:
        """Refresh the densities if ``step % update_every == 0``; returns whether it did.

        Args:
            density_fn: maps [n, 3] box points to [n] density sigma (1 / box unit); called without
                grad in chunks of at most ``chunk`` points.
            step: the caller's training step (0-based).
            density_thresh: upper limit of the occupancy threshold ``min(mean density, thresh)``.
            decay: factor applied to a visited cell's previous estimate.
            warmup_steps: before this step every seen cell stays occupied.
            full_updates: the first this-many updates visit every cell.
            generator: source of the cell choice and jitter (reproducible runs).
        """
        if step % update_every != 0:
            return False
        device = self.density.device
        if int(self.n_updates) < full_updates:
            cells = torch.arange(self.n_cells, device=device)
        else:
            quarter = max(1, self.n_cells // 4)
            random_cells = (uniform((quarter,), generator, device) * self.n_cells).long()
            occupied = self.occupancy.reshape(-1).nonzero().squeeze(1)
            if occupied.numel():
                pick = (uniform((quarter,), generator, device) * occupied.numel()).long()
                random_cells = torch.cat([random_cells, occupied[pick]])
            cells = random_cells
        fresh = torch.full((self.n_cells,), -1.0, device=device)
        for start in range(0, cells.numel(), chunk):
            idx = cells[start : start + chunk]
            x = self.cell_positions(idx, uniform((idx.numel(), 3), generator, device))
            fresh[idx] = density_fn(x).reshape(-1).float()
        density = self.density.reshape(-1)
        visited = (fresh >= 0) & self.seen.reshape(-1)
        density[visited] = torch.maximum(density[visited] * decay, fresh[visited])
        self.mean_density.fill_(density.mean())
        self.n_updates += 1
        self._refresh_occupancy(density_thresh, pruning=step >= warmup_steps)
        return True

    def _refresh_occupancy(self, density_thresh: float, pruning: bool) -> None:
        if pruning:
            thresh = min(float(self.mean_density), density_thresh)
            self.occupancy.copy_(self.seen & (self.density > thresh))
        else:
            self.occupancy.copy_(self.seen)

    @torch.no_grad()
    def mark_untrained(self, cameras: Cameras, norm: Normalization, chunk: int = 1 << 22) -> int:
        """Mark cells that no camera in ``cameras`` sees as empty, for good; returns their count.

        A cell is seen when its centre, widened by the cell's half diagonal, lies in front of a
        camera and inside its image (OpenGL axes: the camera looks along -z).
        """
        device = self.density.device
        c2w = cameras.c2w.to(device).float()
        rot, centre = c2w[:, :3, :3], c2w[:, :3, 3]
        fx, fy = cameras.fx.to(device).float(), cameras.fy.to(device).float()
        cx, cy = cameras.cx.to(device).float(), cameras.cy.to(device).float()
        left, right = -cx / fx, (cameras.width - cx) / fx
        bottom, top = (cy - cameras.height) / fy, cy / fy
        seen = torch.zeros(self.n_cells, dtype=torch.bool, device=device)
        step = max(1, chunk // max(1, len(cameras)))
        for start in range(0, self.n_cells, step):
            flat = torch.arange(start, min(start + step, self.n_cells), device=device)
            world = norm.to_world(self.cell_positions(flat))
            extent = torch.clamp(torch.exp2((flat // self.resolution**3).float()), max=self.bound)
            radius = math.sqrt(3) * extent / self.resolution / norm.scale
            cam = torch.einsum("pk,nkj->npj", world, rot) - torch.einsum("nk,nkj->nj", centre, rot)[:, None]
            x, y, depth = cam[..., 0], cam[..., 1], -cam[..., 2]

            def inside(v, lo, hi, depth=depth, radius=radius):
                lo, hi = lo[:, None], hi[:, None]
                return (v >= lo * depth - radius * (1 + lo.abs())) & (v <= hi * depth + radius * (1 + hi.abs()))

            visible = (depth > -radius) & inside(x, left, right) & inside(y, bottom, top)
            seen[start : start + flat.numel()] = visible.any(dim=0)
        seen = seen.reshape(self.seen.shape)
        self.seen &= seen
        self.occupancy &= self.seen
        self.density[~self.seen] = 0.0
        return int((~self.seen).sum())
