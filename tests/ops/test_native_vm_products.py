"""Native VM plane x line kernels against the PyTorch twin (two ``grid_sample`` calls), forward and
backward (planes and lines), and the ``vm`` field on either path.

Tolerances: forward rtol 1e-5 / atol 1e-6 (same float32 math, the coordinate map rounded as torch's
CPU kernel does, summed in another order); plane and line gradients rtol 1e-4 / atol 1e-5 * max|grad|
(sums over every point that touches a texel, added in another order, with atomics on a GPU). The
float64 CPU kernel is also checked by ``torch.autograd.gradcheck``.
"""

from __future__ import annotations

import pytest
import torch

from pvd.ops import backend
from pvd.ops.vm_products import vm_products, vm_products_torch
from pvd.presets import build_field

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.fixture(scope="module", autouse=True)
def _native(native_build):
    """Every test here needs the CPU build (the fixture in conftest.py)."""
    return native_build


def _factors(device, rank=5, height=9, width=7, length=11, seed=0, dtype=torch.float32):
    """Random planes [3, rank, height, width] and lines [3, rank, length, 1] (non-square on purpose)."""
    g = torch.Generator().manual_seed(seed)
    planes = torch.randn(3, rank, height, width, generator=g, dtype=dtype).to(device)
    lines = torch.randn(3, rank, length, 1, generator=g, dtype=dtype).to(device)
    return planes, lines


def _run(fn, planes, lines, unit, grad_out):
    planes = planes.clone().requires_grad_(True)
    lines = lines.clone().requires_grad_(True)
    out = fn(planes, lines, unit)
    (out * grad_out).sum().backward()
    return out.detach(), planes.grad, lines.grad, out.grad_fn


def _compare(planes, lines, unit, seed=1):
    g = torch.Generator().manual_seed(seed)
    grad_out = torch.randn(3, planes.shape[1], unit.shape[0], generator=g).to(unit.device)
    out, g_planes, g_lines, grad_fn = _run(vm_products, planes, lines, unit, grad_out)
    ref, r_planes, r_lines, _ = _run(vm_products_torch, planes, lines, unit, grad_out)
    assert "VMProductsNative" in type(grad_fn).__name__, "the native path did not run"
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    for got, want in ((g_planes, r_planes), (g_lines, r_lines)):
        assert want.abs().sum() > 0
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * want.abs().max().item())


@pytest.mark.parametrize("device", DEVICES)
def test_random_points_inside_and_outside(device):
    planes, lines = _factors(device)
    g = torch.Generator().manual_seed(2)
    unit = (torch.rand(4000, 3, generator=g) * 2.4 - 1.2).to(device)  # ~half the points need clamping
    _compare(planes, lines, unit)


@pytest.mark.parametrize("device", DEVICES)
def test_points_on_texel_borders_and_box_faces(device):
    # texel centres of every axis size used (7, 9, 11 texels: multiples of 1/3, 1/4, 1/5 in [-1, 1]),
    # which put points exactly on cell borders, and the faces -1 and 1 (the last cell, fraction 1)
    ticks = torch.cat([torch.linspace(-1, 1, k) for k in (7, 9, 11)]).unique()
    grid = torch.stack(torch.meshgrid(ticks, ticks, ticks, indexing="ij"), -1).reshape(-1, 3)
    planes, lines = _factors(device, seed=3)
    _compare(planes, lines, grid.to(device))
    faces = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0], [1.0, -1.0, 0.0], [-1.0, 1.0, 1.0]])
    _compare(planes, lines, faces.to(device))


@pytest.mark.parametrize("device", DEVICES)
def test_tiny_preset_sizes(device):
    """The tiny preset's factor sets: ranks 8 and 24 at 96 texels per axis."""
    g = torch.Generator().manual_seed(4)
    unit = (torch.rand(3000, 3, generator=g) * 2 - 1).to(device)
    for rank in (8, 24):
        planes, lines = _factors(device, rank=rank, height=96, width=96, length=96, seed=rank)
        _compare(planes * 0.1, lines * 0.1, unit)


