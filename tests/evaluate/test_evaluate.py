"""evaluate_model on an untrained tiny model and an in-memory split (no files, no training)."""

import math

import numpy as np
import pytest
import torch

from pvd.data.cameras import Cameras, Normalization
from pvd.data.poses import look_at
from pvd.data.scene import SceneSplit
from pvd.evaluate.evaluate import evaluate_model, ground_truth_rgb, score_image, summarize
from pvd.metrics import Lpips, LpipsSet, psnr, ssim
from pvd.model import ModelMeta, build_model
from pvd.presets import field_config
from pvd.render import RenderConfig

SIZE = 32


def _cameras(n: int) -> Cameras:
    ang = torch.linspace(0, 2 * math.pi, n + 1)[:n]
    centers = torch.stack([3 * ang.cos(), 3 * ang.sin(), torch.full_like(ang, 1.0)], -1)
    c2w = look_at(centers, torch.zeros(n, 3), torch.tensor([0.0, 0.0, 1.0]))
    f, c = torch.full((n,), 40.0), torch.full((n,), SIZE / 2)
    return Cameras(c2w, f, f, c, c, SIZE, SIZE)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    meta = ModelMeta(
        model_type="hash",
        preset="tiny",
        field_config=field_config("hash", "tiny"),
        render_config=RenderConfig(max_steps=64, grid_resolution=16),
        bound=1.0,
        normalization=Normalization(1.0, 0.8),
        kind="teacher",
        data_type="synthetic",
    )
    return build_model(meta)


def _split(n=3, seed=0, alpha=None):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, SIZE, SIZE, 4, generator=g)
    if alpha is not None:
        images[..., 3] = alpha
    return SceneSplit("test", images, _cameras(n), tuple(f"r_{i}.png" for i in range(n)))


def test_ground_truth_composited_over_white():
    rgba = torch.tensor([[[[0.2, 0.4, 0.6, 0.5]]]])
    torch.testing.assert_close(ground_truth_rgb(rgba), torch.tensor([[[[0.6, 0.7, 0.8]]]]))
    rgb = torch.rand(1, 2, 2, 3)
    assert ground_truth_rgb(rgb) is rgb
    with pytest.raises(ValueError, match="3 or 4 channels"):
        ground_truth_rgb(torch.rand(1, 2, 2, 2))


def test_means_match_per_image_metrics_recomputed_from_the_renders(model):
    split = _split()
    seen = {}
    result = evaluate_model(
        model,
        split,
        "standard",
        lpips=False,
        on_image=lambda v, pred, gt: seen.__setitem__(v, (pred.clone(), gt.clone())),
    )
    assert sorted(seen) == [0, 1, 2]
    gts = ground_truth_rgb(split.images)
    per = [psnr(seen[v][0], gts[v]) for v in range(3)]
    assert [s.psnr for s in result.per_image] == pytest.approx(per, abs=1e-9)
    assert result.psnr == pytest.approx(float(np.mean(per)), abs=1e-9)
    assert result.ssim == pytest.approx(float(np.mean([ssim(seen[v][0], gts[v]) for v in range(3)])), abs=1e-12)
    assert [s.file for s in result.per_image] == list(split.files)
    assert result.fps == pytest.approx(3 / result.render_seconds)
    assert result.lpips_alex is None and "not requested" in result.lpips_unavailable_reason
    d = result.to_dict()
    assert d["n_images"] == 3 and d["split"] == "test" and len(d["per_image"]) == 3
    # rendering is deterministic: the same call gives the same PSNR (what the trainer's record relies on)
    assert evaluate_model(model, split, lpips=False).psnr == result.psnr


def test_white_background_for_render_and_for_transparent_ground_truth(model):
    empty = build_model(model.meta)
    empty.grid.occupancy.fill_(False)  # nothing to hit: every ray shows the background
    split = _split(n=2, alpha=0.0)  # fully transparent ground truth with random colours
    seen = []
    result = evaluate_model(empty, split, lpips=False, on_image=lambda v, pred, gt: seen.append(pred))
    assert torch.equal(seen[0], torch.ones(SIZE, SIZE, 3))
    assert result.psnr == math.inf and result.ssim == pytest.approx(1.0)


def test_ssim_mode_is_applied(model):
    split = _split(n=1, seed=1)
    std = evaluate_model(model, split, "standard", lpips=False)
    compat = evaluate_model(model, split, "pvd-compat", lpips=False)
    assert std.psnr == compat.psnr and compat.ssim_mode == "pvd-compat"
    assert std.ssim != pytest.approx(compat.ssim, abs=1e-6)
    with pytest.raises(ValueError, match="ssim_mode"):
        evaluate_model(model, split, "ms-ssim")


def test_lpips_values_flow_into_scores_and_means():
    nets = LpipsSet({"alex": Lpips("alex", backbone="random")})
    a, b = torch.rand(SIZE, SIZE, 3), torch.rand(SIZE, SIZE, 3)
    s1, s2 = score_image(a, b, "x.png", lpips=nets), score_image(a, a, "y.png", lpips=nets)
    assert s1.lpips_alex > 0 and s2.lpips_alex == pytest.approx(0, abs=1e-7) and s1.lpips_vgg is None
    res = summarize([s1, s2], "test", SIZE, SIZE, "standard", 1.0, None)
    assert res.lpips_alex == pytest.approx((s1.lpips_alex + s2.lpips_alex) / 2) and res.lpips_vgg is None
    assert "lpips_unavailable_reason" not in res.to_dict()
    with pytest.raises(ValueError, match="no images"):
        summarize([], "test", SIZE, SIZE, "standard", 1.0, None)


def test_lpips_for_reports_small_images_and_missing_weights(tmp_path, monkeypatch):
    from pvd.evaluate.evaluate import lpips_for
    from pvd.metrics import lpips as lpips_mod

    assert lpips_for((SIZE, SIZE), torch.device("cpu"), False) == (None, "not requested")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    lpips_mod.clear_cache()
    nets, reason = lpips_for((20, 24), torch.device("cpu"), True)
    lpips_mod.clear_cache()
    assert nets.models == {"alex": None, "vgg": None} and nets.unavailable_reason == reason
    assert "lpips_alex: 24x20 px images are below its 31 px minimum side" in reason
    assert "lpips_vgg" in reason and "vgg16-397923af.pth" in reason
