import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from pvd.metrics import ssim, ssim_map

SK = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, K1=0.01, K2=0.03)


def _pair(seed, h=40, w=33, c=3):
    rng = np.random.default_rng(seed)
    gt = rng.random((h, w, c))
    # a smooth image plus structured noise: realistic SSIM values well away from 0 and 1
    yy, xx = np.mgrid[0:h, 0:w]
    gt = 0.5 * gt + 0.5 * (0.5 + 0.5 * np.sin(xx[..., None] / 4.0 + yy[..., None] / 7.0 + np.arange(c)))
    pred = np.clip(gt + 0.08 * rng.standard_normal(gt.shape), 0, 1)
    return pred, gt


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_standard_matches_skimage_valid_region(seed):
    pred, gt = _pair(seed)
    ref = structural_similarity(pred, gt, data_range=1.0, channel_axis=-1, **SK)
    # skimage filters with reflect padding and crops (win-1)/2 = 5 pixels from every border before
    # averaging: exactly the positions of tf.image.ssim's 'valid' filtering.
    assert ssim(pred, gt) == pytest.approx(ref, abs=1e-6)
    assert ssim_map(pred, gt).shape == (3, 40 - 10, 33 - 10)


def test_standard_on_grayscale_and_tensors():
    pred, gt = _pair(3, c=1)
    ref = structural_similarity(pred[..., 0], gt[..., 0], data_range=1.0, **SK)
    assert ssim(torch.from_numpy(pred[..., 0]), torch.from_numpy(gt[..., 0])) == pytest.approx(ref, abs=1e-4)


@pytest.mark.parametrize("seed", [4, 5])
def test_pvd_compat_matches_skimage_on_zero_padded_images(seed):
    pred, gt = _pair(seed)
    pred, gt = pred * 0.5, gt * 0.6  # data range 0.6, not 1: max(pred, gt) must be used
    rng_max = max(pred.max(), gt.max())
    pad = ((5, 5), (5, 5), (0, 0))
    _, smap = structural_similarity(
        np.pad(pred, pad), np.pad(gt, pad), data_range=rng_max, channel_axis=-1, full=True, **SK
    )
    # 'same' filtering with zero padding == filtering the zero-padded image at the interior positions,
    # whose windows never reach skimage's reflected border.
    ref = smap[5:-5, 5:-5].mean()
    assert ssim(pred, gt, mode="pvd-compat") == pytest.approx(ref, abs=1e-6)
    assert ssim_map(pred, gt, mode="pvd-compat").shape == (3, 40, 33)


def test_properties_and_modes_differ_on_white_borders():
    pred, gt = _pair(6)
    assert ssim(gt, gt) == pytest.approx(1.0, abs=1e-12)
    assert ssim(pred, gt) == pytest.approx(ssim(gt, pred), abs=1e-12)
    noisier = np.clip(gt + 0.3 * np.random.default_rng(7).standard_normal(gt.shape), 0, 1)
    assert ssim(noisier, gt) < ssim(pred, gt) < 1.0
    white = np.ones_like(gt)
    # identical images score 1 in both modes, zero-padded borders included
    assert ssim(white, white, mode="pvd-compat") == pytest.approx(1.0, abs=1e-12)
    assert ssim(pred, gt, mode="pvd-compat") != pytest.approx(ssim(pred, gt), abs=1e-4)


def test_errors():
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(np.zeros((10, 20, 3)), np.zeros((10, 20, 3)))
    with pytest.raises(ValueError, match="mode"):
        ssim(np.zeros((20, 20)), np.zeros((20, 20)), mode="ms-ssim")
