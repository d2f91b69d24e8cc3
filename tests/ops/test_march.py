"""Ray marching: closed-form step rule, full traversal, caps and continuation."""

import math

import pytest
import torch

from pvd.ops.march import StepRule, cell_index, march, march_torch


def _loop_boundaries(t0, n, dt_min, dt_max, gamma):
    out, t = [t0], t0
    for _ in range(n):
        t += min(max(t * gamma, dt_min), dt_max)
        out.append(t)
    return out


@pytest.mark.parametrize("t0", [0.2, 1.5, 4.0])
def test_step_rule_matches_stepping_loop(t0):
    dt_min, dt_max, gamma = 0.01, 0.1, 0.02
    rule = StepRule(dt_min, dt_max, gamma)
    ref = torch.tensor(_loop_boundaries(t0, 400, dt_min, dt_max, gamma), dtype=torch.float64)
    got = rule.boundaries(torch.tensor([[t0]], dtype=torch.float64), torch.arange(401, dtype=torch.float64))[0]
    assert torch.allclose(got, ref, rtol=1e-9, atol=1e-9)
    for stop in (t0 + 0.005, t0 + 0.3, t0 + 2.7, t0 + 9.0):
        n = int(rule.count(torch.tensor([t0], dtype=torch.float64), torch.tensor([stop], dtype=torch.float64)))
        assert ref[n] >= stop - 1e-12 and ref[n - 1] < stop


def _rays_along_x(n=3):
    origins = torch.tensor([[-1.0, -0.3, 0.1], [-1.0, 0.2, 0.6], [-1.0, 0.0, 0.0]])[:n]
    return origins, torch.tensor([[1.0, 0.0, 0.0]]).expand(n, 3).contiguous()


def test_full_grid_spans_near_far_with_expected_step():
    origins, directions = _rays_along_x()
    near = torch.tensor([0.3, 0.0, 0.7])
    far = torch.tensor([1.7, 2.0, 1.9])
    dt = 2 * math.sqrt(3) / 128
    occ = torch.ones(1, 16, 16, 16, dtype=torch.bool)
    ray_indices, t, deltas, t_end = march(
        origins, directions, near, far, torch.full((3,), 0.5), occ, 1.0, dt, dt, 0.0, 10_000, 10_000
    )
    assert torch.equal(t_end, far)
    for r in range(3):
        sel = ray_indices == r
        n_expected = math.ceil((far[r] - near[r]).item() / dt)
        assert int(sel.sum()) == n_expected
        assert torch.allclose(deltas[sel][:-1], torch.full((n_expected - 1,), dt), atol=1e-6)
        assert torch.isclose(deltas[sel].sum(), far[r] - near[r], atol=1e-5)
        assert torch.isclose(t[sel][0], near[r] + dt / 2, atol=1e-6)
        assert torch.allclose(t[sel][1:-1].diff(), torch.full((n_expected - 3,), dt), atol=1e-5)
        assert t[sel][-1] < far[r]
    assert torch.equal(ray_indices, ray_indices.sort().values)


def test_empty_cells_are_skipped_and_cap_and_continuation():
    origins, directions = _rays_along_x()
    near, far = torch.zeros(3), torch.full((3,), 2.0)
    occ = torch.zeros(1, 8, 8, 8, dtype=torch.bool)
    occ[0, 2:6] = True  # x in [-0.5, 0.5)
    args = (origins, directions, near, far, torch.full((3,), 0.3), occ, 1.0, 0.01, 0.05, 0.0)
    ray_indices, t, deltas, t_end = march_torch(*args, 10_000, 10_000)
    x = origins[ray_indices, 0] + t
    assert (x >= -0.5).all() and (x < 0.5).all()
    assert ray_indices.numel() == 3 * 100
    # cap at 7 samples, then continue from t_end until done: same samples as one full march
    parts_t, t0 = [], near.clone()
    for _ in range(40):
        ri, tt, _, te = march_torch(
            origins, directions, t0, far, torch.full((3,), 0.3), occ, 1.0, 0.01, 0.05, 0.0, 7, 10_000
        )
        assert torch.bincount(ri, minlength=3).max() <= 7
        parts_t.append((ri, tt))
        t0 = te
        if (t0 >= far).all():
            break
    ri = torch.cat([p[0] for p in parts_t])
    tt = torch.cat([p[1] for p in parts_t])
    order = torch.argsort(ri * 10 + tt, stable=True)
    assert torch.allclose(tt[order], t, atol=1e-5)


def test_window_limit_and_geometric_steps():
    origins = torch.tensor([[0.0, 0.0, -3.0]])
    directions = torch.tensor([[0.0, 0.0, 1.0]])
    occ = torch.ones(2, 8, 8, 8, dtype=torch.bool)
    near, far = torch.tensor([1.0]), torch.tensor([5.0])
    full = march_torch(origins, directions, near, far, torch.zeros(1), occ, 2.0, 0.01, 0.2, 0.05, 10_000, 10_000)
    ref = _loop_boundaries(1.0, 200, 0.01, 0.2, 0.05)
    n = next(i for i, b in enumerate(ref) if b >= 5.0)
    assert full[0].numel() == n
    assert torch.allclose(full[1], torch.tensor(ref[:n]), atol=1e-4)
    part = march_torch(origins, directions, near, far, torch.zeros(1), occ, 2.0, 0.01, 0.2, 0.05, 10_000, 10)
    assert part[0].numel() == 10 and torch.isclose(part[3][0], torch.tensor(ref[10]), atol=1e-5)


def test_cell_index_uses_finest_cascade():
    x = torch.tensor([[0.5, 0.0, 0.0], [1.5, 0.0, 0.0], [-1.99, 1.99, 0.0]])
    idx = cell_index(x, 2.0, 2, 4)
    r3 = 4**3
    assert idx[0] == (3 * 4 + 2) * 4 + 2  # cascade 0, cell size 0.5
    assert idx[1] == r3 + (3 * 4 + 2) * 4 + 2  # cascade 1, cell size 1.0
    assert idx[2] == r3 + (0 * 4 + 3) * 4 + 2


@pytest.mark.parametrize("resolution", [16, 256])  # 2 * 256^3 cells exceed float32's exact integers
def test_cell_index_matches_direct_formula(resolution):
    x = torch.rand(2000, 3, generator=torch.Generator().manual_seed(0)) * 4 - 2
    level = torch.ceil(torch.log2(x.abs().amax(-1))).clamp(0, 1)
    extent = torch.exp2(level).clamp(max=2.0)
    ijk = ((x / extent[:, None] + 1) * resolution / 2).floor().clamp(0, resolution - 1).long()
    expected = level.long() * resolution**3 + (ijk[:, 0] * resolution + ijk[:, 1]) * resolution + ijk[:, 2]
    assert torch.equal(cell_index(x, 2.0, 2, resolution), expected)
