"""Real spherical-harmonics direction encoding (bands 0..n_bands-1, n_bands^2 outputs).

``d``: [n, 3] unit directions -> [n, n_bands^2], the usual real SH basis ordering
(band-major, m from -l to l) with the constants used by Instant-NGP / Plenoxels.
Supports ``n_bands`` in 1..4 (1, 4, 9, 16 outputs).
"""

from __future__ import annotations

import torch
from torch import Tensor

from pvd.ops.backend import native_module

C0 = 0.28209479177387814
C1 = 0.4886025119029199
C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)


def sh_encode_torch(d: Tensor, n_bands: int) -> Tensor:
    """Pure-PyTorch SH basis; the twin of ``sh_encode_fwd``. [n, 3] -> [n, n_bands**2]."""
    if not 1 <= n_bands <= 4:
        raise ValueError(f"n_bands must be in 1..4, got {n_bands}")
    x, y, z = d.unbind(-1)
    out = [torch.full_like(x, C0)]
    if n_bands > 1:
        out += [-C1 * y, C1 * z, -C1 * x]
    if n_bands > 2:
        xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
        out += [C2[0] * xy, C2[1] * yz, C2[2] * (2 * zz - xx - yy), C2[3] * xz, C2[4] * (xx - yy)]
    if n_bands > 3:
        out += [
            C3[0] * y * (3 * xx - yy),
            C3[1] * xy * z,
            C3[2] * y * (4 * zz - xx - yy),
            C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
            C3[4] * x * (4 * zz - xx - yy),
            C3[5] * z * (xx - yy),
            C3[6] * x * (xx - 3 * yy),
        ]
    return torch.stack(out, dim=-1)


class _ShEncodeNative(torch.autograd.Function):
    """``sh_encode_fwd`` / ``sh_encode_bwd`` of a native build as one differentiable op."""

    @staticmethod
    def forward(ctx, d: Tensor, n_bands: int, ext) -> Tensor:
        ctx.save_for_backward(d)
        ctx.n_bands, ctx.ext = n_bands, ext
        return ext.sh_encode_fwd(d, n_bands)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        (d,) = ctx.saved_tensors
        return ctx.ext.sh_encode_bwd(grad_out.contiguous(), d, ctx.n_bands), None, None


def sh_encode(d: Tensor, n_bands: int) -> Tensor:
    """SH encoding through the best available backend (see :mod:`pvd.ops.backend`).

    Same arguments, result and gradient as :func:`sh_encode_torch`; float32 CPU/CUDA directions run
    the native kernels when they build, anything else runs the twin.
    """
    ext = None
    if d.dtype == torch.float32 and d.dim() >= 1 and d.shape[-1] == 3 and 1 <= n_bands <= 4:
        ext = native_module(d.device.type)
    if ext is None:
        return sh_encode_torch(d, n_bands)
    if d.dim() == 2:
        return _ShEncodeNative.apply(d.contiguous(), n_bands, ext)
    out = _ShEncodeNative.apply(d.reshape(-1, 3).contiguous(), n_bands, ext)
    return out.view(*d.shape[:-1], n_bands * n_bands)
