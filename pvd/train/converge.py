"""Converge-aware distillation: stop when the student has matched its teacher.

A student's PSNR against its teacher's renders needs no ground truth, so a distillation can watch
it and stop once it no longer improves. The rule reads the run's learning curve: the curve probe
(:class:`pvd.evaluate.probe.CurveProbe`) already scores the student against the teacher's renders of a
few fixed test views (``psnr_vs_teacher``) at evenly spaced steps, so the rule costs no rendering of
its own. With ``StopConfig.rule == "plateau"``:

* the learning rate follows the fixed schedule (a cosine over the cap) until the rule fires
  (:class:`PlateauLR`);
* the rule looks at the curve points of the last (RGB) stage, from one probe interval into it on
  (the stage's first steps perturb the student);
* it fires at a curve point when the best PSNR so far is less than ``min_gain`` dB above the best one
  at least ``window`` (a share of the cap) steps earlier, or when the point reaches ``target`` dB
  (0: no target);
* after firing, the learning rate anneals (cosine) from the rate reached to ``lr_final`` over a
  tail of ``tail`` times the steps done so far (at least one step, at most up to the cap), and the
  run ends there.

So a run never takes more steps than the cap (the preset's ``iters``), and one whose rule never
fires is exactly the fixed schedule's run. ``rule == "off"`` is the fixed schedule. The rule's
settings are part of a run's settings (they change its result): they are in the record's config and
in the workflow's cell settings. A resumed run ends where the uninterrupted one would: the curve and
the scheduler (with the firing step) travel in the checkpoint, and the rule keeps no other state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pvd.errors import SpecError

STOP_RULES: tuple[str, ...] = ("off", "plateau")
MIN_MSE = 1e-10  # PSNR is capped at 100 dB (an exact copy would be +inf)


@dataclass(frozen=True)
class StopConfig:
    """When a distillation stops before its step count.

    Attributes:
        rule: ``off`` (run the preset's steps) or ``plateau`` (stop when matched, see module doc).
        window: the span over which the gain in PSNR against the teacher is measured, as a share
            of the cap (the run's ``iters``).
        min_gain: dB; a smaller gain over ``window`` means the student has converged.
        target: dB against the teacher at which the run stops at once (0: no target).
        every: the span between two measurements, as a share of the cap.
        tail: the annealing tail after the rule fires, as a share of the steps done by then.

    The rule measures nothing itself: it reads the curve probe's points (``curve_points``,
    ``probe_views``, ``probe_size`` set how often and on what; :meth:`curve_points`).
    """

    rule: str = "off"
    window: float = 0.2
    min_gain: float = 0.1
    target: float = 0.0
    tail: float = 0.25

    def check(self) -> None:
        if self.rule not in STOP_RULES:
            raise SpecError("stop_rule", f"{self.rule!r} is unknown; expected one of {list(STOP_RULES)}")
        if not 0 < self.window <= 1:
            raise SpecError("stop_window", f"must be in (0, 1] (a share of `iters`), got {self.window}")
        if not (self.min_gain >= 0 and math.isfinite(self.min_gain)):
            raise SpecError("stop_min_gain", f"must be a finite number >= 0, got {self.min_gain}")
        if not (self.target >= 0 and math.isfinite(self.target)):
            raise SpecError("stop_target", f"must be a finite number >= 0, got {self.target}")
        if not (0 <= self.tail <= 1):
            raise SpecError("stop_tail", f"must be in [0, 1], got {self.tail}")

    @property
    def enabled(self) -> bool:
        return self.rule != "off"

    def curve_points(self, points: int) -> int:
        """The learning curve's number of points with the rule on: ``points``, raised to at least
        two per window (the rule reads the curve; with fewer it could not see a plateau)."""
        return max(points, math.ceil(2 / self.window) + 1) if self.enabled else points


class PlateauLR(torch.optim.lr_scheduler.LRScheduler):
    """The fixed schedule's cosine over ``cap`` steps until :meth:`fire`; then a cosine from the rate
    reached to ``eta_min`` over ``tail`` steps.

    A run whose rule never fires follows exactly the fixed schedule. Its state (``fired_at``,
    ``tail``) travels in ``state_dict`` like any scheduler's, so resumed runs follow the same rates.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, cap: int, eta_min: float):
        self.cap, self.eta_min = cap, eta_min
        self.fired_at: int | None = None
        self.tail = 0
        super().__init__(optimizer)

    def fire(self, step: int, tail: int) -> None:
        """Start the annealing tail after ``step`` steps, from the current rates; it lasts ``tail`` steps."""
        self.fired_at, self.tail = step, max(1, tail)

    @property
    def end(self) -> int | None:
        """The step the run ends at (None until fired)."""
        return None if self.fired_at is None else self.fired_at + self.tail

    def _cosine(self, start: float, t: float, length: float) -> float:
        return self.eta_min + (start - self.eta_min) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t / length)))

    def get_lr(self) -> list[float]:
        t = self.last_epoch if self.fired_at is None else min(self.last_epoch, self.fired_at)
        rates = [self._cosine(base, t, self.cap) for base in self.base_lrs]
        if self.fired_at is None or self.last_epoch <= self.fired_at:
            return rates
        return [self._cosine(lr, self.last_epoch - self.fired_at, self.tail) for lr in rates]


