"""Distillation losses: distances between student and teacher quantities, and the named terms.

The terms compare the two fields on the *same* samples (docs/method.md):

* ``feature`` — the 16-d intermediate ``h = [s, f]``, its density channel clamped to the density
  range on both sides (so the student is never asked to reproduce the teacher's arbitrary
  log-density far below the clamp);
* ``density`` — the clamped log-density ``s`` per sample;
* ``color`` — the per-sample colour;
* ``rgb`` — the rendered (composited) ray colour;
* ``depth`` — the rendered depth (PVD-AL option, off by default).

Distances (``loss_type``), over all elements of the compared tensors:

* ``normL2`` — ``||pred - target||_2``: un-squared and un-averaged (the reference's default);
* ``L2`` — mean squared error;
* ``L1`` — mean absolute error;
* ``smoothL1`` — mean Huber loss with ``beta = 0.05`` (the reference's choice).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor

from pvd.errors import SpecError
from pvd.fields.base import FieldOutput

LOSS_TYPES = ("normL2", "L2", "L1", "smoothL1")
TERMS = ("feature", "density", "color", "rgb", "depth")
SMOOTH_L1_BETA = 0.05


def check_loss_type(loss_type: str) -> None:
    if loss_type not in LOSS_TYPES:
        raise SpecError("loss_type", f"{loss_type!r} is unknown; expected one of {list(LOSS_TYPES)}")


def distance(pred: Tensor, target: Tensor, loss_type: str = "normL2") -> Tensor:
    """Scalar distance between two tensors of the same shape (see module doc).

    An empty pair (no samples survived the march) gives 0, connected to ``pred``'s graph.
    """
    if pred.shape != target.shape:
        raise ValueError(f"distance: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    if pred.numel() == 0:
        return pred.sum().float() * 0.0
    pred, target = pred.float(), target.float()  # norms of many fp16 values overflow
    diff = pred - target
    if loss_type == "normL2":
        return torch.linalg.vector_norm(diff)
    if loss_type == "L2":
        return diff.square().mean()
    if loss_type == "L1":
        return diff.abs().mean()
    if loss_type == "smoothL1":
        return F.smooth_l1_loss(pred, target, beta=SMOOTH_L1_BETA)
    raise ValueError(f"loss type {loss_type!r} is unknown; expected one of {list(LOSS_TYPES)}")


def clamp_feature(h: Tensor, density_range: tuple[float, float]) -> Tensor:
    """[n, 16] ``h = [s_raw, f]`` -> the same with ``s_raw`` clamped to ``density_range``."""
    lo, hi = density_range
    return torch.cat([h[:, :1].clamp(lo, hi), h[:, 1:]], dim=1)


@dataclass
class LossTerms:
    """Un-weighted values of the distillation terms of one step, and their weighted sum.

    A term is ``None`` when it was not active at that step. ``total`` carries the graph.
    """

    total: Tensor
    feature: Tensor | None = None
    density: Tensor | None = None
    color: Tensor | None = None
    rgb: Tensor | None = None
    depth: Tensor | None = None

    def active(self) -> dict[str, Tensor]:
        """The terms that were computed, by name."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "total" and getattr(self, f.name) is not None
        }

    def as_floats(self) -> dict[str, float]:
        """Plain floats of ``total`` and every active term (for logs and records)."""
        out = {"total": float(self.total.detach())}
        out.update({k: float(v.detach()) for k, v in self.active().items()})
        return out


@dataclass(frozen=True)
class LossWeights:
    """Weight of each term at one step; a weight of 0 means the term is not computed."""

    feature: float = 0.0
    density: float = 0.0
    color: float = 0.0
    rgb: float = 0.0
    depth: float = 0.0

    def active(self) -> tuple[str, ...]:
        return tuple(name for name in TERMS if getattr(self, name) > 0)

    @property
    def needs_render(self) -> bool:
        """Whether the step needs composited ray colours/depths (not only per-sample values)."""
        return self.rgb > 0 or self.depth > 0

    @property
    def needs_samples(self) -> bool:
        """Whether the step compares the two fields per sample (feature, density or colour)."""
        return self.feature > 0 or self.density > 0 or self.color > 0


