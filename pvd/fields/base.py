"""The interface every radiance field implements, and the per-sample quantities it exposes.

All positions are in the renderer box ``[-bound, bound]^3`` (see :mod:`pvd.data.cameras`);
directions are unit vectors. A field maps ``n`` samples to a :class:`FieldOutput`.

The 16-d intermediate ``h = [s_raw, f]`` is what the feature stage of distillation matches:
``s_raw`` is the pre-activation log-density and ``f`` a 15-d colour feature. ``s`` is ``s_raw``
clamped to the density range (default [-2, 7]) and ``sigma = exp(s)``. Fields without a feature
(``tensors``) return ``h = None``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class FieldOutput:
    """Per-sample outputs of a field for ``n`` samples.

    Attributes:
        s: [n] clamped log-density.
        sigma: [n] density, ``exp(s)``.
        rgb: [n, 3] colour in [0, 1].
        h: [n, 16] intermediate ``[s_raw, f]``, or None for fields without a feature (``tensors``).
    """

    s: Tensor
    sigma: Tensor
    rgb: Tensor
    h: Tensor | None

    def select(self, keep: Tensor) -> FieldOutput:
        """The rows where ``keep`` ([n] bool) is set."""
        return FieldOutput(self.s[keep], self.sigma[keep], self.rgb[keep], None if self.h is None else self.h[keep])


def points_over_box(resolution: int, bound: float, per_bound: bool) -> int:
    """Grid points per axis over the box ``[-bound, bound]``: ``resolution``, or with ``per_bound``
    ``resolution`` per unit of bound (at least 2), so a cell spans the same box units at every bound."""
    return max(2, round(resolution * bound)) if per_bound else resolution


class Field(nn.Module):
    """Base class: a radiance field inside the box ``[-bound, bound]^3``.

    Subclasses set ``key`` (registry key) and implement :meth:`raw_density_and_feature` and
    :meth:`color`. ``config`` is the frozen dataclass the field was built from.
    """

    key: str = ""
    has_feature: bool = True

    def __init__(self, config, bound: float, density_range: tuple[float, float] = (-2.0, 7.0)):
        super().__init__()
        self.config = config
        self.bound = float(bound)
        self.density_range = (float(density_range[0]), float(density_range[1]))

    # -- to implement -----------------------------------------------------------------------
    def raw_density_and_feature(self, x: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        """[n, 3] box positions -> (s_raw [n], h [n, 16] or None, geo [n, k] colour input).

        ``geo`` is whatever :meth:`color` needs besides the direction (``f`` for MLP heads,
        the SH coefficients for ``tensors``).
        """
        raise NotImplementedError

    def color(self, geo: Tensor, d: Tensor) -> Tensor:
        """Colour [n, 3] in [0, 1] from ``geo`` and [n, 3] unit directions."""
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------
    def clamp_s(self, s_raw: Tensor) -> Tensor:
        lo, hi = self.density_range
        return s_raw.clamp(lo, hi)

    def forward(self, x: Tensor, d: Tensor) -> FieldOutput:
        """[n, 3] positions and [n, 3] directions -> :class:`FieldOutput`."""
        s_raw, h, geo = self.raw_density_and_feature(x)
        s = self.clamp_s(s_raw)
        return FieldOutput(s=s, sigma=torch.exp(s), rgb=self.color(geo, d), h=h)

    def density(self, x: Tensor) -> Tensor:
        """[n, 3] positions -> [n] density sigma (used by the occupancy grid)."""
        s_raw, _, _ = self.raw_density_and_feature(x)
        return torch.exp(self.clamp_s(s_raw))

    def param_groups(self, lr: float) -> list[dict]:
        """Optimiser parameter groups at base learning rate ``lr`` (override for per-part rates)."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": lr}]

    def regularizer(self) -> Tensor:
        """Extra training loss term (e.g. TensoRF's L1 on density factors); zero by default."""
        return torch.zeros((), device=next(self.parameters()).device)
