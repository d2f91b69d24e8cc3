"""Native hash-grid kernels against the PyTorch twin, forward and backward (table and positions).

Tolerances: forward rtol 1e-5 / atol 1e-6 (same float32 math, different summation order);
table gradient rtol 1e-4 / atol 1e-6 element-wise plus per-level sums that must equal the sums of
the incoming gradient (trilinear weights sum to one), which holds whatever order atomics add in;
position gradient rtol 1e-4 / atol 1e-4 * max|grad| (it scales with the resolution).
"""

from __future__ import annotations

import pytest
import torch

from pvd.ops import backend
from pvd.ops.hash_grid import hash_grid, hash_grid_torch, make_layout

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.fixture(scope="module", autouse=True)
def _native(native_build):
    """Every test here needs the CPU build (the fixture in conftest.py)."""
    return native_build


def _grid(device, n_levels=4, n_features=2, log2=12, base=4, finest=32, seed=0):
    """Small layout with dense levels (res 4, ~8) and hashed ones (res 16, 32 > 2^12 rows)."""
    layout = make_layout(n_levels, n_features, log2, base, finest)
    g = torch.Generator().manual_seed(seed)
    table = (torch.rand(layout.n_entries, n_features, generator=g) * 2 - 1).to(device)
    return table, torch.tensor(layout.offsets, device=device), torch.tensor(layout.resolutions, device=device)


def _run(fn, x, table, offsets, resolutions, grad_out, **conv):
    x = x.clone().requires_grad_(True)
    table = table.clone().requires_grad_(True)
    out = fn(x, table, offsets, resolutions, **conv)
    (out * grad_out).sum().backward()
    return out.detach(), table.grad, x.grad, out.grad_fn


def _compare(x, table, offsets, resolutions, seed=1, **conv):
    """Native against twin; ``conv``: scales, shift, outside_zero (the grid convention)."""
    g = torch.Generator().manual_seed(seed)
    grad_out = torch.randn(x.shape[0], resolutions.numel() * table.shape[1], generator=g).to(x.device)
    out, g_table, g_x, grad_fn = _run(hash_grid, x, table, offsets, resolutions, grad_out, **conv)
    ref, r_table, r_x, _ = _run(hash_grid_torch, x, table, offsets, resolutions, grad_out, **conv)
    assert "HashGridNative" in type(grad_fn).__name__, "the native path did not run"
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_table, r_table, rtol=1e-4, atol=1e-6)
    scale = r_x.abs().max().item() + 1e-6
    torch.testing.assert_close(g_x, r_x, rtol=1e-4, atol=1e-4 * scale)
    # aggregate: each level's rows receive exactly the incoming gradient of that level
    f = table.shape[1]
    counted = grad_out
    if conv.get("outside_zero"):  # points outside the cube pass no gradient to the table
        counted = grad_out * ((x >= 0) & (x <= 1)).all(dim=1, keepdim=True)
    per_level_in = counted.view(x.shape[0], -1, f).sum(0)
    per_level_got = torch.stack([g_table[offsets[i] : offsets[i + 1]].sum(0) for i in range(resolutions.numel())])
    torch.testing.assert_close(per_level_got, per_level_in, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n_features", [2, 3, 4])
def test_random_points_inside_and_outside(device, n_features):
    table, offsets, resolutions = _grid(device, n_features=n_features)
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(3000, 3, generator=g) * 1.4 - 0.2).to(device)  # ~half the points need clamping
    _compare(x, table, offsets, resolutions)


@pytest.mark.parametrize("device", DEVICES)
def test_points_on_cell_boundaries_and_box_faces(device):
    table, offsets, resolutions = _grid(device)
    # multiples of 1/32 are vertices of every level (res 4, 8, 16, 32 here), plus the faces 0 and 1
    ticks = torch.arange(0, 33, dtype=torch.float32) / 32
    grid = torch.stack(torch.meshgrid(ticks, ticks[::4], ticks[::8], indexing="ij"), -1).reshape(-1, 3)
    x = torch.cat([grid, torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.5]])]).to(device)
    _compare(x, table, offsets, resolutions)


@pytest.mark.parametrize("device", DEVICES)
def test_dense_hashed_boundary_and_non_power_of_two_rows(device):
    # level 0: (4+1)^3 = 125 rows -> dense; level 1 (res 5): 216 > 200 rows -> hashed with a modulo
    # that is not a mask; level 2: exactly (7+1)^3 = 512 rows -> dense at the boundary
    g = torch.Generator().manual_seed(3)
    offsets = torch.tensor([0, 125, 325, 837], device=device)
    resolutions = torch.tensor([4, 5, 7], device=device)
    table = (torch.rand(837, 2, generator=g) * 2 - 1).to(device)
    x = torch.rand(2000, 3, generator=g).to(device)
    _compare(x, table, offsets, resolutions)


@pytest.mark.parametrize("device", DEVICES)
def test_paper_preset_layout(device):
    layout = make_layout(14, 2, 19, 16, 2048)
    g = torch.Generator().manual_seed(4)
    table = ((torch.rand(layout.n_entries, 2, generator=g) * 2 - 1) * 1e-2).to(device)
    x = torch.rand(2000, 3, generator=g).to(device)
    _compare(x, table, torch.tensor(layout.offsets, device=device), torch.tensor(layout.resolutions, device=device))


