"""Native ray-box intersection, ray marching and compositing against their PyTorch twins.

Tolerances: ray_aabb exact (same float32 operations); march: identical ray indices, ``t`` / ``deltas`` /
``t_end`` within rtol 1e-5 / atol 1e-6 (the geometric phase uses powf/logf, a few ulp from torch's);
composite forward rtol 1e-5 / atol 1e-6, backward rtol 1e-4 / atol 1e-5 (float64 prefix sums in
both, different summation order).
"""

from __future__ import annotations

import math

import pytest
import torch

from pvd.ops import backend
from pvd.ops.composite import composite, composite_torch
from pvd.ops.march import march, march_torch
from pvd.ops.ray_aabb import ray_aabb, ray_aabb_torch

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.fixture(scope="module", autouse=True)
def _native(native_build):
    """Every test here needs the CPU build (the fixture in conftest.py)."""
    return native_build


def _rays(n, device, seed=0, spread=2.0):
    """Random rays: origins around the box, some parallel to slabs, some pointing away."""
    g = torch.Generator().manual_seed(seed)
    o = torch.randn(n, 3, generator=g) * spread
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)
    d[:8, 0] = 0.0  # parallel to the x slabs
    d[8:16, :2] = 0.0  # along z only
    d[8:16, 2] = 1.0
    o[16:24] = torch.rand(8, 3, generator=g) - 0.5  # starting inside the box
    return o.to(device), d.to(device), g


def _near_far(o, d, bound):
    aabb = torch.tensor([-bound] * 3 + [bound] * 3, device=o.device)
    t_near, t_far, hit = ray_aabb_torch(o, d, aabb)
    near = torch.where(hit, t_near.clamp_min(0.2), torch.zeros_like(t_near))
    far = torch.where(hit, t_far, torch.zeros_like(t_far))
    return near, far


@pytest.mark.parametrize("device", DEVICES)
def test_ray_aabb_matches_twin_exactly(device):
    o, d, _ = _rays(3000, device)
    aabb = torch.tensor([-1.0, -0.5, -2.0, 1.0, 0.5, 2.0], device=device)
    ours, ref = ray_aabb(o, d, aabb), ray_aabb_torch(o, d, aabb)
    assert ref[2].any() and not ref[2].all()  # hits and misses both present
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    empty = ray_aabb(o[:0], d[:0], aabb)
    assert [t.shape for t in empty] == [(0,)] * 3


