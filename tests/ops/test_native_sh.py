"""Native SH encoding against the PyTorch twin, forward and backward (to the directions).

Tolerances: forward rtol 1e-5 / atol 1e-6; backward rtol 1e-4 / atol 1e-5 (the twin's autograd
and the closed-form derivative sum the same terms in a different order).
"""

from __future__ import annotations

import pytest
import torch

from pvd.ops import backend
from pvd.ops.sh import sh_encode, sh_encode_torch

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.fixture(scope="module", autouse=True)
def _native(native_build):
    """Every test here needs the CPU build (the fixture in conftest.py)."""
    return native_build


def _directions(n, device, unit=True, seed=0):
    d = torch.randn(n, 3, generator=torch.Generator().manual_seed(seed))
    d = torch.cat([d, torch.eye(3), -torch.eye(3)])  # the axes, where several terms vanish
    return (torch.nn.functional.normalize(d, dim=-1) if unit else d * 3).to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n_bands", [1, 2, 3, 4])
@pytest.mark.parametrize("unit", [True, False])
def test_matches_twin_forward_and_backward(device, n_bands, unit):
    d = _directions(2000, device, unit)
    grad_out = torch.randn(d.shape[0], n_bands**2, generator=torch.Generator().manual_seed(1)).to(device)
    mine = d.clone().requires_grad_(True)
    out = sh_encode(mine, n_bands)
    assert "ShEncodeNative" in type(out.grad_fn).__name__, "the native path did not run"
    (out * grad_out).sum().backward()
    ref_in = d.clone().requires_grad_(True)
    ref = sh_encode_torch(ref_in, n_bands)
    torch.testing.assert_close(out.detach(), ref.detach(), rtol=1e-5, atol=1e-6)
    if n_bands == 1:  # the twin's constant band carries no graph; its gradient is zero
        torch.testing.assert_close(mine.grad, torch.zeros_like(d))
        return
    (ref * grad_out).sum().backward()
    torch.testing.assert_close(mine.grad, ref_in.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_empty_and_strided_directions(device):
    assert sh_encode(torch.zeros(0, 3, device=device), 4).shape == (0, 16)
    wide = _directions(300, device).repeat(1, 2)[:, ::2]
    torch.testing.assert_close(sh_encode(wide, 4), sh_encode_torch(wide, 4), rtol=1e-5, atol=1e-6)
    batched = _directions(23, device)[:24].view(2, 4, 3, 3).requires_grad_(True)  # leading dims
    out = sh_encode(batched, 3)
    assert out.shape == (2, 4, 3, 9) and "ShEncodeNative" in type(out.grad_fn.next_functions[0][0]).__name__
    torch.testing.assert_close(out, sh_encode_torch(batched, 3), rtol=1e-5, atol=1e-6)


def test_invalid_bands_and_dtypes_follow_the_twin():
    d = _directions(4, "cpu")
    with pytest.raises(ValueError, match="n_bands must be in 1..4"):
        sh_encode(d, 5)
    out = sh_encode(d.double().requires_grad_(True), 4)
    assert out.dtype == torch.float64 and "ShEncodeNative" not in type(out.grad_fn).__name__
    with pytest.raises(RuntimeError, match="n_bands must be in 1..4"):
        backend.native_module("cpu").sh_encode_fwd(d, 0)
