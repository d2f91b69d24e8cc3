"""Packed compositing against a per-ray loop, forward and backward."""

import torch

from pvd.ops.composite import composite, composite_torch


def _packed(gen, counts):
    ray_indices = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    m = ray_indices.numel()
    sigmas = (torch.rand(m, generator=gen) * 30).requires_grad_()
    rgbs = torch.rand(m, 3, generator=gen).requires_grad_()
    deltas = torch.rand(m, generator=gen) * 0.05 + 0.01
    ts = torch.cumsum(deltas, 0)
    return sigmas, rgbs, deltas, ts, ray_indices


def _loop_reference(sigmas, rgbs, deltas, ts, ray_indices, n_rays):
    weights, rgb, depth, opacity = [], [], [], []
    for r in range(n_rays):
        sel = ray_indices == r
        tau = sigmas[sel] * deltas[sel]
        trans = torch.exp(-(torch.cumsum(tau, 0) - tau))
        w = (1 - torch.exp(-tau)) * trans
        weights.append(w)
        rgb.append((w[:, None] * rgbs[sel]).sum(0))
        depth.append((w * ts[sel]).sum())
        opacity.append(w.sum())
    return torch.cat(weights), torch.stack(rgb), torch.stack(depth), torch.stack(opacity)


def test_matches_loop_forward_and_backward():
    gen = torch.Generator().manual_seed(1)
    counts = [5, 0, 40, 1, 0, 17]
    args = _packed(gen, counts)
    got = composite_torch(*args, len(counts))
    ref = _loop_reference(*args, len(counts))
    for g, r in zip(got, ref):
        assert torch.allclose(g, r, atol=1e-6)
    probe = torch.rand(len(counts), 3, generator=gen)
    grads = torch.autograd.grad((got[1] * probe).sum() + got[2].sum(), args[:2])
    grads_ref = torch.autograd.grad((ref[1] * probe).sum() + ref[2].sum(), args[:2])
    for g, r in zip(grads, grads_ref):
        assert torch.allclose(g, r, atol=1e-5)


def test_weights_sum_to_opacity_and_bounded():
    gen = torch.Generator().manual_seed(2)
    counts = [300, 3, 50]
    sigmas, rgbs, deltas, ts, ray_indices = _packed(gen, counts)
    weights, _, _, opacity = composite(sigmas * 10, rgbs, deltas, ts, ray_indices, len(counts))
    per_ray = torch.zeros(len(counts)).index_add(0, ray_indices, weights)
    assert torch.allclose(per_ray, opacity)
    assert (weights >= 0).all() and (opacity <= 1 + 1e-6).all()
    assert opacity[0] > 0.999  # a long dense ray saturates


def test_long_packed_batch_keeps_precision():
    # many rays before the last one: a float32 global cumsum would lose the last ray's transmittance
    n_rays, per_ray = 2000, 200
    ray_indices = torch.arange(n_rays).repeat_interleave(per_ray)
    sigmas = torch.full((n_rays * per_ray,), 100.0)
    deltas = torch.full_like(sigmas, 0.01)
    weights, _, _, opacity = composite_torch(
        sigmas, torch.ones(sigmas.shape[0], 3), deltas, deltas, ray_indices, n_rays
    )
    first = weights.view(n_rays, per_ray)[:, 0]
    assert torch.allclose(first, torch.full_like(first, 1 - torch.exp(torch.tensor(-1.0)).item()), atol=1e-6)
    assert torch.allclose(opacity, torch.ones(n_rays), atol=1e-6)