def _compare_march(o, d, near, far, u, occ, bound, dt_min, dt_max, gamma, max_samples, max_candidates):
    ours = march(o, d, near, far, u, occ, bound, dt_min, dt_max, gamma, max_samples, max_candidates)
    ref = march_torch(o, d, near, far, u, occ, bound, dt_min, dt_max, gamma, max_samples, max_candidates)
    torch.testing.assert_close(ours[0], ref[0], rtol=0, atol=0)
    for a, b in zip(ours[1:], ref[1:]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    return ours


# (bound, cascades, dt_gamma): constant steps, multi-cascade, and the three-phase geometric rule
RULES = [(1.0, 1, 0.0), (2.0, 2, 0.0), (2.0, 2, 0.01), (4.0, 3, 0.004), (1.5, 2, 0.1)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bound,cascades,gamma", RULES)
@pytest.mark.parametrize("max_samples,max_candidates", [(1024, 1 << 30), (5, 1 << 30), (64, 40)])
def test_march_matches_twin(device, bound, cascades, gamma, max_samples, max_candidates):
    o, d, g = _rays(600, device, seed=1, spread=bound * 2)
    near, far = _near_far(o, d, bound)
    u = torch.rand(o.shape[0], generator=g).to(device)
    occ = (torch.rand(cascades, 16, 16, 16, generator=g) < 0.3).to(device)
    dt_min, dt_max = 2 * math.sqrt(3) / 256, 2 * math.sqrt(3) * 2 ** (cascades - 1) / 16
    ray_indices, t, _, _ = _compare_march(
        o, d, near, far, u, occ, bound, dt_min, dt_max, gamma, max_samples, max_candidates
    )
    assert ray_indices.numel() > 0 and bool((ray_indices[1:] >= ray_indices[:-1]).all())


@pytest.mark.parametrize("device", DEVICES)
def test_march_edge_cases(device):
    o, d, g = _rays(200, device, seed=2)
    near, far = _near_far(o, d, 1.0)
    assert bool((near == far).any())  # rays that miss the box get no samples
    u = torch.full_like(near, 0.5)
    occ = (torch.rand(1, 8, 8, 8, generator=g) < 0.5).to(device)
    args = (1.0, 2 * math.sqrt(3) / 128, 2 * math.sqrt(3) / 8, 0.0)
    _compare_march(o, d, near, far, u, occ, *args, 16, 1 << 30)
    # all cells empty; near > far (treated as near == far); a single ray; no rays
    _compare_march(o, d, near, far, u, torch.zeros_like(occ), *args, 16, 1 << 30)
    _compare_march(o, d, far + 0.1, far, u, occ, *args, 16, 1 << 30)
    _compare_march(o[:1], d[:1], near[:1], far[:1], u[:1], occ, *args, 16, 1 << 30)
    ours = march(o[:0], d[:0], near[:0], far[:0], u[:0], occ, *args, 16, 1 << 30)
    assert [t.numel() for t in ours] == [0, 0, 0, 0]


def test_march_resumes_from_t_end():
    """Inference marches in blocks: restarting at t_end must continue the same boundaries."""
    o, d, g = _rays(300, "cpu", seed=3)
    near, far = _near_far(o, d, 2.0)
    u = torch.full_like(near, 0.5)
    occ = torch.rand(2, 16, 16, 16, generator=g) < 0.4
    args = (2.0, 2 * math.sqrt(3) / 256, 2 * math.sqrt(3) * 2 / 16, 0.01)
    whole = march(o, d, near, far, u, occ, *args, 1 << 20, 1 << 30)
    t_cur, parts = near.clone(), []
    for _ in range(200):
        ri, t, _, t_end = march(o, d, t_cur, far, u, occ, *args, 7, 1 << 30)
        parts.append((ri, t))
        t_cur = t_end
        if bool((t_cur >= far).all()):
            break
    ri = torch.cat([p[0] for p in parts])
    t = torch.cat([p[1] for p in parts])
    order = torch.sort(ri * 1e6 + t.double(), stable=True).indices  # ray-major, front to back
    torch.testing.assert_close(ri[order], whole[0], rtol=0, atol=0)
    torch.testing.assert_close(t[order], whole[1], rtol=1e-5, atol=1e-5)


def _packed(device, n_rays=300, seed=4):
    """Packed samples with empty rays, single-sample rays and long rays (sorted ray indices)."""
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(0, 40, (n_rays,), generator=g)
    counts[::7] = 0
    counts[1::11] = 1
    ray_indices = torch.repeat_interleave(torch.arange(n_rays), counts)
    m = ray_indices.numel()
    deltas = torch.rand(m, generator=g) * 0.05 + 1e-3
    ts = torch.rand(m, generator=g).cumsum(0) * 0.01
    sigmas = torch.rand(m, generator=g) * 60
    rgbs = torch.rand(m, 3, generator=g)
    return [t.to(device) for t in (sigmas, rgbs, deltas, ts, ray_indices)] + [n_rays], g


@pytest.mark.parametrize("device", DEVICES)
def test_composite_matches_twin_forward_and_backward(device):
    (sigmas, rgbs, deltas, ts, ray_indices, n_rays), g = _packed(device)

    def run(fn):
        leaves = [t.clone().requires_grad_(True) for t in (sigmas, rgbs, deltas, ts)]
        outs = fn(*leaves, ray_indices, n_rays)
        grads = [torch.randn(o.shape, generator=torch.Generator().manual_seed(5)).to(device) for o in outs]
        torch.autograd.backward(outs, grads)
        return outs, [leaf.grad for leaf in leaves]

    (ours, our_grads), (ref, ref_grads) = run(composite), run(composite_torch)
    assert "CompositeNative" in type(ours[0].grad_fn).__name__, "the native path did not run"
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-5, atol=1e-6)
    for a, b in zip(our_grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_composite_without_samples_and_without_grad(device):
    (sigmas, rgbs, deltas, ts, ray_indices, _), _ = _packed(device, n_rays=5)
    weights, rgb, depth, opacity = composite(sigmas[:0], rgbs[:0], deltas[:0], ts[:0], ray_indices[:0], 5)
    assert weights.shape == (0,) and bool((rgb == 0).all() and (depth == 0).all() and (opacity == 0).all())
    with torch.no_grad():
        ours = composite(sigmas, rgbs, deltas, ts, ray_indices, 5)
    for a, b in zip(ours, composite_torch(sigmas, rgbs, deltas, ts, ray_indices, 5)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_ops_needing_input_gradients_use_the_twin():
    o, d, _ = _rays(40, "cpu")
    aabb = torch.tensor([-1.0] * 3 + [1.0] * 3)
    t_near, _, _ = ray_aabb(o.requires_grad_(True), d, aabb)
    assert t_near.requires_grad  # the twin is differentiable in the origins, the native op is not


def test_march_layout_errors_name_the_argument():
    ext = backend.native_module("cpu")
    o, d, _ = _rays(40, "cpu")
    o, d = o[:4].contiguous(), d[:4].contiguous()
    near, far = torch.zeros(4), torch.ones(4)
    occ = torch.ones(1, 4, 4, 4, dtype=torch.bool)
    with pytest.raises(RuntimeError, match="far must have 4 entries"):
        ext.march_fwd(o, d, near, far[:3], near, occ, 1.0, 0.01, 0.1, 0.0, 8, 100)
    with pytest.raises(RuntimeError, match=r"occupancy must have shape \[C, R, R, R\]"):
        ext.march_fwd(o, d, near, far, near, occ[:, :2], 1.0, 0.01, 0.1, 0.0, 8, 100)
    with pytest.raises(RuntimeError, match="ray_indices must be Long"):
        ext.composite_fwd(near, o, near, near, near.int(), 4)
