"""The parts of each architecture against independent formulas: encodings, head shapes, the VM
plane/line conventions, trilinear interpolation, the learning-rate groups and the L1 regulariser."""

from __future__ import annotations

import torch

from pvd.fields.encodings import FrequencyEncoding
from pvd.fields.hash import HashField
from pvd.fields.tensors import WeightedGather
from pvd.ops.hash_grid import hash_grid
from pvd.ops.sh import sh_encode
from pvd.ops.vm_products import LINE_AXES, PLANE_AXES
from pvd.presets import build_field


def _dirs(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, 3, generator=gen), dim=1)


def test_frequency_encoding_values():
    enc = FrequencyEncoding(10)
    x = torch.rand(17, 3) * 2 - 1
    out = enc(x)
    assert enc.out_dim == 63 and out.shape == (17, 63)
    assert torch.equal(out[:, :3], x)
    for k in range(10):
        block = out[:, 3 + 6 * k : 9 + 6 * k]
        assert torch.allclose(block[:, :3], torch.sin(2.0**k * x), atol=1e-6)
        assert torch.allclose(block[:, 3:], torch.cos(2.0**k * x), atol=1e-6)
    assert FrequencyEncoding(4, include_input=False).out_dim == 24


def _linear_shapes(module):
    layers = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    assert all(m.bias is None for m in layers)
    return [tuple(m.weight.shape[::-1]) for m in layers]


def test_paper_heads_match_method():
    for key in ("hash", "mlp", "vm"):
        field = build_field(key, "paper", 1.0, **({"resolution": 4} if key == "vm" else {}))
        assert _linear_shapes(field.color_net) == [(31, 64), (64, 64), (64, 3)]
        if key != "vm":
            assert _linear_shapes(field.sigma_net) == [(28, 64), (64, 16)]
    vm = build_field("vm", "paper", 1.0, resolution=4)
    assert _linear_shapes(vm.basis) == [(144, 15)]


def test_mlp_trunk_layout_and_skip():
    field = build_field("mlp", "paper", 1.0)
    shapes = [tuple(m.weight.shape[::-1]) for m in field.trunk]
    assert shapes == [(63, 256), (256, 256), (256, 256), (256, 256), (319, 256), (256, 256), (256, 256), (256, 28)]
    assert all(m.bias is not None for m in field.trunk)


def test_hash_maps_box_to_unit_cube():
    field = build_field("hash", "tiny", 2.0)
    assert isinstance(field, HashField)
    x = torch.rand(64, 3) * 4 - 2
    enc = hash_grid((x + 2.0) / 4.0, field.table, field.offsets, field.resolutions)
    s_raw, h, f = field.raw_density_and_feature(x)
    assert torch.allclose(h, field.sigma_net(enc), atol=1e-6)
    assert torch.equal(s_raw, h[:, 0]) and torch.equal(f, h[:, 1:])


def _vm_reference(field, x):
    """Float64 loop over corners: sum_p plane_p(u, v) * line_p(w) per channel, from the stored factors."""
    res, bound = field.density_planes.shape[-1], field.bound
    pos = ((x.double() + bound) / (2 * bound)).clamp(0, 1) * (res - 1)
    cell = pos.floor().clamp(max=res - 2).long()
    frac = pos - cell

    def interp(planes, lines):
        total = 0.0
        for p, ((u, v), w) in enumerate(zip(PLANE_AXES, LINE_AXES)):
            plane = 0.0
            for du in (0, 1):
                for dv in (0, 1):
                    wt = (frac[:, u] if du else 1 - frac[:, u]) * (frac[:, v] if dv else 1 - frac[:, v])
                    plane = plane + wt[:, None] * planes[p, :, cell[:, v] + dv, cell[:, u] + du].double().t()
            line = sum(
                (frac[:, w] if dw else 1 - frac[:, w])[:, None] * lines[p, :, cell[:, w] + dw, 0].double().t()
                for dw in (0, 1)
            )
            total = total + plane * line
        return total  # [n, rank] summed over pairs

    density = interp(field.density_planes.detach(), field.density_lines.detach()).sum(1)
    return density


