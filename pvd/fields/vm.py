"""``vm``: TensoRF's vector-matrix decomposition followed by the shared colour head.

Three plane+line pairs, pair ``p`` = (plane over axes ``PLANE_AXES[p]``, line along
``LINE_AXES[p]``, both in :mod:`pvd.ops.vm_products`): (xy, z), (xz, y), (yz, x). Box positions are
mapped to ``[-1, 1]^3`` (grid points at both ends, like ``grid_sample(align_corners=True)``; points
outside are clamped to the box).
Each pair stores ``density_rank + appearance_rank`` channels; per sample and pair the bilinear plane
value times the linear line value gives one product per channel. Then

* ``s_raw`` = sum of the 3 x density_rank density products (one scalar);
* ``f`` = ``basis``: Linear(3 * appearance_rank -> 15, no bias) of the appearance products
  (144 -> 15 at the paper preset);
* ``h = [s_raw, f]`` [n, 16]; colour = ``color_net(SH16(d) ++ f)``.

Resolution: ``resolution`` grid points per axis over the whole box, whatever ``bound`` is (the
reference keeps 300 for every scene), so a cell spans ``2 * bound / (resolution - 1)`` box units.
Pass a larger ``resolution`` override for large-bound scenes to keep the same cell size.

Storage follows the reference (channel-first, sampled like ``F.grid_sample(align_corners=True)``,
which on 2 CPU cores was 2.5x faster than a channel-last gather at the tiny preset and as fast at
the paper one; :func:`pvd.ops.vm_products.vm_products` runs the native plane x line kernel where it
builds and those two ``grid_sample`` calls, its twin, elsewhere): ``density_planes``
[3, density_rank, R, R], ``density_lines`` [3, density_rank, R, 1], ``appearance_planes``
[3, appearance_rank, R, R], ``appearance_lines`` [3, appearance_rank, R, 1];
plane ``p`` is indexed [v, u] for its axes (u, v) = ``PLANE_AXES[p]``.
Learning rates (docs/method.md, "Teacher training": heads at 0.1x; the reference trains ``basis`` and the colour head at
1e-3 beside the factors' 1e-2): :meth:`VMField.param_groups` puts ``basis`` and ``color_net`` at
``head_lr_scale * lr``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pvd.errors import UserError
from pvd.fields.base import Field, points_over_box
from pvd.fields.heads import FEATURE_DIM, ColorHead
from pvd.ops.vm_products import vm_products


@dataclass(frozen=True)
class VMConfig:
    """Sizes of the TensoRF VM field.

    Attributes:
        resolution: grid points per axis over the box (planes are resolution^2, lines resolution);
            with ``per_bound``, per unit of ``bound`` (``round(resolution * bound)`` over the box).
        per_bound: scale the resolution with the box, as the hash grid's finest level does, so a
            cell spans the same box units at every bound (tiny; the paper preset keeps the
            reference's 300 over any box, the shape of its checkpoints).
        density_rank: density channels per plane+line pair.
        appearance_rank: appearance channels per pair (``basis`` maps 3x this to 15).
        init_scale: factors start as ``init_scale * N(0, 1)``.
        head_lr_scale: learning-rate factor of ``basis`` and the colour head.
        color_hidden: hidden width of the colour head.
    """

    resolution: int = 300
    density_rank: int = 16
    appearance_rank: int = 48
    init_scale: float = 0.1
    head_lr_scale: float = 0.1
    color_hidden: int = 64
    per_bound: bool = False

    def grid_points(self, bound: float) -> int:
        """Grid points per axis over the box ``[-bound, bound]``."""
        return points_over_box(self.resolution, bound, self.per_bound)

    def __post_init__(self):
        for name in ("density_rank", "appearance_rank", "init_scale", "head_lr_scale", "color_hidden"):
            if getattr(self, name) <= 0:
                raise UserError(f"vm field config: {name} must be > 0, got {getattr(self, name)!r}")
        if self.resolution < 2:
            raise UserError(f"vm field config: resolution must be >= 2, got {self.resolution!r}")


class VMField(Field):
    """TensoRF VM field. Parameters: ``density_planes``, ``density_lines``, ``appearance_planes``,
    ``appearance_lines``, ``basis``, ``color_net``."""

    key = "vm"
    has_feature = True

    def __init__(self, config: VMConfig, bound: float, density_range=(-2.0, 7.0)):
        super().__init__(config, bound, density_range)
        res, scale = config.grid_points(bound), config.init_scale
        self.density_planes = nn.Parameter(scale * torch.randn(3, config.density_rank, res, res))
        self.density_lines = nn.Parameter(scale * torch.randn(3, config.density_rank, res, 1))
        self.appearance_planes = nn.Parameter(scale * torch.randn(3, config.appearance_rank, res, res))
        self.appearance_lines = nn.Parameter(scale * torch.randn(3, config.appearance_rank, res, 1))
        self.basis = nn.Linear(3 * config.appearance_rank, FEATURE_DIM, bias=False)
        self.color_net = ColorHead(config.color_hidden)

    def unit(self, x: Tensor) -> Tensor:
        """[n, 3] box positions -> [n, 3] positions in [-1, 1]^3 (points outside clamped to the box)."""
        return (x * (1.0 / self.bound)).clamp(-1.0, 1.0)

    def raw_density(self, x: Tensor, unit: Tensor | None = None) -> Tensor:
        """[n, 3] box positions (or their ``unit`` coordinates) -> s_raw [n], the sum of the 3 x
        density_rank products."""
        unit = self.unit(x) if unit is None else unit
        return vm_products(self.density_planes, self.density_lines, unit).sum(dim=(0, 1))

    def raw_density_and_feature(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """[n, 3] box positions -> (s_raw [n], h [n, 16], f [n, 15])."""
        unit = self.unit(x)
        s_raw = self.raw_density(x, unit)
        app = vm_products(self.appearance_planes, self.appearance_lines, unit)  # [3, Ra, n]
        f = self.basis(app.reshape(-1, x.shape[0]).t())  # [n, 15]
        return s_raw, torch.cat((s_raw[:, None], f), dim=1), f

    def density(self, x: Tensor) -> Tensor:
        """[n, 3] box positions -> [n] sigma, from the density factors only."""
        return torch.exp(self.clamp_s(self.raw_density(x)))

    def color(self, geo: Tensor, d: Tensor) -> Tensor:
        """f [n, 15], d [n, 3] -> rgb [n, 3]."""
        return self.color_net(geo, d)

    def param_groups(self, lr: float) -> list[dict]:
        """Factors at ``lr``; ``basis`` and the colour head at ``head_lr_scale * lr``."""
        factors = [self.density_planes, self.density_lines, self.appearance_planes, self.appearance_lines]
        heads = list(self.basis.parameters()) + list(self.color_net.parameters())
        return [{"params": factors, "lr": lr}, {"params": heads, "lr": lr * self.config.head_lr_scale}]

    def regularizer(self) -> Tensor:
        """Plain (unweighted) L1 of the density factors: the sum over the 3 density planes and the 3
        density lines of each one's mean absolute value (the reference's ``density_loss``). The
        trainer multiplies it by its weight (1e-4 in the reference)."""
        return self.density_planes.abs().mean(dim=(1, 2, 3)).sum() + self.density_lines.abs().mean(dim=(1, 2, 3)).sum()
