"""The renderer against closed-form cases: slab transmittance, empty grid, early termination."""

import math

import pytest
import torch
from analytic_fields import BallField, SlabField

from pvd.data.cameras import Cameras, Normalization, Rays, image_rays
from pvd.errors import UserError
from pvd.fields.base import FieldOutput
from pvd.render import OccupancyGrid, RenderConfig, Renderer, Samples, evaluate_field
from pvd.render.compositing import composite_samples, transmittance

WHITE = torch.ones(3)


def _rays(origins, directions):
    d = torch.tensor(directions, dtype=torch.float32)
    return Rays(torch.tensor(origins, dtype=torch.float32), d / d.norm(dim=-1, keepdim=True))


def _orbit_camera(size=24, distance=2.5):
    c2w = torch.eye(4)
    c2w[:3, :3] = torch.tensor([[1.0, 0, 0], [0, math.cos(0.4), -math.sin(0.4)], [0, math.sin(0.4), math.cos(0.4)]])
    c2w[:3, 3] = c2w[:3, :3] @ torch.tensor([0.0, 0.0, distance])
    f = torch.tensor([size * 1.2])
    c = torch.tensor([size / 2])
    return Cameras(c2w[None], f, f, c, c, size, size)


@pytest.mark.parametrize("use_grid", [False, True])
def test_slab_transmittance(use_grid):
    sigma = 2.0
    field = SlabField(sigma, -0.5, 0.5)
    config = RenderConfig(max_steps=1024, grid_resolution=32)
    renderer = Renderer(field, OccupancyGrid(1.0, 32), config)
    if use_grid:
        renderer.update_grid(0, torch.Generator().manual_seed(0))
        assert 0.3 < renderer.grid.occupied_fraction() < 0.7
    # straight through (path length 1) and oblique (1 / cos 30 degrees)
    rays = _rays([[-2.0, 0.1, 0.2], [-2.0, -1.0, -0.3]], [[1, 0, 0], [math.cos(0.5236), math.sin(0.5236), 0]])
    out = renderer.render_rays(rays, WHITE, train=False)
    lengths = torch.tensor([1.0, 1 / math.cos(0.5236)])
    expected_t = torch.exp(-sigma * lengths)
    tol = sigma * renderer.dt_min  # relative: the optical depth is off by at most sigma * dt
    assert torch.allclose(1 - out.opacity, expected_t, rtol=tol, atol=0)
    # red slab over white: rgb = (1, T, T)
    assert torch.allclose(out.rgb[:, 0], torch.ones(2), atol=1e-5)
    assert torch.allclose(out.rgb[:, 1], expected_t, rtol=tol, atol=0)
    weights_sum = torch.zeros(2).index_add(0, out.samples.ray_indices, out.weights)
    assert torch.allclose(weights_sum, out.opacity, atol=1e-6) and (out.opacity <= 1).all()


def test_empty_grid_renders_background():
    field = BallField(sigma=500.0)
    grid = OccupancyGrid(1.0, 16)
    grid.occupancy.zero_()
    renderer = Renderer(field, grid, RenderConfig(max_steps=256, grid_resolution=16))
    rays = image_rays(_orbit_camera(), 0, Normalization())
    bg = torch.rand(len(rays), 3, generator=torch.Generator().manual_seed(3))
    out = renderer.render_rays(rays, bg, train=True, generator=torch.Generator().manual_seed(0))
    assert out.samples.n_samples == 0
    assert torch.equal(out.rgb, bg) and torch.equal(out.opacity, torch.zeros(len(rays)))
    img = renderer.render_image(rays, WHITE)
    assert torch.equal(img.rgb, torch.ones(len(rays), 3))


