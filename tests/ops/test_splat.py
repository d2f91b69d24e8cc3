"""The splat rasteriser's twin: projection, pixel conventions, compositing, gradients; gsplat parity on CUDA."""

from __future__ import annotations

import math

import pytest
import torch

from pvd.ops.splat import ALPHA_MAX, Gaussians, SplatCamera, covariances, rasterize, rasterize_torch

SIZE = 32
FOCAL = 40.0


def camera(device="cpu") -> SplatCamera:
    """Looking along +z from the origin; the principal point at the image centre."""
    return SplatCamera(torch.eye(3, device=device), torch.zeros(3, device=device), FOCAL, FOCAL, 16.0, 16.0, SIZE, SIZE)


def gaussians(means, scales, opacities, colors, quats=None) -> Gaussians:
    n = len(means)
    means = torch.as_tensor(means, dtype=torch.float32)
    sh = ((torch.as_tensor(colors, dtype=torch.float32) - 0.5) / 0.28209479177387814)[:, None, :]
    q = torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1) if quats is None else torch.as_tensor(quats, dtype=torch.float32)
    return Gaussians(
        means,
        torch.nn.functional.normalize(q, dim=-1),
        torch.as_tensor(scales, dtype=torch.float32),
        torch.as_tensor(opacities, dtype=torch.float32),
        sh,
    )


def test_one_gaussian_lands_at_its_projection_with_its_opacity_and_falloff():
    # the mean projects to u = 40 * 0.2 / 2 + 16 = 20, v = 16 - 0.1 * 20 = 14: pixel (19.5, 13.5)'s centre + 0.5
    g = gaussians([[0.2, -0.1, 2.0]], [[0.05, 0.05, 0.05]], [0.8], [[1.0, 0.0, 0.0]])
    out = rasterize_torch(g, camera(), torch.zeros(3))
    opacity = out.opacity
    row, col = divmod(int(opacity.argmax()), SIZE)
    assert (row, col) in {(13, 19), (13, 20), (14, 19), (14, 20)}
    # EWA: J = [[f/z, 0, -f x/z^2], [0, f/z, -f y/z^2]] = [[20, 0, -2], [0, 20, 1]], cov2 = 0.05^2 J J^T + 0.3 I
    a, b, c = 0.0025 * 404 + 0.3, 0.0025 * -2, 0.0025 * 401 + 0.3
    det = a * c - b * b
    dx = dy = -0.5  # pixel centre (19.5, 13.5) minus the mean (20, 14)
    expected = 0.8 * math.exp(-0.5 * (c * dx * dx - 2 * b * dx * dy + a * dy * dy) / det)
    assert opacity[13, 19].item() == pytest.approx(expected, rel=1e-4)
    assert torch.allclose(out.rgb[13, 19], torch.tensor([expected, 0.0, 0.0]), atol=1e-5)
    # depth is the distance to the mean where the pixel is covered, weighted by the opacity
    assert out.depth[13, 19].item() == pytest.approx(expected * math.sqrt(0.04 + 0.01 + 4.0), rel=1e-4)
    # beyond the alpha >= 1/255 ellipse nothing is drawn
    assert opacity[0, 0].item() == 0.0 and out.radii[0] > 0


def test_front_to_back_order_background_and_the_alpha_cap():
    # two opaque Gaussians on the axis: the nearer (green) hides the farther (red); alpha capped at 0.99
    g = gaussians([[0.0, 0.0, 3.0], [0.0, 0.0, 2.0]], [[0.3] * 3, [0.3] * 3], [1.0, 1.0], [[1, 0, 0], [0, 1, 0]])
    bg = torch.tensor([0.0, 0.0, 1.0])
    out = rasterize_torch(g, camera(), bg)
    c = out.rgb[15, 15]
    near = min(ALPHA_MAX, math.exp(-0.5 * 0.5 / ((FOCAL * 0.3 / 2) ** 2 + 0.3)))  # capped
    far = min(ALPHA_MAX, math.exp(-0.5 * 0.5 / ((FOCAL * 0.3 / 3) ** 2 + 0.3)))
    assert near == ALPHA_MAX and far < ALPHA_MAX
    assert c[1].item() == pytest.approx(near, rel=1e-4)
    assert c[0].item() == pytest.approx((1 - near) * far, rel=1e-4)
    assert c[2].item() == pytest.approx((1 - near) * (1 - far), rel=1e-3)
    assert out.opacity[15, 15].item() == pytest.approx(1 - (1 - near) * (1 - far), rel=1e-4)