def test_gradcheck_float64():
    planes, lines = _factors("cpu", rank=2, height=4, width=5, length=6, seed=5, dtype=torch.float64)
    g = torch.Generator().manual_seed(6)
    unit = torch.rand(40, 3, generator=g, dtype=torch.float64) * 2.2 - 1.1
    planes.requires_grad_(True)
    lines.requires_grad_(True)
    assert "VMProductsNative" in type(vm_products(planes, lines, unit).grad_fn).__name__
    assert torch.autograd.gradcheck(lambda p, q: vm_products(p, q, unit), (planes, lines))


def test_empty_batch_and_non_contiguous_inputs():
    planes, lines = _factors("cpu")
    out = vm_products(planes.requires_grad_(True), lines, torch.zeros(0, 3))
    assert out.shape == (3, 5, 0)
    out.sum().backward()
    assert planes.grad.abs().sum() == 0
    wide = torch.rand(600, 6, generator=torch.Generator().manual_seed(7)) * 2 - 1
    big_planes, big_lines = _factors("cpu", width=14, seed=8)
    _compare(big_planes[..., ::2], lines, wide[:, ::2])


def test_position_gradient_and_torch_backend_use_the_twin(monkeypatch):
    planes, lines = _factors("cpu")
    unit = torch.rand(10, 3, requires_grad=True)
    out = vm_products(planes, lines, unit)
    assert "VMProductsNative" not in type(out.grad_fn).__name__
    out.sum().backward()
    assert unit.grad is not None
    monkeypatch.setenv(backend.BACKEND_ENV, "torch")
    out = vm_products(planes.requires_grad_(True), lines, unit.detach())
    assert "VMProductsNative" not in type(out.grad_fn).__name__


def test_shape_errors_name_the_argument():
    planes, lines = _factors("cpu")
    with pytest.raises(ValueError, match=r"lines must have shape \[3, 5, L, 1\]"):
        vm_products(planes, lines[:, :4], torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"unit must have shape \[n, 3\]"):
        vm_products(planes, lines, torch.zeros(2, 2))
    ext = backend.native_module("cpu")
    with pytest.raises(RuntimeError, match=r"lines must have shape \[3, 5, L, 1\]"):
        ext.vm_products_fwd(planes, lines[:, :, :, None, 0].expand(3, 5, 11, 2).contiguous(), torch.zeros(2, 3))
    with pytest.raises(RuntimeError, match="unit must be Float"):
        ext.vm_products_fwd(planes, lines, torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(RuntimeError, match=r"grad must have shape \[3, 5, 2\]"):
        ext.vm_products_bwd(torch.zeros(3, 5, 3), planes, lines, torch.zeros(2, 3))


def _graph_names(fn) -> set[str]:
    """Names of every autograd node reachable from ``fn``."""
    names, stack, seen = set(), [fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    return names


def test_vm_field_native_matches_twin(monkeypatch):
    """The tiny vm field (res 96 over bound 1): outputs and factor gradients on both paths."""
    torch.manual_seed(0)
    field = build_field("vm", "tiny", 1.0)
    x = torch.rand(2000, 3) * 2.2 - 1.1
    factors = [field.density_planes, field.density_lines, field.appearance_planes, field.appearance_lines]

    def outputs():
        field.zero_grad()
        s_raw, h, f = field.raw_density_and_feature(x)
        (s_raw.sum() + (h * torch.linspace(-1, 1, 16)).sum()).backward()
        return s_raw.detach(), h.detach(), [p.grad.clone() for p in factors], _graph_names(s_raw.grad_fn)

    native = outputs()
    monkeypatch.setenv(backend.BACKEND_ENV, "torch")
    twin = outputs()
    assert any("VMProductsNative" in n for n in native[3]) and not any("VMProductsNative" in n for n in twin[3])
    torch.testing.assert_close(native[0], twin[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(native[1], twin[1], rtol=1e-5, atol=1e-5)
    for got, want in zip(native[2], twin[2]):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * want.abs().max().item())
