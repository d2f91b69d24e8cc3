"""Frequency (positional) encoding of positions for the ``mlp`` field (NeRF).

``x`` [n, 3] -> ``[x, sin(2^0 x), cos(2^0 x), ..., sin(2^(K-1) x), cos(2^(K-1) x)]``
([n, 3 + 6K] with the identity, [n, 6K] without), octave-major, each octave's sines before its
cosines, each block in x, y, z order. No factor of pi: octave 0 is ``sin(x)``, as in the NeRF and
Instant-NGP code bases. The caller picks the input scale (the ``mlp`` field feeds ``x / bound``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class FrequencyEncoding(nn.Module):
    """``n_octaves`` sine/cosine octaves of a ``in_dim``-d input, optionally with the input itself.

    Args:
        n_octaves: number of frequencies ``2^0 .. 2^(n_octaves-1)``.
        include_input: prepend the raw input (NeRF's "+ identity").
        in_dim: input width (3 for positions).
    """

    def __init__(self, n_octaves: int, include_input: bool = True, in_dim: int = 3):
        super().__init__()
        if n_octaves < 0:
            raise ValueError(f"n_octaves must be >= 0, got {n_octaves}")
        self.n_octaves = int(n_octaves)
        self.include_input = bool(include_input)
        self.in_dim = int(in_dim)
        freqs = 2.0 ** torch.arange(self.n_octaves, dtype=torch.float32)
        self.register_buffer("freqs", freqs, persistent=False)

    @property
    def out_dim(self) -> int:
        return self.in_dim * (2 * self.n_octaves + int(self.include_input))

    def forward(self, x: Tensor) -> Tensor:
        """[n, in_dim] -> [n, out_dim]."""
        n = x.shape[0]
        scaled = x[:, None, :] * self.freqs.to(x.dtype)[None, :, None]  # [n, K, in_dim]
        waves = torch.stack((torch.sin(scaled), torch.cos(scaled)), dim=2)  # [n, K, 2, in_dim]
        waves = waves.reshape(n, -1)
        if self.include_input:
            return torch.cat((x, waves), dim=1)
        return waves
