import math

import numpy as np
import pytest
import torch

from pvd.metrics import mse, psnr, psnr_from_mse, summarize_psnr


def test_closed_form_constant_offset():
    gt = np.zeros((8, 6, 3))
    # a uniform error of 0.1 gives MSE 0.01 -> 20 dB exactly
    assert psnr(gt + 0.1, gt) == pytest.approx(20.0, abs=1e-9)
    # error 0.5 on one channel of three: MSE 0.25/3
    pred = gt.copy()
    pred[..., 1] = 0.5
    assert psnr(pred, gt) == pytest.approx(-10 * math.log10(0.25 / 3), abs=1e-9)


def test_identical_images_are_infinite_and_inputs_may_be_tensors():
    img = torch.rand(5, 7, 3)
    assert psnr(img, img.clone()) == math.inf
    assert mse(img, img + 0.2) == pytest.approx(0.04, rel=1e-6)


def test_summary_mean_of_psnr_vs_psnr_of_mean_mse():
    s = summarize_psnr([0.01, 0.0001])
    assert s.per_image == pytest.approx((20.0, 40.0))
    assert s.mean_psnr == pytest.approx(30.0)
    assert s.psnr_of_mean_mse == pytest.approx(-10 * math.log10(0.00505))
    assert s.psnr_of_mean_mse < s.mean_psnr


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))
    with pytest.raises(ValueError, match="pred"):
        psnr(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="non-negative"):
        psnr_from_mse(-1.0)
    with pytest.raises(ValueError, match="at least one"):
        summarize_psnr([])
