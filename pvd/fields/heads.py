"""The small MLP heads shared by the ``hash``, ``mlp`` and ``vm`` fields.

* ``SigmaNet`` (hash, mlp): encoding [n, in_dim] -> hidden -> [n, 16] = ``h = [s_raw, f]``.
  Paper size 28 -> 64 -> 16, ReLU between layers, no biases.
* ``ColorHead`` (hash, mlp, vm): ``SH16(d) ++ f`` = [n, 31] -> hidden -> hidden -> [n, 3],
  ReLU between layers, no biases, sigmoid on the output. ``SH16`` is the real spherical-harmonics
  basis of bands 0..3 (:func:`pvd.ops.sh.sh_encode`) of the unit view direction.

Both use the attribute names ``sigma_net`` / ``color_net`` inside every field, so a student can copy
a teacher's heads by state-dict name when the shapes match.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from pvd.ops.sh import sh_encode

FEATURE_DIM = 15
"""Width of the colour feature ``f``; ``h = [s_raw, f]`` is ``1 + FEATURE_DIM = 16`` wide."""

H_DIM = 1 + FEATURE_DIM

SH_BANDS = 4
"""Bands of the view-direction SH basis fed to the colour head (16 terms)."""


class BiasFreeMLP(nn.Module):
    """Linear layers without biases and ReLU between them (none after the last).

    ``widths = (in, hidden..., out)``; weights are stored as ``layers.<i>.weight`` [out, in].
    """

    def __init__(self, widths: tuple[int, ...]):
        super().__init__()
        if len(widths) < 2:
            raise ValueError(f"an MLP needs at least an input and an output width, got {widths}")
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in pairwise(widths))

    def forward(self, x: Tensor) -> Tensor:
        """[n, widths[0]] -> [n, widths[-1]] (pre-activation of the last layer)."""
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = F.linear(x, layer.weight)
            if i != last:
                x = F.relu(x, inplace=True)
        return x


class SigmaNet(BiasFreeMLP):
    """Encoding [n, in_dim] -> [n, 16] ``h = [s_raw, f]`` (one hidden layer of ``hidden``)."""

    def __init__(self, in_dim: int, hidden: int = 64):
        super().__init__((in_dim, hidden, H_DIM))


class ColorHead(nn.Module):
    """Per-sample colour from the feature ``f`` [n, 15] and unit directions ``d`` [n, 3].

    ``sigmoid(MLP(SH16(d) ++ f))`` with two hidden layers of ``hidden`` units -> [n, 3] in [0, 1].
    """

    def __init__(self, hidden: int = 64):
        super().__init__()
        self.mlp = BiasFreeMLP((SH_BANDS**2 + FEATURE_DIM, hidden, hidden, 3))

    def forward(self, f: Tensor, d: Tensor) -> Tensor:
        """[n, 15] features, [n, 3] unit directions -> [n, 3] colour in [0, 1]."""
        enc = sh_encode(d.to(f.dtype), SH_BANDS)
        return torch.sigmoid(self.mlp(torch.cat((enc, f), dim=1)))
