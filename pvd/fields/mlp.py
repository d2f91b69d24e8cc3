"""``mlp``: NeRF, a frequency-encoded coordinate MLP followed by the shared heads.

``x / bound`` (in ``[-1, 1]^3``) -> frequency encoding (``n_octaves`` + identity; 63-d at 10
octaves) -> ``n_layers`` linear layers (ReLU after all but the last; the output of layer ``skip``
(0-based) is concatenated with the encoding, so layer ``skip + 1`` receives ``[hidden, encoding]``)
-> [n, out_dim] -> ``sigma_net`` -> ``h = [s_raw, f]``. The paper preset counts the input and the
output projection among its 8 layers (63->256, 6 x 256, 256->28; layer 4 gets 256 + 63), which
gives the reference's 443,548 parameters. Unlike the shared heads, the trunk's layers have biases.

Dividing by ``bound`` keeps the octaves relative to the box, so a scene with bound 10 does not get
10x higher frequencies; at bound 1 both are the same. The reference feeds raw box coordinates and
concatenates ``[encoding, hidden]`` at the skip: the options ``divide_by_bound=False`` and
``skip_input_first=True`` (the ``paper`` preset) reproduce it; the frequency encoding's order
(identity, then per octave sin then cos, x y z in each) is already the reference's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from pvd.errors import UserError
from pvd.fields.base import Field
from pvd.fields.encodings import FrequencyEncoding
from pvd.fields.heads import ColorHead, SigmaNet, pad_rows


@dataclass(frozen=True)
class MLPConfig:
    """Sizes of the NeRF field.

    Attributes:
        n_octaves: frequency-encoding octaves (identity always included).
        width: hidden width of the trunk.
        n_layers: linear layers of the trunk, input and output projections included (>= 3).
        skip: 0-based layer whose output is concatenated with the encoding (< n_layers - 1).
        out_dim: width of the trunk's output (the input of ``sigma_net``).
        sigma_hidden: hidden width of ``sigma_net``.
        color_hidden: hidden width of the colour head.
        skip_input_first: the skip layer receives ``[encoding, hidden]`` (reference) instead of
            ``[hidden, encoding]``.
        divide_by_bound: encode ``x / bound`` (pvd) instead of the raw box position (reference).
    """

    n_octaves: int = 10
    width: int = 256
    n_layers: int = 8
    skip: int = 3
    out_dim: int = 28
    sigma_hidden: int = 64
    color_hidden: int = 64
    skip_input_first: bool = False
    divide_by_bound: bool = True

    def __post_init__(self):
        for name in ("width", "out_dim", "sigma_hidden", "color_hidden"):
            if getattr(self, name) <= 0:
                raise UserError(f"mlp field config: {name} must be > 0, got {getattr(self, name)!r}")
        if self.n_octaves < 0:
            raise UserError(f"mlp field config: n_octaves must be >= 0, got {self.n_octaves!r}")
        if self.n_layers < 3:
            raise UserError(f"mlp field config: n_layers must be >= 3, got {self.n_layers!r}")
        if not 0 <= self.skip < self.n_layers - 2:
            raise UserError(
                f"mlp field config: skip must be in [0, {self.n_layers - 3}] "
                f"(n_layers={self.n_layers}), got {self.skip!r}"
            )


class MLPField(Field):
    """NeRF field. Parameters: ``trunk.<i>`` (with biases), ``sigma_net``, ``color_net``."""

    key = "mlp"
    has_feature = True

    def __init__(self, config: MLPConfig, bound: float, density_range=(-2.0, 7.0)):
        super().__init__(config, bound, density_range)
        self.encoding = FrequencyEncoding(config.n_octaves, include_input=True, in_dim=3)
        enc, w = self.encoding.out_dim, config.width
        widths_in = [enc] + [w + enc if i == config.skip + 1 else w for i in range(1, config.n_layers)]
        widths_out = [w] * (config.n_layers - 1) + [config.out_dim]
        self.trunk = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths_in, widths_out))
        self.sigma_net = SigmaNet(config.out_dim, config.sigma_hidden)
        self.color_net = ColorHead(config.color_hidden)

    def raw_density_and_feature(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """[n, 3] box positions -> (s_raw [n], h [n, 16], f [n, 15])."""
        n = x.shape[0]
        enc = pad_rows(self.encoding(x * (1.0 / self.bound) if self.config.divide_by_bound else x))
        if torch.is_autocast_enabled(enc.device.type):
            # the products' dtype from the start: the skip concatenation then stays in it instead of
            # promoting the hidden layer to float32 and casting the result back
            enc = enc.to(torch.get_autocast_dtype(enc.device.type))
        y = enc
        last = len(self.trunk) - 1
        for i, layer in enumerate(self.trunk):
            y = layer(y)
            if i != last:
                y = F.relu(y, inplace=True)
            if i == self.config.skip:
                y = torch.cat((enc, y) if self.config.skip_input_first else (y, enc), dim=1)
        h = self.sigma_net(y)[:n]
        return h[:, 0], h, h[:, 1:]

    def color(self, geo: Tensor, d: Tensor) -> Tensor:
        """f [n, 15], d [n, 3] -> rgb [n, 3]."""
        return self.color_net(geo, d)
