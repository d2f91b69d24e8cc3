"""Progressive stages of distillation: which loss terms are active at which step, and their weights.

docs/method.md, "Stages and losses"; at the reference's 30k-step run: ``[0, 2k)`` feature stage (match ``h`` only);
``[2k, 5k)`` density + colour stage (clamped log-density ``s`` and per-sample colour, weight
0.002 each, plus ``h``); ``>= 5k`` RGB stage (rendered colour, weight 1, plus all of the above).
The feature weight starts at 0.002 and is multiplied by 0.995 every step from the first step on
(as the reference does), so after a few thousand steps it no longer matters.

Boundaries ``(S1, S2)`` are configurable; by default they scale with the run length
(``S1 = iters * 2/30``, ``S2 = iters * 5/30``). When either field has no feature ``h``
(``tensors``), the feature stage is skipped: the density + colour stage starts at step 0 and the
RGB stage still starts at ``S2``. ``progressive=False`` is the paper's ablation: the rendered
RGB loss alone from the first step. ``S1 = S2 = 0`` gives PVD-AL's "all terms from step 1".

Stage warm-up (``warmup > 0``, not in the reference): each stage after the first starts with the
learning rate ramped linearly from ``1/W`` to 1 times the schedule's over ``W = warmup * iters``
steps. A new stage brings terms whose gradients are far larger than the old ones (the rendered
colour at weight 1 against per-sample terms at 0.002); Adam's second moments still hold the small
ones, so without the ramp its first steps in the new stage move each parameter by up to ~10x the
rate: mlp students fell back at the RGB stage and spent hundreds of steps recovering (fern
tensors->mlp, 1600 steps: 25.5 -> 19.0 dB probe PSNR, 22.40 dB at the end without the ramp, 24.07
with it, rising through the stage change). It does not stop same-type copies from dropping at the
RGB stage (fern vm->vm: 52 -> 37 dB against the teacher's renders, with or without it; they end
above where they started).
"""

from __future__ import annotations

from dataclasses import dataclass

from pvd.errors import SpecError, UserError
from pvd.train.losses import LossWeights

REFERENCE_ITERS = 30000
REFERENCE_STAGE_ITERS = (2000, 5000)


@dataclass(frozen=True)
class StageConfig:
    """Stage boundaries and loss weights.

    Attributes:
        stage_iters: ``(S1, S2)`` first step of the density+colour and of the RGB stage;
            ``None`` scales the reference's (2k, 5k) of 30k to the run length.
        feature_weight: initial weight of the ``h`` term.
        feature_decay: per-step factor of the ``h`` weight.
        density_weight, color_weight: per-sample ``s`` and colour terms.
        rgb_weight: rendered colour term.
        depth_weight: rendered depth term (PVD-AL option; 0 = off).
        progressive: False -> RGB loss only for the whole run (ablation).
        warmup: share of the run's steps over which the learning rate ramps up again at the start of
            each stage after the first (0: off, the reference's schedule).
    """

    stage_iters: tuple[int, int] | None = None
    feature_weight: float = 0.002
    feature_decay: float = 0.995
    density_weight: float = 0.002
    color_weight: float = 0.002
    rgb_weight: float = 1.0
    depth_weight: float = 0.0
    progressive: bool = True
    warmup: float = 0.0


@dataclass(frozen=True)
class Stage:
    """One stage: its name, first step and end step (exclusive; ``end == iters`` for the last)."""

    name: str
    start: int
    end: int

    def to_dict(self) -> dict:
        return {"name": self.name, "start": self.start, "end": self.end, "iterations": self.end - self.start}


def default_stage_iters(iters: int) -> tuple[int, int]:
    """The reference's boundaries (2k, 5k of 30k) scaled to ``iters`` steps."""
    s1 = round(iters * REFERENCE_STAGE_ITERS[0] / REFERENCE_ITERS)
    s2 = round(iters * REFERENCE_STAGE_ITERS[1] / REFERENCE_ITERS)
    return s1, s2