def curve_history(curve: list[dict], start: int) -> list[tuple[int, float]]:
    """``(step, psnr_vs_teacher)`` of the curve points after step ``start``."""
    return [
        (int(p["step"]), float(p["psnr_vs_teacher"])) for p in curve if p["step"] > start and "psnr_vs_teacher" in p
    ]


class StopRule:
    """Decides, at each new point of the learning curve, whether the rule fires (see the module doc).

    Args:
        cfg: the rule's settings.
        cap: the preset's step count (the run's ``iters``).
        start: the step after which the curve counts: one probe interval into the RGB stage.
        scheduler: the run's :class:`PlateauLR` (it holds the firing step).
    """

    def __init__(self, cfg: StopConfig, cap: int, start: int, scheduler: PlateauLR):
        self.cfg, self.cap, self.start, self.scheduler = cfg, cap, start, scheduler
        self.window = max(1, round(cfg.window * cap))

    def finished(self, done: int, curve: list[dict]) -> bool:
        """Whether the run ends after ``done`` steps; fires the rule when the curve's newest point,
        taken after ``done`` steps, says so."""
        if self.scheduler.fired_at is None and done < self.cap and curve and curve[-1]["step"] == done:
            if self.verdict(curve_history(curve, self.start)) is not None:
                self.scheduler.fire(done, min(max(1, round(self.cfg.tail * done)), self.cap - done))
        end = self.scheduler.end
        return end is not None and done >= end

    def verdict(self, history: list[tuple[int, float]]) -> str | None:
        """``target`` or ``plateau`` when the rule fires at the last point of ``history``, else None.
        The gain is the best PSNR so far against the best up to ``window`` steps earlier (robust to
        the noise of single measurements)."""
        if not history:
            return None
        done, psnr = history[-1]
        if self.cfg.target > 0 and psnr >= self.cfg.target:
            return "target"
        before = [p for s, p in history if s <= done - self.window]
        if before and max(p for _, p in history) - max(before) < self.cfg.min_gain:
            return "plateau"
        return None

    def describe(self, steps: int, curve: list[dict]) -> dict:
        """What the rule did, for ``record.json``."""
        fired = self.scheduler.fired_at
        history = curve_history(curve, self.start)
        reason = "cap" if fired is None else self.verdict([h for h in history if h[0] <= fired])
        return {
            "rule": self.cfg.rule,
            "reason": reason,
            "fired_at": fired,
            "steps": steps,
            "cap": self.cap,
            "history": [{"step": s, "psnr_vs_teacher": round(p, 3)} for s, p in history],
        }