def test_early_termination_equals_full_render():
    field = BallField(sigma=20.0, radius=0.6)
    config = RenderConfig(max_steps=256, grid_resolution=32, infer_block=8)
    renderer = Renderer(field, OccupancyGrid(1.0, 32), config)
    renderer.update_grid(0, torch.Generator().manual_seed(0))
    rays = image_rays(_orbit_camera(size=32), 0, Normalization())
    full = renderer.render_rays(rays, WHITE, train=False)
    fast = renderer.render_image(rays, WHITE, chunk=300)
    assert full.opacity.max() > 0.999 and full.opacity.min() < 1e-6  # both opaque and empty pixels
    assert (full.samples.samples_per_ray() > 3 * config.infer_block).any()  # several rounds needed
    assert torch.allclose(fast.rgb, full.rgb, atol=1e-3)
    assert torch.allclose(fast.opacity, full.opacity, atol=1e-3)
    assert torch.allclose(fast.depth, full.depth, atol=1e-3)


def test_opaque_ball_depth_and_colour():
    field = BallField(sigma=2000.0, radius=0.5)
    renderer = Renderer(field, OccupancyGrid(1.0, 32), RenderConfig(max_steps=512, grid_resolution=32))
    renderer.update_grid(0)
    rays = _rays([[0.0, 0.0, 3.0], [0.0, 0.9, 3.0]], [[0, 0, -1], [0, 0, -1]])
    out = renderer.render_image(rays, WHITE)
    assert torch.allclose(out.opacity, torch.tensor([1.0, 0.0]), atol=1e-4)
    assert abs(out.depth[0].item() - 2.5) < renderer.dt_min
    assert torch.allclose(out.rgb[0], torch.tensor([0.5, 0.5, 0.75]), atol=0.01)  # (x + 1) / 2 at z = 0.5
    assert torch.allclose(out.rgb[1], WHITE)


def test_reproducible_jitter():
    renderer = Renderer(BallField(5.0), OccupancyGrid(1.0, 16), RenderConfig(max_steps=128, grid_resolution=16))
    rays = image_rays(_orbit_camera(size=8), 0, Normalization())
    a = renderer.march(rays, train=True, generator=torch.Generator().manual_seed(7))
    b = renderer.march(rays, train=True, generator=torch.Generator().manual_seed(7))
    c = renderer.march(rays, train=True, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a.t, b.t) and torch.equal(a.ray_indices, b.ray_indices)
    assert not torch.equal(a.t, c.t)
    mid = renderer.march(rays, train=False)
    assert not torch.equal(a.t, mid.t)


def test_one_march_two_fields():
    teacher, student = BallField(30.0), BallField(3.0, radius=0.7)
    renderer = Renderer(teacher, OccupancyGrid(1.0, 16), RenderConfig(max_steps=128, grid_resolution=16))
    rays = image_rays(_orbit_camera(size=8), 0, Normalization())
    samples = renderer.march(rays, train=True, generator=torch.Generator().manual_seed(0))
    out_t = renderer.composite(samples, evaluate_field(teacher, samples), WHITE)
    out_s = renderer.composite(samples, evaluate_field(student, samples), WHITE)
    assert out_t.samples is out_s.samples
    assert not torch.allclose(out_t.rgb, out_s.rgb)
    ((out_t.rgb - out_s.rgb) ** 2).sum().backward()
    assert student.log_sigma.grad is not None and student.log_sigma.grad != 0
    with pytest.raises(ValueError, match="does not match"):
        renderer.composite(samples, evaluate_field(teacher, renderer.march(rays[:10], train=False)), WHITE)


def test_empty_keep_ratio_samples_pruned_cells_in_training_only():
    field = BallField(100.0, radius=0.2)
    config = RenderConfig(max_steps=128, grid_resolution=16, empty_keep_ratio=0.2)
    renderer = Renderer(field, OccupancyGrid(1.0, 16), config)
    renderer.update_grid(0)
    rays = _rays([[0.0, 0.7, 3.0]] * 64, [[0, 0, -1]] * 64)  # misses the ball, crosses empty cells
    assert renderer.march(rays, train=False).n_samples == 0
    samples = renderer.march(rays, train=True, generator=torch.Generator().manual_seed(0))
    full = Renderer(field, OccupancyGrid(1.0, 16), config).march(rays, train=False).n_samples
    assert 0.1 < samples.n_samples / full < 0.3


