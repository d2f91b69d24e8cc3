"""Whole-view renders with any renderer (:func:`pvd.render.splat.render_view_output`): ray marching or
splat rasterisation, depth as the distance along each pixel's ray either way."""

from __future__ import annotations

import pytest
import torch

from pvd.data.cameras import NGP_ROTATION, Cameras, Normalization, image_rays
from pvd.model import ModelMeta, build_model
from pvd.presets import field_config, render_config
from pvd.render.splat import ray_length_per_z, render_view_output, splat_camera

NORM = Normalization(rotation=NGP_ROTATION, scale=0.4, offset=(0.1, -0.2, 0.05))


def tilted_camera(width: int = 24, height: int = 18) -> Cameras:
    """One camera 4 world units from the origin, looking at it from above at an angle, off-centre
    principal point and unequal focal lengths."""
    eye = torch.tensor([3.0, -2.0, 2.0])
    forward = -eye / eye.norm()
    right = torch.linalg.cross(forward, torch.tensor([0.0, 0.0, 1.0]))
    right = right / right.norm()
    up = torch.linalg.cross(right, forward)
    c2w = torch.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, up, -forward, eye  # OpenGL axes
    one = lambda v: torch.tensor([float(v)])  # noqa: E731
    return Cameras(c2w[None], one(30.0), one(26.0), one(width / 2 + 1.5), one(height / 2 - 2.0), width, height)


def model_of(arch: str, device: str = "cpu"):
    config = field_config(arch, "tiny")
    if arch == "gs":
        config = config.__class__(n_init=400, index_resolution=16)
    torch.manual_seed(0)
    return build_model(ModelMeta(arch, "tiny", config, render_config("tiny"), 1.0, normalization=NORM), device)


def test_ray_length_per_z_is_one_over_the_cosine_to_the_optical_axis():
    cams = tilted_camera()
    cam = splat_camera(cams, 0, NORM)
    rays = image_rays(cams, 0, NORM)
    cosine = rays.directions @ cam.R[2]  # the camera's +z (OpenCV: looking direction) in the box
    expected = (1 / cosine).reshape(cams.height, cams.width)
    assert torch.allclose(ray_length_per_z(cam), expected, rtol=1e-5)
    assert float(expected.min()) == pytest.approx(1.0, abs=0.02) and float(expected.max()) > 1.1


def test_each_renderer_draws_whole_views_its_own_way():
    cams = tilted_camera()
    bg = torch.tensor([0.2, 0.3, 0.4])
    gs = model_of("gs")
    out = render_view_output(gs.renderer, cams, 0, NORM, bg)
    with torch.no_grad():
        ref = gs.renderer.render_camera(cams, 0, NORM, bg)
    assert out.rgb.shape == (cams.height * cams.width, 3) and out.depth.shape == (cams.height * cams.width,)
    assert torch.equal(out.rgb, ref.rgb.reshape(-1, 3)) and torch.equal(out.depth, ref.depth.reshape(-1))
    assert float(out.opacity.max()) > 0.5  # the view sees the Gaussians
    hashed = model_of("hash")
    out = render_view_output(hashed.renderer, cams, 0, NORM, bg)
    with torch.no_grad():
        ref = hashed.renderer.render_image(image_rays(cams, 0, NORM), bg)
    assert torch.equal(out.rgb, ref.rgb) and torch.equal(out.opacity, ref.opacity)


@pytest.mark.cuda
def test_gsplat_depth_becomes_the_distance_along_the_ray():
    """gsplat's depth is the view-space z; converted, it agrees with the twin's distances."""
    cams = tilted_camera(64, 48)
    model = model_of("gs", "cuda")
    out = render_view_output(model.renderer, cams, 0, NORM, torch.zeros(3, device="cuda"))
    twin = render_view_output(model.to("cpu").renderer, cams, 0, NORM, torch.zeros(3))
    hit = (out.opacity.cpu() > 0.5) & (twin.opacity > 0.5)
    assert hit.float().mean() > 0.2
    distance = out.depth.cpu()[hit] / out.opacity.cpu()[hit]
    expected = twin.depth[hit] / twin.opacity[hit]
    assert float(((distance - expected).abs() / expected).median()) < 0.02


def test_the_viewer_rasterises_gaussian_fields():
    from pvd.view.frames import render_frame

    cams = tilted_camera()
    gs = model_of("gs")
    frame = render_frame(gs, cams, "rgb", torch.device("cpu"))
    with torch.no_grad():
        ref = gs.renderer.render_camera(cams, 0, NORM, torch.ones(3)).rgb
    assert frame.shape == (cams.height, cams.width, 3)
    assert (frame == (ref.clamp(0, 1).numpy() * 255 + 0.5).astype("uint8")).all()
