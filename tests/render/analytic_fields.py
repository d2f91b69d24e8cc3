"""Closed-form fields for renderer tests: a ball and a slab with constant density and colour."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pvd.fields.base import Field

# A wide density range so "empty" space is really empty (sigma = exp(-30)).
RANGE = (-30.0, 8.0)
EMPTY_S = -30.0


class BallField(Field):
    """Density ``sigma`` inside the ball ``|x - centre| < radius``, ~0 outside; colour ``(x + 1) / 2``."""

    key = "ball"
    has_feature = False

    def __init__(self, sigma: float, radius: float = 0.5, bound: float = 1.0, centre=(0.0, 0.0, 0.0)):
        super().__init__(None, bound, RANGE)
        self.log_sigma = nn.Parameter(torch.tensor(float(sigma)).log())
        self.radius = radius
        self.register_buffer("centre", torch.tensor(centre, dtype=torch.float32))

    def raw_density_and_feature(self, x: Tensor):
        inside = (x - self.centre).norm(dim=-1) < self.radius
        s = torch.where(inside, self.log_sigma.expand(x.shape[0]), torch.full_like(x[:, 0], EMPTY_S))
        return s, None, x

    def color(self, geo: Tensor, d: Tensor) -> Tensor:
        return ((geo + 1) / 2).clamp(0, 1)


class SlabField(Field):
    """Density ``sigma`` for ``lo < x_axis < hi``, ~0 elsewhere; a constant colour."""

    key = "slab"
    has_feature = False

    def __init__(
        self, sigma: float, lo: float = -0.5, hi: float = 0.5, axis: int = 0, rgb=(1.0, 0.0, 0.0), bound: float = 1.0
    ):
        super().__init__(None, bound, RANGE)
        self.log_sigma = nn.Parameter(torch.tensor(float(sigma)).log())
        self.lo, self.hi, self.axis = lo, hi, axis
        self.register_buffer("rgb", torch.tensor(rgb, dtype=torch.float32))

    def raw_density_and_feature(self, x: Tensor):
        c = x[:, self.axis]
        inside = (c > self.lo) & (c < self.hi)
        s = torch.where(inside, self.log_sigma.expand(x.shape[0]), torch.full_like(c, EMPTY_S))
        return s, None, x

    def color(self, geo: Tensor, d: Tensor) -> Tensor:
        return self.rgb.expand(geo.shape[0], 3)