def test_a_gaussian_behind_the_camera_is_culled():
    g = gaussians([[0.0, 0.0, -2.0]], [[0.3] * 3], [0.9], [[1, 1, 1]])
    out = rasterize_torch(g, camera(), torch.zeros(3))
    assert out.radii[0] == 0 and float(out.opacity.abs().max()) == 0.0


def test_anisotropic_covariance_is_rotated_by_the_quaternion():
    # a needle along x, turned 90 degrees about z, becomes a needle along y in the image
    quat = [[math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4)]]
    g = gaussians([[0.0, 0.0, 2.0]], [[0.3, 0.02, 0.02]], [0.9], [[1, 1, 1]], quats=quat)
    cov = covariances(g.quats, g.scales)[0]
    assert cov[1, 1].item() == pytest.approx(0.09, rel=1e-4) and cov[0, 0].item() == pytest.approx(4e-4, rel=1e-3)
    out = rasterize_torch(g, camera(), torch.zeros(3)).opacity
    assert out[:, 15].sum() > 3 * out[15, :].sum()


def random_gaussians(n: int, seed: int, requires_grad: bool = False) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    raw = {
        "means": torch.cat([torch.rand(n, 2, generator=gen) - 0.5, 1.5 + torch.rand(n, 1, generator=gen)], 1),
        "log_scales": torch.log(0.03 + 0.05 * torch.rand(n, 3, generator=gen)),
        "quats": torch.randn(n, 4, generator=gen),
        "logits": torch.randn(n, generator=gen),
        "sh": 0.5 * torch.randn(n, 4, 3, generator=gen),
    }
    return {k: v.requires_grad_(requires_grad) for k, v in raw.items()}


def activate(raw: dict[str, torch.Tensor]) -> Gaussians:
    return Gaussians(
        raw["means"],
        torch.nn.functional.normalize(raw["quats"], dim=-1),
        torch.exp(raw["log_scales"]),
        torch.sigmoid(raw["logits"]),
        raw["sh"],
    )


def test_gradients_match_finite_differences():
    raw = random_gaussians(12, seed=1, requires_grad=True)
    weights = torch.rand(SIZE, SIZE, 3, generator=torch.Generator().manual_seed(2))

    def loss(r):
        return (rasterize_torch(activate(r), camera(), torch.ones(3)).rgb.double() * weights).sum()

    loss(raw).backward()
    checked = 0
    # means move pixels across the alpha >= 1/255 edge beyond ~1e-3: a smaller step there
    cases = [("logits", (0,), 1e-2), ("logits", (5,), 1e-2), ("sh", (3, 0, 1), 1e-2), ("means", (2, 0), 1e-3)]
    for name, index, eps in cases + [("means", (7, 2), 1e-3), ("log_scales", (4, 1), 1e-2)]:
        analytic = raw[name].grad[index].item()
        with torch.no_grad():
            plus = {k: v.detach().clone() for k, v in raw.items()}
            minus = {k: v.detach().clone() for k, v in raw.items()}
            plus[name][index] += eps
            minus[name][index] -= eps
            numeric = (loss(plus) - loss(minus)).item() / (2 * eps)
        assert analytic == pytest.approx(numeric, rel=0.02, abs=1e-3), (name, index)
        checked += abs(analytic) > 1e-3
    assert checked >= 4  # most of them are not trivially zero


def test_view_space_gradient_is_exposed_on_means2d():
    raw = random_gaussians(6, seed=3, requires_grad=True)
    out = rasterize_torch(activate(raw), camera(), torch.ones(3))
    out.rgb.sum().backward()
    assert out.means2d.grad is not None and out.means2d.grad.shape == (6, 2)
    assert float(out.means2d.grad.abs().sum()) > 0


@pytest.mark.cuda
def test_gsplat_matches_the_twin_on_cuda():
    raw = {k: v.cuda().requires_grad_(True) for k, v in random_gaussians(200, seed=4).items()}
    twin_raw = {k: v.detach().clone().requires_grad_(True) for k, v in raw.items()}
    cam = camera("cuda")
    bg = torch.tensor([0.2, 0.3, 0.4], device="cuda")
    out = rasterize(activate(raw), cam, bg)
    ref = rasterize_torch(activate(twin_raw), cam, bg)
    # gsplat stops a pixel once T < 1e-4; the twin does not: differences stay below 1e-3
    assert torch.allclose(out.rgb, ref.rgb, atol=2e-3)
    assert torch.allclose(out.opacity, ref.opacity, atol=2e-3)
    out.rgb.sum().backward()
    ref.rgb.sum().backward()
    for name in ("logits", "sh", "means"):
        a, b = raw[name].grad, twin_raw[name].grad
        assert torch.allclose(a, b, atol=2e-2 * float(b.abs().max()) + 1e-4), name