def _reference_grid(device, n_levels=4, log2=12, base=4, finest=32.0, seed=0):
    """The reference's convention on a small grid: ceil sizes, 8-row multiples, +0.5, zero outside."""
    layout = make_layout(n_levels, 2, log2, base, finest, rounding="ceil", row_multiple=8, shift=0.5)
    g = torch.Generator().manual_seed(seed)
    table = (torch.rand(layout.n_entries, 2, generator=g) * 2 - 1).to(device)
    conv = {"scales": torch.tensor(layout.scales, device=device), "shift": 0.5, "outside_zero": True}
    return table, torch.tensor(layout.offsets, device=device), torch.tensor(layout.resolutions, device=device), conv


@pytest.mark.parametrize("device", DEVICES)
def test_reference_convention_inside_and_outside(device):
    table, offsets, resolutions, conv = _reference_grid(device)
    assert (torch.diff(offsets) % 8 == 0).all()
    g = torch.Generator().manual_seed(6)
    x = (torch.rand(3000, 3, generator=g) * 1.4 - 0.2).to(device)  # about half outside the cube
    _compare(x, table, offsets, resolutions, **conv)
    out = hash_grid(x, table, offsets, resolutions, **conv)
    outside = ~((x >= 0) & (x <= 1)).all(dim=1)
    assert outside.any() and (out[outside] == 0).all() and (out[~outside] != 0).any()


@pytest.mark.parametrize("device", DEVICES)
def test_reference_convention_faces_and_paper_layout(device):
    table, offsets, resolutions, conv = _reference_grid(device)
    ticks = torch.arange(0, 33, dtype=torch.float32) / 32
    faces = torch.stack(torch.meshgrid(ticks, ticks[::4], ticks[::8], indexing="ij"), -1).reshape(-1, 3)
    _compare(faces.to(device), table, offsets, resolutions, **conv)
    layout = make_layout(14, 2, 19, 16, 2048.0, rounding="ceil", row_multiple=8, shift=0.5)
    g = torch.Generator().manual_seed(7)
    big = ((torch.rand(layout.n_entries, 2, generator=g) * 2 - 1) * 1e-2).to(device)
    x = (torch.rand(2000, 3, generator=g) * 1.02 - 0.01).to(device)
    _compare(
        x,
        big,
        torch.tensor(layout.offsets, device=device),
        torch.tensor(layout.resolutions, device=device),
        scales=torch.tensor(layout.scales, device=device),
        shift=0.5,
        outside_zero=True,
    )


@pytest.mark.parametrize("device", DEVICES)
def test_empty_batch_and_non_contiguous_points(device):
    table, offsets, resolutions = _grid(device)
    empty = torch.zeros(0, 3, device=device, requires_grad=True)
    out = hash_grid(empty, table, offsets, resolutions)
    assert out.shape == (0, 4 * 2)
    wide = torch.rand(500, 6, generator=torch.Generator().manual_seed(5)).to(device)
    _compare(wide[:, ::2], table, offsets, resolutions)


def test_table_only_gradient_skips_positions():
    table, offsets, resolutions = _grid("cpu")
    table.requires_grad_(True)
    x = torch.rand(100, 3)
    hash_grid(x, table, offsets, resolutions).sum().backward()
    assert x.grad is None and table.grad is not None and table.grad.abs().sum() > 0


def test_float64_and_torch_backend_use_the_twin(monkeypatch):
    table, offsets, resolutions = _grid("cpu")
    x = torch.rand(10, 3, dtype=torch.float64, requires_grad=True)
    out = hash_grid(x, table.double(), offsets, resolutions)
    assert "HashGridNative" not in type(out.grad_fn).__name__
    monkeypatch.setenv(backend.BACKEND_ENV, "torch")
    out = hash_grid(x.float(), table.requires_grad_(True), offsets, resolutions)
    assert "HashGridNative" not in type(out.grad_fn).__name__


def test_layout_errors_name_the_argument():
    ext = backend.native_module("cpu")
    table, offsets, resolutions = _grid("cpu")
    with pytest.raises(RuntimeError, match=r"x must have shape \[n, 3\]"):
        ext.hash_grid_fwd(torch.rand(5, 2), table, offsets, resolutions)
    with pytest.raises(RuntimeError, match="offsets span rows"):
        ext.hash_grid_fwd(torch.rand(5, 3), table[:100], offsets, resolutions)
    with pytest.raises(RuntimeError, match="resolutions must be Long|resolutions must be"):
        ext.hash_grid_fwd(torch.rand(5, 3), table, offsets, resolutions.int())
    with pytest.raises(RuntimeError, match="table must be contiguous"):
        ext.hash_grid_fwd(torch.rand(5, 3), table.t().contiguous().t(), offsets, resolutions)
    with pytest.raises(RuntimeError, match="scales must have 4 entries"):
        ext.hash_grid_fwd(torch.rand(5, 3), table, offsets, resolutions, torch.ones(3))
    with pytest.raises(RuntimeError, match=r"scales\[0\] = 9 with shift 0.5 reaches beyond vertex"):
        ext.hash_grid_fwd(torch.rand(5, 3), table, offsets, resolutions, resolutions.float() + 5, 0.5)
