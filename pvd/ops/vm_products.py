"""Plane x line products of TensoRF's vector-matrix (VM) decomposition, the op behind the ``vm`` field.

Layout contract (shared by the PyTorch twin and the native kernels):

* ``planes``: [3, R, H, W], factor set ``s``'s plane over the axes (u, v) = ``PLANE_AXES[s]`` of
  ``unit``, indexed [v, u] (u along the width W, v along the height H): (xy, xz, yz).
* ``lines``: [3, R, L, 1], factor set ``s``'s line along the axis ``LINE_AXES[s]``: (z, y, x).
* ``unit``: [n, 3] positions in **[-1, 1]^3** (clamped to it), mapped like
  ``F.grid_sample(align_corners=True)``: -1 is the first texel, 1 the last.
* Output: [3, R, n], ``out[s, r, i]`` = bilinear value of ``planes[s, r]`` at point ``i`` times the
  linear value of ``lines[s, r]`` there.

Gradients flow to ``planes`` and ``lines``; the native kernels give none to ``unit`` (TensoRF's
fields never need position gradients), so a ``unit`` that requires grad runs the twin.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from pvd.ops.backend import native_module

PLANE_AXES = ((0, 1), (0, 2), (1, 2))
LINE_AXES = (2, 1, 0)


def _check(planes: Tensor, lines: Tensor, unit: Tensor) -> None:
    """Shapes of the contract above, with the argument's name in the error."""
    if planes.dim() != 4 or planes.shape[0] != 3 or min(planes.shape[2:]) < 2:
        raise ValueError(f"planes must have shape [3, R, H, W] with H, W >= 2, got {tuple(planes.shape)}")
    rank = planes.shape[1]
    if lines.dim() != 4 or lines.shape[:2] != (3, rank) or lines.shape[2] < 2 or lines.shape[3] != 1:
        raise ValueError(f"lines must have shape [3, {rank}, L, 1] with L >= 2, got {tuple(lines.shape)}")
    if unit.dim() != 2 or unit.shape[1] != 3:
        raise ValueError(f"unit must have shape [n, 3], got {tuple(unit.shape)}")


def vm_products_torch(planes: Tensor, lines: Tensor, unit: Tensor) -> Tensor:
    """Pure-PyTorch VM products (the twin and oracle of ``vm_products_fwd``/``_bwd``): two
    ``F.grid_sample`` calls (bilinear on the planes, linear on the lines, align_corners=True).

    Args:
        planes: [3, R, H, W] plane factors.
        lines: [3, R, L, 1] line factors.
        unit: [n, 3] positions in [-1, 1]^3 (clamped to it; gradients flow to it as well).
    Returns:
        [3, R, n] plane value x line value per factor set, channel and point.
    """
    _check(planes, lines, unit)
    n = unit.shape[0]
    unit = unit.clamp(-1.0, 1.0)
    plane_axes = torch.tensor(PLANE_AXES, device=unit.device)  # [3, 2]
    line_axes = torch.tensor(LINE_AXES, device=unit.device)  # [3]
    # contiguous, as the vm field made it before this op existed: grid_sample's backward then sums the
    # plane gradients in the same order (bit-identical training with PVD_BACKEND=torch)
    plane_grid = unit[:, plane_axes].transpose(0, 1)[:, :, None, :].contiguous()  # [3, n, 1, 2] = (u, v)
    along = unit[:, line_axes].t()  # [3, n]
    line_grid = torch.stack((torch.zeros_like(along), along), dim=2)[:, :, None, :]  # [3, n, 1, 2] = (0, w)
    p = F.grid_sample(planes, plane_grid, align_corners=True).view(3, -1, n)
    q = F.grid_sample(lines, line_grid, align_corners=True).view(3, -1, n)
    return p * q


class _VMProductsNative(torch.autograd.Function):
    """``vm_products_fwd`` / ``vm_products_bwd`` of a native build as one differentiable op."""

    @staticmethod
    def forward(ctx, planes: Tensor, lines: Tensor, unit: Tensor, ext) -> Tensor:
        ctx.save_for_backward(planes, lines, unit)
        ctx.ext = ext
        return ext.vm_products_fwd(planes, lines, unit)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        planes, lines, unit = ctx.saved_tensors
        grad_planes, grad_lines = ctx.ext.vm_products_bwd(grad_out.contiguous(), planes, lines, unit)
        return (
            grad_planes if ctx.needs_input_grad[0] else None,
            grad_lines if ctx.needs_input_grad[1] else None,
            None,
            None,
        )


def vm_products(planes: Tensor, lines: Tensor, unit: Tensor) -> Tensor:
    """VM products through the best available backend (see :mod:`pvd.ops.backend`).

    Same arguments and result as :func:`vm_products_torch`; gradients to ``planes`` and ``lines``
    only. float32 CPU/CUDA inputs (and float64 CPU ones) whose ``unit`` needs no gradient run the
    native kernels when they build; anything else runs the twin.
    """
    _check(planes, lines, unit)
    dtype, device = planes.dtype, planes.device
    ext = None
    native_dtype = dtype == torch.float32 or (dtype == torch.float64 and device.type == "cpu")
    same = lines.dtype == dtype and unit.dtype == dtype and lines.device == device and unit.device == device
    if native_dtype and same and not unit.requires_grad:
        ext = native_module(device.type)
    if ext is None:
        return vm_products_torch(planes, lines, unit)
    return _VMProductsNative.apply(planes.contiguous(), lines.contiguous(), unit.contiguous(), ext)
