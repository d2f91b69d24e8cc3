"""Splat blending ends a pixel at the Gaussian that would take its transmittance below ``T_MIN``
(as 3DGS and gsplat do): that Gaussian and every one behind it are neither blended nor given a
gradient, in the native kernel and in its PyTorch twin alike."""

from __future__ import annotations

import pytest
import torch

from pvd.ops.splat import ALPHA_MAX, T_MIN, _SplatNative, rasterize_pixels_torch

W, H = 9, 7


def stack(n_front: int, alpha: float) -> tuple[list[torch.Tensor], torch.Tensor]:
    """``n_front`` wide Gaussians of opacity ``alpha`` over the whole image, front to back, then one
    red Gaussian behind them."""
    n = n_front + 1
    means2d = torch.tensor([[W / 2, H / 2]]).repeat(n, 1)
    conics = torch.tensor([[1e-4, 0.0, 1e-4]]).repeat(n, 1)  # flat over the image: alpha ~ opacity
    opacities = torch.full((n,), alpha)
    colors = torch.full((n, 3), 0.5)
    colors[-1] = torch.tensor([1.0, 0.0, 0.0])
    dists = torch.arange(1, n + 1, dtype=torch.float32)
    radii = torch.full((n,), float(W + H))
    return [means2d, conics, opacities, colors, dists, radii], torch.arange(n)


@pytest.mark.parametrize("backend", ["twin", "native"])
def test_a_pixel_ends_where_its_transmittance_would_fall_below_t_min(native_build, backend):
    alpha = 0.8  # T = 0.2^k: the 6th Gaussian would take it to 6.4e-5
    tensors, order = stack(7, alpha)
    leaves = [t.clone().requires_grad_(i < 5) for i, t in enumerate(tensors)]
    if backend == "twin":
        rgb, depth, opacity = rasterize_pixels_torch(*leaves, order, W, H)
    else:
        rgb, depth, opacity = _SplatNative.apply(*leaves, order, W, H, native_build.module)
    blended = 0
    t = 1.0
    while t * (1 - alpha) >= T_MIN:
        t *= 1 - alpha
        blended += 1
    assert blended == 5 and alpha < ALPHA_MAX
    torch.testing.assert_close(opacity, torch.full((W * H,), 1 - t), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(rgb, torch.full((W * H, 3), 0.5 * (1 - t)), rtol=1e-5, atol=1e-6)
    (rgb.sum() + depth.sum() + opacity.sum()).backward()
    colors, opacities = leaves[3], leaves[2]
    assert bool((colors.grad[:blended] > 0).all()) and bool((opacities.grad[:blended] != 0).all())
    assert float(colors.grad[blended:].abs().max()) == 0.0  # the red one behind is never seen
    assert float(opacities.grad[blended:].abs().max()) == 0.0
