"""The gs field: parameters, point queries through the index (vs brute force), volume vs splat
rendering, resizing state dicts and checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from pvd.data.cameras import Cameras, Normalization, image_rays
from pvd.errors import UserError
from pvd.fields import GSConfig, GSField, make_field
from pvd.fields.gs import CUTOFF2, density_weights
from pvd.model import ModelMeta, build_model, load_model, save_checkpoint
from pvd.ops.splat import quat_to_rotmat
from pvd.render import RenderConfig


def random_field(n: int = 300, seed: int = 0) -> GSField:
    torch.manual_seed(seed)
    field = make_field("gs", GSConfig(n_init=n, index_resolution=16), bound=1.0)
    with torch.no_grad():
        field.log_scales.copy_(torch.log(0.02 + 0.08 * torch.rand(n, 3)))
        field.quats.copy_(torch.randn(n, 4))
        field.opacity_logits.copy_(torch.randn(n))
        field.sh_rest.copy_(0.2 * torch.randn_like(field.sh_rest))
    return field


def brute_force(field: GSField, x: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """O(n) density and colour at every point: the definition of the module doc."""
    g = field.gaussians()
    rot = quat_to_rotmat(g.quats)  # [n, 3, 3]
    local = torch.einsum("nji,pnj->pni", rot, x[:, None, :] - g.means[None]) / g.scales[None]
    m2 = (local * local).sum(-1)  # [p, n]
    w = density_weights(g.opacities, g.scales)[None] * torch.exp(-0.5 * m2) * (m2 < CUTOFF2)
    sigma = w.sum(1)
    k = g.sh.shape[1]
    from pvd.ops.sh import sh_encode

    basis = sh_encode(d, int(math.isqrt(k)))  # [p, k]
    colors = torch.einsum("pk,nkc->pnc", basis, g.sh) + 0.5  # [p, n, 3]
    rgb = (w[..., None] * colors).sum(1) / sigma.clamp_min(1e-12)[:, None]
    return sigma, rgb.clamp(0, 1)


def test_point_queries_through_the_index_equal_brute_force():
    field = random_field()
    gen = torch.Generator().manual_seed(1)
    x = torch.cat([field.means.detach()[:50] + 0.03 * torch.randn(50, 3, generator=gen), torch.rand(200, 3) * 2 - 1])
    d = torch.nn.functional.normalize(torch.randn(len(x), 3, generator=gen), dim=-1)
    out = field(x, d)
    sigma, rgb = brute_force(field, x, d)
    assert float(sigma.detach().max()) > 10.0  # points inside Gaussians are dense
    lo, hi = field.density_range
    assert torch.allclose(out.s, torch.log(sigma.clamp_min(1e-12)).clamp(lo, hi), atol=1e-4)
    hit = sigma > 1e-3
    assert torch.allclose(out.rgb[hit], rgb[hit], atol=1e-4)
    assert out.h is None and not field.has_feature
    # the index lists far fewer candidates than n per point
    point, _ = field.index().pairs(x)
    assert point.numel() < 0.25 * len(x) * len(field)


def test_gaussians_widened_to_min_thickness_are_found_beyond_their_own_box():
    """The index lists the Gaussians as the queries widen them: a thin Gaussian raised to
    ``min_thickness`` reaches cells its own 3-sigma box does not (those points lost it before)."""
    torch.manual_seed(4)
    thin = make_field("gs", GSConfig(n_init=100, index_resolution=64, min_thickness=0.05), bound=1.0)
    wide = make_field("gs", GSConfig(n_init=100, index_resolution=64), bound=1.0)
    with torch.no_grad():
        thin.log_scales.fill_(math.log(0.004))
        wide.load_state_dict(thin.state_dict())
        wide.log_scales.fill_(math.log(0.05))  # what the queries of `thin` see
        d = torch.nn.functional.normalize(torch.randn(400, 3), dim=-1)
        x = thin.means[torch.arange(400) % 100] + 0.08 * d  # 1.6 sigma out: far outside the thin boxes
        got, want = thin.raw_density_and_feature(x)[0], wide.raw_density_and_feature(x)[0]
    assert float(want.exp().min()) > 1e-3
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_density_is_differentiable_and_the_index_follows_parameter_changes():
    field = random_field(50)
    x = field.means.detach()[:5].clone()
    field.density(x).sum().backward()
    assert field.means.grad is not None and field.opacity_logits.grad.abs().sum() > 0
    with torch.no_grad():
        before = field.density(x)
        field.means.add_(0.5)  # moved: the index is rebuilt
        after = field.density(x)
        lo, hi = field.density_range
        expected = brute_force(field, x, x)[0].clamp_min(1e-12).log().clamp(lo, hi).exp()
    assert not torch.allclose(before, after) and torch.allclose(after, expected, rtol=1e-4)


def test_volume_render_of_a_face_on_flat_gaussian_matches_its_splat():
    """The density scale: a flat Gaussian seen face-on through its centre absorbs its opacity."""
    field = make_field("gs", GSConfig(n_init=1, sh_degree=0), bound=1.0)
    with torch.no_grad():
        field.means.zero_()
        field.log_scales.copy_(torch.log(torch.tensor([[0.2, 0.2, 0.005]])))
        field.opacity_logits.fill_(math.log(0.7 / 0.3))
    # a low density floor: the default clamp's exp(-2) everywhere would add its own opacity
    meta = ModelMeta("gs", "tiny", field.config, RenderConfig(max_steps=4096, grid_resolution=32), 1.0, (-12.0, 7.0))
    model = build_model(meta)
    model.field.load_state_dict(field.state_dict())
    c2w = torch.eye(4)
    c2w[2, 3] = 3.0  # on +z looking down -z (OpenGL)
    cams = Cameras(
        c2w[None], torch.tensor([60.0]), torch.tensor([60.0]), torch.tensor([16.0]), torch.tensor([16.0]), 32, 32
    )
    splat = model.renderer.render_camera(cams, 0, Normalization(), torch.ones(3))
    model.grid.occupancy.fill_(True)
    rays = image_rays(cams, 0, Normalization())
    volume = model.renderer.render_image(rays, torch.ones(3)).opacity.reshape(32, 32)
    assert splat.opacity[15:17, 15:17].mean().item() == pytest.approx(0.7, abs=0.03)
    assert volume[15:17, 15:17].mean().item() == pytest.approx(0.7, abs=0.03)
    assert float((splat.opacity - volume).detach().abs().mean()) < 0.02


def test_state_dicts_of_another_size_load_and_checkpoints_round_trip(tmp_path):
    field = random_field(40)
    meta = ModelMeta("gs", "tiny", field.config, RenderConfig(grid_resolution=16), 1.0)
    model = build_model(meta)
    grown = {k: torch.cat([v, v[:7]]) if v.dim() and v.shape[0] == 40 else v for k, v in field.state_dict().items()}
    model.field.load_state_dict(grown)
    assert len(model.field) == 47
    save_checkpoint(tmp_path / "c.pt", model)
    back = load_model(tmp_path / "c.pt")
    for k, v in model.field.state_dict().items():
        assert torch.equal(back.field.state_dict()[k], v), k
    assert back.field.degree == model.field.degree == 3


def test_bad_configs_and_parameters_are_named():
    with pytest.raises(UserError, match="gs field config: sh_degree"):
        GSConfig(sh_degree=4)
    field = random_field(10)
    with pytest.raises(UserError, match="sh_rest must have shape"):
        field.set_from(
            {
                **{k: getattr(field, k).detach() for k in ("means", "log_scales", "quats")},
                "opacity_logits": field.opacity_logits.detach(),
                "sh_dc": field.sh_dc.detach(),
                "sh_rest": torch.zeros(10, 3, 3),
            }
        )
