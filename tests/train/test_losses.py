"""Distillation losses on known tensors."""

import math

import pytest
import torch

from pvd.errors import SpecError
from pvd.fields.base import FieldOutput
from pvd.train.losses import (
    LOSS_TYPES,
    LossWeights,
    check_loss_type,
    clamp_feature,
    compute_terms,
    distance,
    distortion,
)

PRED = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
TARGET = torch.tensor([[1.0, 0.0], [0.0, 4.0]])  # differences 0, 2, 3, 0


def test_distances_on_known_tensors():
    assert distance(PRED, TARGET, "normL2").item() == pytest.approx(math.sqrt(13))
    assert distance(PRED, TARGET, "L2").item() == pytest.approx(13 / 4)
    assert distance(PRED, TARGET, "L1").item() == pytest.approx(5 / 4)
    # Huber with beta 0.05: |d| >= beta -> |d| - beta/2; d = 0 -> 0
    assert distance(PRED, TARGET, "smoothL1").item() == pytest.approx((2 - 0.025 + 3 - 0.025) / 4)
    small = torch.tensor([0.01]), torch.tensor([0.0])  # inside the quadratic zone: 0.5 d^2 / beta
    assert distance(*small, "smoothL1").item() == pytest.approx(0.5 * 0.01**2 / 0.05)


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_distance_zero_for_equal_and_gradient_flows(loss_type):
    assert distance(PRED, PRED.clone(), loss_type).item() == 0.0
    x = PRED.clone().requires_grad_(True)
    distance(x, TARGET, loss_type).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_norm_l2_is_unaveraged():
    a = torch.ones(400)
    # 400 unit differences: norm 20, independent of averaging
    assert distance(a, torch.zeros(400), "normL2").item() == pytest.approx(20.0)


def test_empty_and_mismatched_inputs():
    empty = torch.zeros(0, 3, requires_grad=True)
    d = distance(empty, torch.zeros(0, 3))
    assert d.item() == 0.0 and d.requires_grad
    with pytest.raises(ValueError, match="differ"):
        distance(torch.zeros(2), torch.zeros(3))
    with pytest.raises(SpecError, match="^loss_type 'L3' is unknown"):
        check_loss_type("L3")


def test_clamp_feature_only_clamps_density_channel():
    h = torch.tensor([[-50.0, -50.0, 9.0], [20.0, 0.5, -3.0]])
    out = clamp_feature(h, (-2.0, 7.0))
    assert out.tolist() == [[-2.0, -50.0, 9.0], [7.0, 0.5, -3.0]]


def _outputs(s, rgb, h):
    return FieldOutput(s=s, sigma=s.exp(), rgb=rgb, h=h)


def test_compute_terms_weights_and_clamp():
    n = 4
    t = _outputs(torch.zeros(n), torch.zeros(n, 3), torch.zeros(n, 16))
    h_s = torch.zeros(n, 16)
    h_s[:, 0] = -30.0  # far below the clamp: after clamping the gap is 2 per sample
    s = _outputs(torch.ones(n), torch.ones(n, 3), h_s)
    w = LossWeights(feature=0.5, density=2.0, color=3.0)
    terms = compute_terms(w, "normL2", (-2.0, 7.0), t, s)
    assert terms.feature.item() == pytest.approx(math.sqrt(n * 4))
    assert terms.density.item() == pytest.approx(math.sqrt(n))
    assert terms.color.item() == pytest.approx(math.sqrt(3 * n))
    assert terms.rgb is None and set(terms.active()) == {"feature", "density", "color"}
    expected = 0.5 * math.sqrt(16) + 2.0 * math.sqrt(4) + 3.0 * math.sqrt(12)
    assert terms.total.item() == pytest.approx(expected)
    assert terms.as_floats()["total"] == pytest.approx(expected)


def test_compute_terms_feature_skipped_without_h_and_mask_and_render():
    t = _outputs(torch.zeros(3), torch.zeros(3, 3), None)
    s = _outputs(torch.tensor([1.0, 2.0, 3.0]), torch.zeros(3, 3), torch.zeros(3, 16))
    w = LossWeights(feature=1.0, density=1.0, rgb=1.0, depth=1.0)
    rgb = (torch.ones(2, 3), torch.zeros(2, 3))
    depth = (torch.tensor([1.0, 0.0]), torch.zeros(2))
    mask = torch.tensor([False, False, True])
    terms = compute_terms(w, "L1", (-2.0, 7.0), t, s, rgb=rgb, depth=depth, sample_mask=mask)
    assert terms.feature is None
    assert terms.density.item() == pytest.approx(3.0)
    assert terms.rgb.item() == pytest.approx(1.0) and terms.depth.item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="rgb term"):
        compute_terms(LossWeights(rgb=1.0), "L1", (-2.0, 7.0), t, s)
    assert LossWeights(density=1.0).needs_render is False
    assert LossWeights(depth=0.1).active() == ("depth",)


def test_distortion_matches_its_pairwise_definition_per_ray():
    gen = torch.Generator().manual_seed(0)
    counts = [3, 0, 5, 1, 0]  # rays without samples too, the last one among them
    ray_indices = torch.cat([torch.full((c,), i) for i, c in enumerate(counts)])
    t = torch.cat([torch.sort(torch.rand(c, generator=gen))[0] for c in counts])
    deltas = torch.rand(len(t), generator=gen) * 0.1
    w = torch.rand(len(t), generator=gen, dtype=torch.float64).float().requires_grad_()
    got = distortion(w, t, deltas, ray_indices, len(counts))
    for r in range(len(counts)):
        m = ray_indices == r
        ww, tt, dd = w[m], t[m], deltas[m]
        pairs = (ww[:, None] * ww[None, :] * (tt[:, None] - tt[None, :]).abs()).sum()
        torch.testing.assert_close(got[r], pairs + (ww.square() * dd).sum() / 3)
    got.sum().backward()
    assert w.grad is not None and torch.isfinite(w.grad).all()


def test_distortion_is_lower_for_a_decisive_ray():
    t = torch.linspace(0.05, 0.95, 10)
    deltas, rays = torch.full((10,), 0.1), torch.zeros(10, dtype=torch.long)
    spread = torch.full((10,), 0.09)  # a haze: the same total weight along the whole ray
    peak = torch.zeros(10)
    peak[4] = 0.9  # one surface
    assert distortion(peak, t, deltas, rays, 1) < 0.1 * distortion(spread, t, deltas, rays, 1)