def test_vm_plane_line_conventions():
    torch.manual_seed(0)
    field = build_field("vm", "tiny", 1.5, resolution=7, density_rank=3, appearance_rank=2)
    x = torch.rand(200, 3) * 3.4 - 1.7  # some points outside the box: clamped
    s_raw, h, f = field.raw_density_and_feature(x)
    assert torch.allclose(s_raw.double(), _vm_reference(field, x), atol=1e-5)
    assert h.shape == (200, 16) and torch.equal(h[:, 1:], f)


def test_vm_param_groups_and_regularizer():
    field = build_field("vm", "tiny", 1.0, resolution=8)
    groups = field.param_groups(0.02)
    assert [g["lr"] for g in groups] == [0.02, 0.02 * field.config.head_lr_scale]
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in field.parameters())
    expected = sum(t[i].abs().mean() for t in (field.density_planes, field.density_lines) for i in range(3))
    reg = field.regularizer()
    assert torch.allclose(reg, expected)
    reg.backward()
    assert field.density_planes.grad is not None and field.appearance_planes.grad is None
    other = build_field("hash", "tiny", 1.0)
    assert float(other.regularizer()) == 0.0 and len(other.param_groups(0.01)) == 1


def test_tensors_interpolation_is_exact_on_affine_channels():
    field = build_field("tensors", "tiny", 2.0, resolution=3)
    res = field.res
    assert res == 6 and field.grid.shape == (6**3, 28)  # tiny: per unit of bound
    axis = torch.linspace(-2.0, 2.0, res)
    k, j, i = torch.meshgrid(axis, axis, axis, indexing="ij")
    points = torch.stack((i, j, k), dim=-1).reshape(-1, 3)  # row (k * R + j) * R + i
    slopes = torch.randn(3, 28)
    with torch.no_grad():
        field.grid.copy_(points @ slopes + 0.5)
    x = torch.rand(300, 3) * 4.6 - 2.3
    vals = field.interpolate(x)
    assert torch.allclose(vals, x.clamp(-2.0, 2.0) @ slopes + 0.5, atol=1e-4)
    _, _, coeffs = field.raw_density_and_feature(x)
    d = _dirs(300)
    expected = torch.sigmoid((coeffs.view(-1, 3, 9) * sh_encode(d, 3)[:, None, :]).sum(-1))
    assert torch.allclose(field.color(coeffs, d), expected, atol=1e-6)


def test_weighted_gather_gradient():
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(10, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    rows = torch.randint(0, 10, (8, 7), generator=gen)  # [corners, samples]; repeats accumulate
    weights = torch.rand(8, 7, dtype=torch.float64, generator=gen)
    assert torch.autograd.gradcheck(WeightedGather.apply, (table, rows, weights))
    out = WeightedGather.apply(table, rows, weights)
    assert torch.allclose(out, (table[rows] * weights[..., None]).sum(0))


def test_weighted_gather_sparse_gradient_is_the_dense_one_on_the_touched_rows():
    gen = torch.Generator().manual_seed(1)
    table = torch.randn(50, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    rows = torch.randint(10, 30, (8, 40), generator=gen)  # rows 0-9 and 30-49 untouched
    weights = torch.rand(8, 40, dtype=torch.float64, generator=gen)
    upstream = torch.randn(40, 4, dtype=torch.float64, generator=gen)
    (dense,) = torch.autograd.grad(WeightedGather.apply(table, rows, weights, False), table, upstream)
    (sparse,) = torch.autograd.grad(WeightedGather.apply(table, rows, weights, True), table, upstream)
    assert sparse.is_sparse and sparse.is_coalesced()
    assert torch.equal(sparse.indices()[0], rows.unique())  # the touched rows, sorted, once each
    assert torch.allclose(sparse.to_dense(), dense)


def test_tiny_tensors_field_has_a_sparse_gradient_from_a_million_rows_and_the_paper_one_never():
    x = torch.rand(100, 3) * 2 - 1
    for preset, bound, is_sparse in (("tiny", 1.0, False), ("tiny", 2.0, True), ("paper", 1.0, False)):
        field = build_field("tensors", preset, bound)  # 64^3, 128^3, 128^3 rows
        field.density(x).sum().backward()
        assert field.grid.grad.is_sparse is is_sparse, (preset, bound)
