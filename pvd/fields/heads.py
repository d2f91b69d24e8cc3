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


def bucket_rows(n: int) -> int:
    """The row count a CPU bfloat16 matrix product of ``n`` rows is padded to: the next of
    ``2^k * (1, 1.25, 1.5, 1.75)`` (at most 25 % more rows, four sizes per doubling).

    oneDNN compiles a kernel for every new shape of a bfloat16 product on the CPU (AMX / AVX512-BF16);
    a training step's sample count changes every step, so unpadded products spent more time
    compiling than computing (demo hash->mlp at bf16: 189 processor s instead of 49 at fp32).
    """
    if n <= 64:
        return 64
    top = 1 << (n - 1).bit_length()  # the power of two >= n
    step = top // 8  # quarter steps of the octave [top / 2, top]
    return -(-n // step) * step


def pad_rows(x: Tensor) -> Tensor:
    """``x`` [n, k] padded with zero rows to :func:`bucket_rows` ``(n)`` under CPU bfloat16 autocast;
    unchanged otherwise. The caller slices its result back to ``n`` rows."""
    if x.device.type != "cpu" or not torch.is_autocast_enabled("cpu"):
        return x
    n = x.shape[0]
    rows = bucket_rows(n)
    return x if rows == n else torch.cat((x, x.new_zeros(rows - n, *x.shape[1:])))


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
        n, last = x.shape[0], len(self.layers) - 1
        x = pad_rows(x)
        for i, layer in enumerate(self.layers):
            x = F.linear(x, layer.weight)
            if i != last:
                x = F.relu(x, inplace=True)
        return x[:n]


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
        # the basis in float32 (the native kernel), then in f's dtype: under CPU bfloat16 autocast
        # the twin's ~40 small bfloat16 element-wise ops cost more than the head's products
        enc = sh_encode(d.float(), SH_BANDS).to(f.dtype)
        return torch.sigmoid(self.mlp(torch.cat((enc, f), dim=1)))
