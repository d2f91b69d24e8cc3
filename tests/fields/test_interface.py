"""Every architecture x preset: output shapes, the density clamp, sigma = exp(s), colour range, h,
gradients into every parameter; the paper presets' parameter counts (docs/method.md)."""

from __future__ import annotations

import pytest
import torch
from field_cases import KEYS, NARROW_RANGE, PRESET_NAMES

from pvd.fields import FIELDS
from pvd.fields.base import FieldOutput
from pvd.presets import build_field

N = 512


def _inputs(n=N, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, generator=gen) * 2 - 1
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen), dim=1)
    return x, d


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("key", KEYS)
def test_outputs(field_cache, key, preset):
    field = field_cache(key, preset)
    assert isinstance(field, FIELDS[key]) and field.key == key
    x, d = _inputs()
    out = field(x, d)
    assert isinstance(out, FieldOutput)
    assert out.s.min() >= NARROW_RANGE[0] and out.s.max() <= NARROW_RANGE[1]
    assert out.s.shape == (N,) and out.sigma.shape == (N,) and out.rgb.shape == (N, 3)
    s_raw, h, _ = field.raw_density_and_feature(x)
    lo, hi = (float(q) for q in s_raw.detach().quantile(torch.tensor([0.25, 0.75])))
    field.density_range = (lo, hi)  # a range that clamps half of the samples
    try:
        out = field(x, d)
        sigma = field.density(x)
    finally:
        field.density_range = NARROW_RANGE
    assert torch.equal(out.s, s_raw.clamp(lo, hi))
    assert out.s.min() >= lo and out.s.max() <= hi and (out.s == lo).any() and (out.s == hi).any()
    assert torch.allclose(out.sigma, torch.exp(out.s))
    assert torch.allclose(sigma, out.sigma)
    assert out.rgb.min() >= 0 and out.rgb.max() <= 1 and out.rgb.std() > 0
    if key == "tensors":
        assert out.h is None and h is None and not field.has_feature
    else:
        assert field.has_feature
        assert out.h.shape == (N, 16)
        assert torch.equal(out.h[:, 0], s_raw)


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("key", KEYS)
def test_gradients_reach_every_parameter(field_cache, key, preset):
    field = field_cache(key, preset)
    field.zero_grad(set_to_none=True)
    x, d = _inputs(seed=1)
    out = field(x, d)
    loss = out.s.sum() + out.rgb.square().sum()
    if out.h is not None:
        loss = loss + out.h[:, 1:].square().sum()
    field.density_range = (-10.0, 10.0)  # let the density gradient through the clamp
    try:
        out = field(x, d)
        loss = loss + out.s.sum()
    finally:
        field.density_range = NARROW_RANGE
    loss.backward()
    for name, p in field.named_parameters():
        assert p.grad is not None, f"{key}/{preset}: no gradient in {name}"
        grad = p.grad.to_dense() if p.grad.is_sparse else p.grad  # tiny tensors: row-sparse
        assert grad.abs().sum() > 0, f"{key}/{preset}: zero gradient in {name}"
        assert torch.isfinite(grad).all()
    field.zero_grad(set_to_none=True)


@pytest.mark.parametrize("key, expected", [("hash", 10.6e6), ("mlp", 0.44e6), ("vm", 17.3e6), ("tensors", 58.7e6)])
def test_paper_parameter_counts(field_cache, key, expected):
    count = sum(p.numel() for p in field_cache(key, "paper").parameters())
    assert abs(count - expected) / expected < 0.02, f"{key}: {count} parameters"


def test_state_dict_round_trip(field_cache):
    field = field_cache("vm", "tiny")
    clone = build_field("vm", "tiny", 1.0, density_range=NARROW_RANGE)
    clone.load_state_dict(field.state_dict())
    x, d = _inputs(64)
    a, b = field(x, d), clone(x, d)
    assert torch.equal(a.s, b.s) and torch.equal(a.rgb, b.rgb) and torch.equal(a.h, b.h)
