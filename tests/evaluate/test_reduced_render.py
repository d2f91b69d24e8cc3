"""Reduced-size renders for the learning-curve probe and the stopping rule's monitor
(:func:`pvd.evaluate.probe.reduced_render`): splats are drawn at full size and area-averaged."""

from __future__ import annotations

import math

import numpy as np
import torch

from pvd.data import load_split, scene_normalization
from pvd.data.images import area_downscale
from pvd.evaluate.evaluate import render_view
from pvd.evaluate.probe import probe_cameras, reduced_render
from pvd.metrics import mse, psnr_from_mse
from pvd.model import ModelMeta, build_model
from pvd.presets import field_config, render_config

CPU = torch.device("cpu")


def model_of(arch: str, scene):
    """A ``tiny`` model of ``arch`` on the demo scene's box; a gs model gets 3000 small opaque
    Gaussians (0.004 box units: well under a pixel of the 4x reduced views of the 32 px test scene)."""
    train = load_split(scene, "synthetic", "train", 1)
    norm = scene_normalization(train, "synthetic", 1.0, 0.8)
    config = field_config(arch, "tiny")
    if arch == "gs":
        config = config.__class__(n_init=3000, sh_degree=0, index_resolution=16)
    torch.manual_seed(0)
    model = build_model(ModelMeta(arch, "tiny", config, render_config("tiny"), 1.0, normalization=norm))
    if arch == "gs":
        with torch.no_grad():
            model.field.means.mul_(0.5)
            model.field.log_scales.fill_(math.log(0.004))
            model.field.opacity_logits.fill_(2.0)
    return model, load_split(scene, "synthetic", "test", 1)


def test_splats_are_drawn_at_full_size_and_area_averaged(demo_scene):
    model, test = model_of("gs", demo_scene)
    views, factor, cams = probe_cameras(test.cameras, 2, 8)
    full = test.cameras[views]
    assert factor == 4
    for i in range(len(views)):
        got = reduced_render(model, cams, full, factor, i, CPU)
        want = torch.from_numpy(area_downscale(render_view(model, full, i, CPU).numpy(), factor))
        assert got.shape == (cams.height, cams.width, 3) and torch.equal(got, want)
        # why: drawn at the reduced size, every splat is widened to the rasteriser's minimum size
        direct = render_view(model, cams, i, CPU)
        assert psnr_from_mse(mse(direct, want)) < 25.0


def test_volume_fields_are_rendered_at_the_reduced_size(demo_scene):
    model, test = model_of("hash", demo_scene)
    views, factor, cams = probe_cameras(test.cameras, 2, 8)
    for i in range(len(views)):
        got = reduced_render(model, cams, test.cameras[views], factor, i, CPU)
        assert torch.equal(got, render_view(model, cams, i, CPU).cpu())
        assert np.isfinite(got.numpy()).all()
