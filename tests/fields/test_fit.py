"""Each tiny field learns: 100 steps of the training engine's AdamW (no decay) regress a fixed smooth
target density and colour on 2048 points, and the loss must fall far below both its start and the
best constant prediction."""

from __future__ import annotations

import pytest
import torch

from pvd.presets import build_field
from pvd.train.loop import adamw

LEARNING_RATES = {"hash": 1e-2, "vm": 2e-2, "mlp": 1e-2, "tensors": 1e-1}


def _target(x):
    s = 1.5 + 2.0 * torch.sin(3 * x[:, 0] + 1) * torch.cos(2 * x[:, 1] - 0.5) + x[:, 2]
    rgb = torch.sigmoid(torch.stack((3 * x[:, 0] * x[:, 1], torch.sin(4 * x[:, 2]), x.sum(1)), dim=1))
    return s, rgb


@pytest.mark.parametrize("key", sorted(LEARNING_RATES))
def test_tiny_field_fits_a_target(key):
    torch.manual_seed(0)
    field = build_field(key, "tiny", 1.0)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2048, 3, generator=gen) * 2 - 1
    d = torch.nn.functional.normalize(torch.randn(2048, 3, generator=gen), dim=1)
    s_target, rgb_target = _target(x)
    opt = adamw(field.param_groups(LEARNING_RATES[key]), weight_decay=0.0)  # the engine's optimiser
    losses = []
    for _ in range(100):
        out = field(x, d)
        loss = (out.s - s_target).square().mean() + (out.rgb - rgb_target).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    constant_loss = s_target.var() + rgb_target.var(dim=0).mean()
    assert losses[-1] < losses[0] / 50, losses[::10]
    assert losses[-1] < constant_loss / 20, (losses[-1], float(constant_loss))
