"""Front-to-back alpha compositing of packed samples (differentiable).

For the samples of one ray in front-to-back order: ``alpha_i = 1 - exp(-sigma_i * delta_i)``,
exclusive transmittance ``T_i = exp(-sum_{j<i} sigma_j * delta_j)``, weight ``w_i = alpha_i * T_i``.
Per ray: ``rgb = sum w_i c_i``, ``depth = sum w_i t_i``, ``opacity = sum w_i = 1 - T_end``.
The background blend ``rgb + (1 - opacity) * bg`` is left to the caller.

Layout contract (shared by the PyTorch twin and any native kernel):

* ``sigmas`` [m] density (1 / box unit), ``rgbs`` [m, 3] in [0, 1], ``deltas`` [m] interval
  lengths and ``ts`` [m] sample distances (box units), all float32.
* ``ray_indices`` [m] int64, **sorted** (samples of a ray contiguous, front to back), values in
  ``[0, n_rays)``; rays may have no samples.
* Output ``(weights [m], rgb [n_rays, 3], depth [n_rays], opacity [n_rays])``.

The twin computes the per-ray exclusive prefix sums of ``sigma * delta`` as one global cumulative
sum in float64 minus each ray's starting value (exact enough for millions of samples).
"""

from __future__ import annotations

import torch
from torch import Tensor

from pvd.ops.backend import native_module


def composite_torch(
    sigmas: Tensor, rgbs: Tensor, deltas: Tensor, ts: Tensor, ray_indices: Tensor, n_rays: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Pure-PyTorch twin of ``composite_fwd`` / ``composite_bwd``: see the module docstring."""
    tau = sigmas.float() * deltas
    if tau.numel() == 0:
        weights = tau
    else:
        tau64 = tau.double()
        exclusive = torch.cumsum(tau64, dim=0) - tau64
        counts = torch.bincount(ray_indices, minlength=n_rays)
        starts = torch.cumsum(counts, dim=0) - counts
        exclusive = exclusive - exclusive[starts[ray_indices]]
        transmittance = torch.exp(-exclusive).to(tau.dtype)
        weights = -torch.expm1(-tau) * transmittance
    rgb = tau.new_zeros(n_rays, 3).index_add(0, ray_indices, weights.unsqueeze(1) * rgbs.float())
    depth = tau.new_zeros(n_rays).index_add(0, ray_indices, weights * ts)
    opacity = tau.new_zeros(n_rays).index_add(0, ray_indices, weights)
    return weights, rgb, depth, opacity


class _CompositeNative(torch.autograd.Function):
    """``composite_fwd`` / ``composite_bwd`` of a native build as one differentiable op."""

    @staticmethod
    def forward(ctx, sigmas: Tensor, rgbs: Tensor, deltas: Tensor, ts: Tensor, ray_indices: Tensor, n_rays: int, ext):
        ctx.save_for_backward(sigmas, rgbs, deltas, ts, ray_indices)
        ctx.n_rays, ctx.ext = n_rays, ext
        return ext.composite_fwd(sigmas, rgbs, deltas, ts, ray_indices, n_rays)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_weights: Tensor, grad_rgb: Tensor, grad_depth: Tensor, grad_opacity: Tensor):
        grads = ctx.ext.composite_bwd(
            grad_weights.contiguous(),
            grad_rgb.contiguous(),
            grad_depth.contiguous(),
            grad_opacity.contiguous(),
            *ctx.saved_tensors,
            ctx.n_rays,
        )
        return tuple(g if need else None for g, need in zip(grads, ctx.needs_input_grad)) + (None, None, None)


def composite(
    sigmas: Tensor, rgbs: Tensor, deltas: Tensor, ts: Tensor, ray_indices: Tensor, n_rays: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Compositing through the best available backend (see :mod:`pvd.ops.backend`).

    Same arguments, results and gradients (to sigmas, rgbs, deltas, ts) as :func:`composite_torch`;
    like the twin it composites ``sigmas.float()`` / ``rgbs.float()``. CPU/CUDA inputs with float32
    ``deltas`` / ``ts`` run the native kernels when they build; anything else runs the twin.
    """
    ext = None
    if (
        sigmas.dim() == 1
        and deltas.dtype == ts.dtype == torch.float32
        and ray_indices.dtype == torch.long
        and sigmas.is_floating_point()
        and rgbs.is_floating_point()
        and all(t.device == sigmas.device for t in (rgbs, deltas, ts, ray_indices))
    ):
        ext = native_module(sigmas.device.type)
    if ext is None:
        return composite_torch(sigmas, rgbs, deltas, ts, ray_indices, n_rays)
    return _CompositeNative.apply(
        sigmas.float().contiguous(),
        rgbs.float().contiguous(),
        deltas.contiguous(),
        ts.contiguous(),
        ray_indices.contiguous(),
        int(n_rays),
        ext,
    )
