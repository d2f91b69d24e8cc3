"""Compositing field outputs on packed samples into per-ray colour, depth and opacity.

``alpha = 1 - exp(-sigma * delta)``, ``w = alpha * T`` (``T`` the exclusive transmittance along
the ray), ``rgb = sum w c + (1 - sum w) bg``, ``depth = sum w t`` (box units),
``opacity = sum w``. Differentiable with respect to the field outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from pvd.fields.base import FieldOutput
from pvd.ops.composite import composite as composite_op
from pvd.render.marching import Samples


@dataclass
class RenderOutput:
    """Per-ray results of rendering ``n_rays`` rays.

    Attributes:
        rgb: [n_rays, 3] colour in [0, 1], background blended in.
        opacity: [n_rays] accumulated weight ``sum w`` in [0, 1].
        depth: [n_rays] expected distance ``sum w t`` (box units; 0 where nothing was hit).
        weights: [n_samples] per-sample weights, or None (inference renders).
        samples: the samples that were composited, or None (inference renders).
    """

    rgb: Tensor
    opacity: Tensor
    depth: Tensor
    weights: Tensor | None = None
    samples: Samples | None = None


def background(bg, n_rays: int, device) -> Tensor:
    """A background given as [3], [n_rays, 3], a sequence of 3 or a scalar -> [n_rays, 3] float32."""
    bg = torch.as_tensor(bg, dtype=torch.float32, device=device)
    if bg.dim() == 0:
        bg = bg.expand(3)
    if bg.shape == (3,):
        return bg.expand(n_rays, 3)
    if bg.shape != (n_rays, 3):
        raise ValueError(f"bg must have shape [3] or [{n_rays}, 3], got {list(bg.shape)}")
    return bg


def composite_samples(samples: Samples, out: FieldOutput, bg) -> RenderOutput:
    """Composite a field's outputs on ``samples`` over the background ``bg`` ([3] or [n_rays, 3]).

    ``out`` must hold one row per sample (``out.sigma`` [n_samples], ``out.rgb`` [n_samples, 3]); it
    may come from any field evaluated on these samples (distillation composites teacher and student
    on the same samples).
    """
    n = samples.n_samples
    if out.sigma.reshape(-1).shape[0] != n or out.rgb.shape != (n, 3):
        raise ValueError(
            f"field output does not match the samples: sigma {list(out.sigma.shape)}, "
            f"rgb {list(out.rgb.shape)}, expected [{n}] and [{n}, 3]"
        )
    # float32 compositing even under fp16 autocast: transmittance products need the range
    weights, rgb, depth, opacity = composite_op(
        out.sigma.reshape(-1).float(), out.rgb.float(), samples.deltas, samples.t, samples.ray_indices, samples.n_rays
    )
    bg = background(bg, samples.n_rays, rgb.device)
    rgb = rgb + (1 - opacity).unsqueeze(1) * bg
    return RenderOutput(rgb=rgb, opacity=opacity, depth=depth, weights=weights, samples=samples)


def transmittance(sigma: Tensor, samples: Samples) -> Tensor:
    """[n_samples] transmittance in front of each sample: ``exp(-sum sigma_j delta_j)`` over the
    earlier samples of its ray (1 for a ray's first sample). ``sigma`` is [n_samples]; not
    differentiable (a cumulative sum in float64, so long batches keep the per-ray differences exact).
    """
    with torch.no_grad():
        tau = sigma.reshape(-1).double() * samples.deltas.double()
        before = torch.cumsum(tau, 0) - tau  # over all earlier samples
        first = torch.searchsorted(samples.ray_indices, samples.ray_indices)  # ray's first sample
        return torch.exp(-(before - before[first])).float()