def parse_stage_iters(text: str) -> tuple[int, int]:
    """``"S1,S2"`` -> ``(S1, S2)``; errors name the ``stage_iters`` option (:class:`SpecError`)."""
    parts = text.split(",")
    try:
        s1, s2 = (int(p) for p in parts)
    except ValueError:
        raise SpecError("stage_iters", f"{text!r}: expected two integers S1,S2 (e.g. 2000,5000)") from None
    return s1, s2


class StageSchedule:
    """The stages of one run and the loss weights at every step.

    Args:
        cfg: boundaries and weights.
        iters: total steps of the run.
        has_feature: whether *both* fields expose ``h`` (False when either is ``tensors``).
    """

    def __init__(self, cfg: StageConfig, iters: int, has_feature: bool):
        if iters < 1:
            raise SpecError("iters", f"must be >= 1, got {iters}")
        s1, s2 = cfg.stage_iters if cfg.stage_iters is not None else default_stage_iters(iters)
        if not 0 <= s1 <= s2:
            raise SpecError("stage_iters", f"{s1},{s2}: expected 0 <= S1 <= S2")
        for name in ("feature_weight", "density_weight", "color_weight", "rgb_weight", "depth_weight"):
            if getattr(cfg, name) < 0:
                raise UserError(f"stage config: {name} must be >= 0, got {getattr(cfg, name)}")
        if not 0 < cfg.feature_decay <= 1:
            raise UserError(f"stage config: feature_decay must be in (0, 1], got {cfg.feature_decay}")
        if not 0 <= cfg.warmup < 1:
            raise UserError(f"stage config: warmup must be in [0, 1), got {cfg.warmup}")
        if cfg.rgb_weight <= 0:
            raise UserError("stage config: rgb_weight must be > 0 (the final stage needs it)")
        self.cfg = cfg
        self.iters = iters
        self.has_feature = has_feature
        self.boundaries = (min(s1, iters), min(s2, iters))
        self.stages = self._build()
        self.warmup_steps = round(cfg.warmup * iters)

    def _build(self) -> tuple[Stage, ...]:
        if not self.cfg.progressive:
            return (Stage("rgb_only", 0, self.iters),)
        s1, s2 = self.boundaries
        if not self.has_feature:
            s1 = 0
        spans = (("feature", 0, s1), ("density_color", s1, s2), ("rgb", s2, self.iters))
        return tuple(Stage(name, a, b) for name, a, b in spans if b > a)

    def stage_at(self, step: int) -> Stage:
        """The stage that step ``step`` (0-based) belongs to."""
        for stage in self.stages:
            if stage.start <= step < stage.end:
                return stage
        return self.stages[-1]

    def lr_factor(self, step: int) -> float:
        """The factor on the schedule's learning rate at step ``step``: ``(k + 1) / W`` at the
        ``k``-th step of a stage after the first while ``k < W`` (the stage warm-up), else 1."""
        stage = self.stage_at(step)
        k = step - stage.start
        if stage is self.stages[0] or k >= self.warmup_steps:
            return 1.0
        return (k + 1) / self.warmup_steps

    def feature_weight_at(self, step: int) -> float:
        """``feature_weight * feature_decay ** (step + 1)``: decayed once per step, from step 0."""
        return self.cfg.feature_weight * self.cfg.feature_decay ** (step + 1)

    def weights_at(self, step: int) -> LossWeights:
        """Loss weights of step ``step``; 0 for inactive terms."""
        cfg = self.cfg
        name = self.stage_at(step).name
        if name == "rgb_only":
            return LossWeights(rgb=cfg.rgb_weight)
        feature = self.feature_weight_at(step) if self.has_feature else 0.0
        if name == "feature":
            return LossWeights(feature=feature)
        if name == "density_color":
            return LossWeights(feature=feature, density=cfg.density_weight, color=cfg.color_weight)
        return LossWeights(
            feature=feature,
            density=cfg.density_weight,
            color=cfg.color_weight,
            rgb=cfg.rgb_weight,
            depth=cfg.depth_weight,
        )

    def describe(self) -> list[dict]:
        """The stages as plain data for ``record.json``."""
        return [s.to_dict() for s in self.stages]
