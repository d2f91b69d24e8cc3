"""Native splat blending (``splat_fwd`` / ``splat_bwd``) against its PyTorch twin, forward and gradients.

Tolerances: forward rtol 1e-5 / atol 1e-5 (the twin's transmittance is exp of a float64 sum of
``-log(1 - alpha)``, the kernel's a float32 product of ``1 - alpha``); gradients rtol 1e-3 / atol 1e-4
relative to each tensor's largest entry (different summation orders over thousands of pixels).
"""

from __future__ import annotations

import pytest
import torch

from pvd.ops.splat import _SplatNative, rasterize_pixels, rasterize_pixels_torch

W, H = 45, 37  # not multiples of the 8-pixel tiles


def projected(n: int, seed: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Random projected Gaussians (some capped at alpha 0.99, some off-image, some culled) and a
    front-to-back order of the drawn ones."""
    g = torch.Generator().manual_seed(seed)
    means2d = torch.rand(n, 2, generator=g) * torch.tensor([W + 20.0, H + 20.0]) - 10.0
    a = 0.5 + 6 * torch.rand(n, generator=g)
    c = 0.5 + 6 * torch.rand(n, generator=g)
    b = (torch.rand(n, generator=g) * 2 - 1) * 0.9 * torch.sqrt(a * c)
    det = a * c - b * b
    conics = torch.stack([c / det, -b / det, a / det], 1)
    opacities = torch.rand(n, generator=g) * 1.05
    opacities[:5] = 1.0  # alpha capped near the centre
    opacities = opacities.clamp(0, 1)
    colors = torch.rand(n, 3, generator=g)
    dists = 1 + 3 * torch.rand(n, generator=g)
    lam = 0.5 * (a + c) + (0.25 * (a - c) ** 2 + b * b).sqrt()
    radii = torch.sqrt(2 * torch.log((255 * opacities).clamp_min(1.0)) * lam)
    radii[-3:] = 0.0  # culled
    order = torch.argsort(dists)
    order = order[radii[order] > 0]
    return [means2d, conics, opacities, colors, dists, radii], order


@pytest.mark.parametrize("seed", [0, 1])
def test_forward_and_gradients_match_the_twin(native_build, seed):
    tensors, order = projected(300, seed)
    ref_in = [t.clone().requires_grad_(i < 5) for i, t in enumerate(tensors)]
    nat_in = [t.clone().requires_grad_(i < 5) for i, t in enumerate(tensors)]
    ref = rasterize_pixels_torch(*ref_in, order, W, H)
    ours = _SplatNative.apply(*nat_in, order, W, H, native_build.module)
    alpha = ref[2].detach()
    assert float(alpha.max()) > 0.9 and float(alpha.min()) < 0.05  # opaque and (nearly) empty pixels
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    g = torch.Generator().manual_seed(seed + 10)
    weights = [torch.randn(o.shape, generator=g) for o in ref]
    sum(((o * w).sum() for o, w in zip(ref, weights)), torch.zeros(())).backward()
    sum(((o * w).sum() for o, w in zip(ours, weights)), torch.zeros(())).backward()
    for name, a, b in zip(("means2d", "conics", "opacities", "colors", "dists"), nat_in, ref_in):
        scale = float(b.grad.abs().max())
        assert scale > 0, name
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-3, atol=1e-4 * scale, msg=name)


def test_the_dispatcher_runs_native_on_cpu_float32_and_the_twin_when_forced(native_build, monkeypatch):
    tensors, order = projected(50, 2)
    leaves = [t.clone().requires_grad_(True) for t in tensors]
    assert "_SplatNative" in type(rasterize_pixels(*leaves, order, W, H)[0].grad_fn).__name__
    monkeypatch.setenv("PVD_BACKEND", "torch")
    assert "_SplatNative" not in type(rasterize_pixels(*leaves, order, W, H)[0].grad_fn).__name__


def test_an_empty_order_draws_nothing(native_build):
    tensors, _ = projected(20, 3)
    rgb, depth, opacity = _SplatNative.apply(*tensors, torch.zeros(0, dtype=torch.long), W, H, native_build.module)
    assert float(rgb.abs().max()) == 0 and float(opacity.max()) == 0 and float(depth.max()) == 0


def test_bad_layouts_are_named(native_build):
    tensors, order = projected(20, 4)
    tensors[1] = tensors[1][:, :2].contiguous()
    with pytest.raises(RuntimeError, match="splat_fwd: conics must have shape"):
        native_build.module.splat_fwd(*tensors, order, W, H)


def test_gradients_do_not_depend_on_the_thread_count(native_build):
    """The backward's tile bands are fixed and summed in band order: 1 and 2 threads agree bit for bit."""
    tensors, order = projected(300, 5)
    grads = []
    before = torch.get_num_threads()
    try:
        for threads in (1, 2, 1):
            torch.set_num_threads(threads)
            leaves = [t.clone().requires_grad_(i < 5) for i, t in enumerate(tensors)]
            rgb, depth, opacity = _SplatNative.apply(*leaves, order, W, H, native_build.module)
            (rgb.sum() + depth.sum() + opacity.sum()).backward()
            grads.append([leaf.grad for leaf in leaves[:5]])
    finally:
        torch.set_num_threads(before)
    for other in grads[1:]:
        for a, b in zip(grads[0], other):
            assert torch.equal(a, b)


def test_an_order_entry_outside_the_gaussians_is_refused(native_build):
    tensors, order = projected(20, 6)
    order = order.clone()
    order[0] = 20
    with pytest.raises(RuntimeError, match=r"splat_fwd: order\[0\] = 20 is not a Gaussian index in \[0, 20\)"):
        native_build.module.splat_fwd(*tensors, order, W, H)