def compute_terms(
    weights: LossWeights,
    loss_type: str,
    density_range: tuple[float, float],
    teacher: FieldOutput | None,
    student: FieldOutput,
    rgb: tuple[Tensor, Tensor] | None = None,
    depth: tuple[Tensor, Tensor] | None = None,
    sample_mask: Tensor | None = None,
) -> LossTerms:
    """The weighted distillation loss of one step.

    Args:
        weights: the schedule's weights at this step.
        loss_type: one of :data:`LOSS_TYPES`.
        density_range: ``(lo, hi)`` clamp applied to both sides' density channel of ``h``.
        teacher, student: field outputs on the same ``n`` samples (teacher's without grad); the
            teacher's may be None when no per-sample term is active (``weights.needs_samples``).
        rgb: ``(student [n_rays, 3], target [n_rays, 3])`` rendered colours, when ``weights.rgb > 0``.
        depth: ``(student [n_rays], target [n_rays])`` rendered depths, when ``weights.depth > 0``.
        sample_mask: optional [n] bool, restricts the per-sample terms (feature, density, colour)
            to the selected samples (PVD-AL's point selection).
    Returns:
        :class:`LossTerms`; ``total`` is the weighted sum of the active terms.
    """

    def pick(x: Tensor) -> Tensor:
        return x if sample_mask is None else x[sample_mask]

    if weights.needs_samples and teacher is None:
        raise ValueError("compute_terms: a per-sample term is active but the teacher's samples were not given")
    values: dict[str, Tensor] = {}
    if weights.feature > 0 and teacher.h is not None and student.h is not None:
        values["feature"] = distance(
            pick(clamp_feature(student.h, density_range)), pick(clamp_feature(teacher.h, density_range)), loss_type
        )
    if weights.density > 0:
        values["density"] = distance(pick(student.s), pick(teacher.s), loss_type)
    if weights.color > 0:
        values["color"] = distance(pick(student.rgb), pick(teacher.rgb), loss_type)
    if weights.rgb > 0:
        if rgb is None:
            raise ValueError("compute_terms: the rgb term is active but no rendered colours were given")
        values["rgb"] = distance(rgb[0], rgb[1], loss_type)
    if weights.depth > 0:
        if depth is None:
            raise ValueError("compute_terms: the depth term is active but no depths were given")
        values["depth"] = distance(depth[0], depth[1], loss_type)
    if not values:
        raise ValueError(f"compute_terms: no active term (weights {weights})")
    total = sum(getattr(weights, name) * value for name, value in values.items())
    return LossTerms(total=total, **values)


def distortion(weights: Tensor, t: Tensor, deltas: Tensor, ray_indices: Tensor, n_rays: int) -> Tensor:
    """The distortion loss of packed samples (mip-NeRF 360): per ray, ``sum_ij w_i w_j |t_i - t_j|
    + 1/3 sum_i w_i^2 delta_i``, small when a ray's weight sits in one short stretch (a decisive,
    opaque surface) and large when it is spread along the ray (a semi-transparent haze). In the
    units of ``t`` (box units). O(n) with prefix sums, since each ray's samples are in order.

    Args:
        weights: [n] compositing weights. t: [n] sample distances. deltas: [n] their intervals.
        ray_indices: [n] sorted ray of each sample. n_rays: rays in the batch.
    Returns:
        [n_rays] the loss of each ray (0 for rays without samples).
    """
    wt = weights * t
    # exclusive prefix sums within each ray: the global ones minus their value at the ray's start
    cw, cwt = torch.cumsum(weights, 0) - weights, torch.cumsum(wt, 0) - wt
    counts = torch.bincount(ray_indices, minlength=n_rays)
    starts = (torch.cumsum(counts, 0) - counts).clamp(max=max(weights.numel() - 1, 0))[ray_indices]
    before_w, before_wt = cw - cw[starts], cwt - cwt[starts]
    pair = 2.0 * weights * (t * before_w - before_wt)  # sum over j < i of w_i w_j (t_i - t_j), twice
    own = weights.square() * deltas / 3.0
    return torch.zeros(n_rays, dtype=weights.dtype, device=weights.device).index_add_(0, ray_indices, pair + own)
