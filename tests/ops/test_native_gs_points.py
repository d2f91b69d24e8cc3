"""Native Gaussian point queries (``gs_points_fwd``) against the PyTorch twin, the dispatch between
them, the kernel's argument checks, and the ``gs`` field on either path.

Tolerances: sigma rtol 1e-5, weighted sums atol 1e-5 * max|weighted| (the same float32 terms, added in
another order: the twin sums the values through a sparse product).
"""

from __future__ import annotations

import pytest
import torch

from pvd.fields import GSConfig, make_field
from pvd.fields.gs import CUTOFF2, density_weights
from pvd.ops import gs_points as G
from pvd.ops.splat import quat_to_rotmat


@pytest.fixture(scope="module", autouse=True)
def _native(native_build):
    """Every test here needs the CPU build (the fixture in conftest.py)."""
    return native_build


def _gaussians(n=400, seed=0, big=0):
    """Random Gaussians in the unit box, their query inputs and index (``big``: that many huge ones)."""
    g = torch.Generator().manual_seed(seed)
    means = torch.rand(n, 3, generator=g) * 1.8 - 0.9
    scales = 0.01 + 0.08 * torch.rand(n, 3, generator=g)
    scales[:big] = 1.5  # these overlap every cell: tested against every point
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=-1)
    rot = quat_to_rotmat(quats)
    covs = (rot * scales[:, None]) @ (rot * scales[:, None]).transpose(1, 2)
    inv = rot / scales[:, None, :]
    prec6 = (inv @ inv.transpose(1, 2)).reshape(-1, 9)[:, [0, 4, 8, 1, 2, 5]].contiguous()
    peak = density_weights(torch.rand(n, generator=g) * 0.98 + 0.01, scales)
    values = torch.randn(n, 12, generator=g)
    index = G.GaussianIndex(means, covs, 1.0, 16, max_cells=512)
    points = torch.cat(
        [
            means[torch.randint(n, (3000,), generator=g)] + 0.05 * torch.randn(3000, 3, generator=g),
            torch.rand(1000, 3, generator=g) * 2.4 - 1.2,  # some outside the box: the border cells
        ]
    )
    return points, means, prec6, peak, values, index


@pytest.mark.parametrize("big", [0, 3])
def test_native_matches_the_twin(big):
    x, means, prec6, peak, values, index = _gaussians(big=big)
    assert index.big.numel() == big
    sigma, weighted = G.gs_points(x, means, prec6, peak, values, index, CUTOFF2)
    ref_sigma, ref_weighted = G.gs_points_torch(x, means, prec6, peak, values, index, CUTOFF2)
    assert (ref_sigma > 0).float().mean() > 0.5 and (big > 0 or (ref_sigma == 0).any())  # hits (and misses)
    torch.testing.assert_close(sigma, ref_sigma, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(weighted, ref_weighted, rtol=1e-5, atol=1e-5 * ref_weighted.abs().max().item())


def test_native_runs_without_gradients_and_the_twin_with_them(monkeypatch):
    x, means, prec6, peak, values, index = _gaussians(n=50)
    calls = []
    ext = G.native_module("cpu")

    class Spy:
        def gs_points_fwd(self, *args):
            calls.append(len(args))
            return ext.gs_points_fwd(*args)

    monkeypatch.setattr(G, "native_module", lambda kind: Spy())
    G.gs_points(x, means, prec6, peak, values, index, CUTOFF2)
    assert calls == [11]
    values = values.clone().requires_grad_(True)
    _, weighted = G.gs_points(x, means, prec6, peak, values, index, CUTOFF2)
    assert calls == [11] and weighted.requires_grad  # the twin: differentiable
    weighted.sum().backward()
    assert values.grad.abs().sum() > 0
    with torch.no_grad():
        G.gs_points(x, means, prec6, peak, values, index, CUTOFF2)
    assert calls == [11, 11]
    G.gs_points(*(t.double() for t in (x, means, prec6, peak, values.detach())), index, CUTOFF2)  # float64: twin
    assert calls == [11, 11]


def test_bad_arguments_are_named():
    x, means, prec6, peak, values, index = _gaussians(n=30)
    with pytest.raises(ValueError, match=r"prec6 must have shape \[30, 6\]"):
        G.gs_points(x, means, prec6[:, :5], peak, values, index, CUTOFF2)
    with pytest.raises(ValueError, match=r"x must have shape \[\*, 3\]"):
        G.gs_points(x[:, :2], means, prec6, peak, values, index, CUTOFF2)
    ext = G.native_module("cpu")
    bad = index.ids.clone()
    bad[0] = 30
    with pytest.raises(RuntimeError, match=r"ids\[0\] = 30 is not a Gaussian id in \[0, 30\)"):
        ext.gs_points_fwd(x, means, prec6, peak, values, index.starts, bad, index.big, 1.0, index.res, CUTOFF2)
    with pytest.raises(RuntimeError, match="starts must have"):
        ext.gs_points_fwd(x, means, prec6, peak, values, index.starts[:-1], index.ids, index.big, 1.0, index.res, 9.0)


def test_the_field_gives_the_same_queries_on_either_path(monkeypatch):
    torch.manual_seed(3)
    field = make_field("gs", GSConfig(n_init=300, index_resolution=16, min_thickness=0.03), bound=1.0)
    with torch.no_grad():
        field.log_scales.copy_(torch.log(0.005 + 0.08 * torch.rand(300, 3)))  # many thinner than min_thickness
        field.opacity_logits.copy_(torch.randn(300))
        field.sh_rest.copy_(0.2 * torch.randn_like(field.sh_rest))
    x = field.means.detach()[:200] + 0.04 * torch.randn(200, 3)
    with torch.no_grad():
        native = field.raw_density_and_feature(x)
        monkeypatch.setenv("PVD_BACKEND", "torch")
        twin = field.raw_density_and_feature(x)
    torch.testing.assert_close(native[0], twin[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(native[2], twin[2], rtol=1e-4, atol=1e-4)