def test_warmup_config_and_bound_mismatch():
    field = BallField(100.0, radius=0.2)
    renderer = Renderer(field, OccupancyGrid(1.0, 8), RenderConfig(grid_resolution=8, prune_warmup=100))
    renderer.update_grid(0)
    assert renderer.grid.occupancy.all()
    with pytest.raises(UserError, match="bound"):
        Renderer(field, OccupancyGrid(2.0, 8))


def test_render_config_validation_and_dict_round_trip():
    cfg = RenderConfig(dt_gamma=0.003, max_steps=256, max_samples=64, empty_keep_ratio=0.05)
    assert RenderConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.samples_cap == 64 and RenderConfig().samples_cap == 1024
    with pytest.raises(UserError, match="max_steps"):
        RenderConfig(max_steps=0)
    with pytest.raises(UserError, match="empty_keep_ratio"):
        RenderConfig(empty_keep_ratio=1.5)
    with pytest.raises(UserError, match="unknown keys"):
        RenderConfig.from_dict({"dt_gama": 0.1})


class _NoEmptyBatchBall(BallField):
    """A field that cannot run on zero points (as some reshaping networks cannot)."""

    def raw_density_and_feature(self, x):
        if x.shape[0] == 0:
            raise RuntimeError("empty batch")
        return super().raw_density_and_feature(x)


def test_no_samples_still_backpropagates():
    field = _NoEmptyBatchBall(30.0)
    grid = OccupancyGrid(1.0, 8)
    grid.occupancy.zero_()
    renderer = Renderer(field, grid, RenderConfig(max_steps=64, grid_resolution=8))
    rays = _rays([[0.0, 0.0, 3.0]], [[0, 0, -1]])
    out = renderer.render_rays(rays, WHITE, train=True, generator=torch.Generator().manual_seed(0))
    assert out.samples.n_samples == 0 and out.rgb.requires_grad
    ((out.rgb - 0.5) ** 2).sum().backward()
    assert field.log_sigma.grad is not None and float(field.log_sigma.grad) == 0.0


def test_transmittance_and_select_match_the_composite_weights():
    torch.manual_seed(0)
    ray_indices = torch.tensor([0, 0, 0, 2, 2, 3, 3, 3, 3])  # ray 1 has no samples
    n = len(ray_indices)
    samples = Samples(
        torch.rand(n, 3), torch.rand(n, 3), torch.rand(n).cumsum(0), torch.rand(n) * 0.5, ray_indices, n_rays=4
    )
    sigma = torch.tensor([0.5, 3.0, 40.0, 0.1, 0.2, 100.0, 100.0, 1.0, 1.0])
    trans = transmittance(sigma, samples)
    alpha = 1 - torch.exp(-sigma * samples.deltas)
    out = FieldOutput(s=sigma.log(), sigma=sigma, rgb=torch.rand(n, 3), h=None)
    weights = composite_samples(samples, out, torch.ones(3)).weights
    torch.testing.assert_close(trans * alpha, weights, rtol=1e-5, atol=1e-7)
    assert trans[[0, 3, 5]].tolist() == [1.0, 1.0, 1.0]  # each ray's first sample
    keep = trans >= 1e-3
    assert keep.tolist()[:5] == [True] * 5 and not keep[7:].any()  # behind two opaque samples
    kept, kept_out = samples.select(keep), out.select(keep)
    assert kept.n_samples == kept_out.sigma.shape[0] == int(keep.sum()) and kept.n_rays == 4
    assert torch.equal(kept.ray_indices, ray_indices[keep])
    # dropping hidden samples changes the rendered colour by less than the cut-off
    full = composite_samples(samples, out, torch.ones(3)).rgb
    culled = composite_samples(kept, kept_out, torch.ones(3)).rgb
    assert (full - culled).abs().max() < 1e-3 * 2
