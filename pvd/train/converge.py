"""Converge-aware distillation: stop when the student has matched its teacher.

A student's PSNR against its teacher's renders needs no ground truth, so a distillation can watch
it and stop once it no longer improves. With ``StopConfig.rule == "plateau"``:

* every ``every`` (a share of the cap) of the last (RGB) stage a :class:`MatchMonitor` renders the student on a few
  fixed views (the teacher's renders of them are made once) and records its PSNR against them;
* the learning rate follows the fixed schedule (a cosine over the cap) until the rule fires
  (:class:`PlateauLR`);
* the rule fires when the PSNR gained over the last ``window`` (a share of the cap) is below ``min_gain`` dB, or
  when it reaches ``target`` dB (0: no target);
* after firing, the learning rate anneals (cosine) from the rate reached to ``lr_final`` over a
  tail of ``tail`` times the steps done so far (at least one measurement interval, at most up to the cap), and the
  run ends there.

So a run never takes more steps than the cap (the preset's ``iters``), and one whose rule never
fires is exactly the fixed schedule's run.
``rule == "off"`` is the fixed schedule (cosine over the cap). The rule's settings are part of a
run's settings (they change its result): they are in the record's config and in the workflow's
cell settings. A resumed run ends where the uninterrupted one would: the monitor's history and the
firing step travel in the checkpoint, and rendering draws no random numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pvd.data.cameras import Cameras
from pvd.errors import SpecError
from pvd.model import Model

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
        views, size: the views measured (evenly spaced test views) and their longest side in pixels.
    """

    rule: str = "off"
    window: float = 0.2
    min_gain: float = 0.1
    target: float = 0.0
    every: float = 0.05
    tail: float = 0.25
    views: int = 4
    size: int = 32

    def check(self) -> None:
        if self.rule not in STOP_RULES:
            raise SpecError("stop_rule", f"{self.rule!r} is unknown; expected one of {list(STOP_RULES)}")
        if not 0 < self.every <= 1:
            raise SpecError("stop_rule", f"measures every share of the run in (0, 1], got {self.every}")
        if not self.every <= self.window <= 1:
            raise SpecError("stop_window", f"must be in [{self.every:g}, 1] (a share of `iters`), got {self.window}")
        if not (self.min_gain >= 0 and math.isfinite(self.min_gain)):
            raise SpecError("stop_min_gain", f"must be a finite number >= 0, got {self.min_gain}")
        if not (self.target >= 0 and math.isfinite(self.target)):
            raise SpecError("stop_target", f"must be a finite number >= 0, got {self.target}")
        if self.views < 1 or self.size < 1:
            raise SpecError("stop_rule", f"needs at least one view of one pixel, got {self.views} views of {self.size}")
        if not (0 <= self.tail <= 1):
            raise SpecError("stop_tail", f"must be in [0, 1], got {self.tail}")

    @property
    def enabled(self) -> bool:
        return self.rule != "off"

    def steps(self, share: float, cap: int) -> int:
        """``share`` of ``cap`` steps, at least one."""
        return max(1, round(share * cap))


class PlateauLR(torch.optim.lr_scheduler.LRScheduler):
    """The fixed schedule's cosine over ``cap`` steps until :meth:`fire`; then a cosine from the rate
    reached to ``eta_min`` over ``tail`` steps.

    A run whose rule never fires follows exactly the fixed schedule. Its state (``fired_at``,
    ``tail``, ``fired_lrs``) travels in ``state_dict`` like any scheduler's, so resumed runs follow
    the same rates.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, cap: int, eta_min: float):
        self.cap, self.eta_min = cap, eta_min
        self.fired_at: int | None = None
        self.tail = 0
        self.fired_lrs: list[float] = []
        super().__init__(optimizer)

    def fire(self, step: int, tail: int) -> None:
        """Start the annealing tail after ``step`` steps, from the current rates; it lasts ``tail`` steps."""
        self.fired_at, self.tail = step, max(1, tail)
        self.fired_lrs = [self._cosine(base, step, self.cap) for base in self.base_lrs]

    @property
    def end(self) -> int | None:
        """The step the run ends at (None until fired)."""
        return None if self.fired_at is None else self.fired_at + self.tail

    def _cosine(self, start: float, t: float, length: float) -> float:
        return self.eta_min + (start - self.eta_min) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t / length)))

    def get_lr(self) -> list[float]:
        if self.fired_at is None or self.last_epoch <= self.fired_at:
            return [self._cosine(base, self.last_epoch, self.cap) for base in self.base_lrs]
        return [self._cosine(lr, self.last_epoch - self.fired_at, self.tail) for lr in self.fired_lrs]


class MatchMonitor:
    """The student's PSNR against its teacher's renders of fixed views (no ground truth needed).

    Args:
        teacher: the frozen teacher.
        cameras: the views [k] at the resolution to measure at.
        render: ``render(model, cameras, view) -> [H, W, 3]``, deterministic (no random draws).
    """

    def __init__(self, teacher: Model, cameras: Cameras, render):
        self.cameras, self.render = cameras, render
        self.references = [render(teacher, cameras, v).cpu() for v in range(len(cameras))]

    def measure(self, student: Model) -> float:
        """Mean PSNR of ``student``'s renders against the teacher's, in dB (eval mode, no grad)."""
        was_training = student.field.training
        student.field.eval()
        try:
            with torch.no_grad():
                values = []
                for v, ref in enumerate(self.references):
                    err = float((self.render(student, self.cameras, v).cpu() - ref).square().mean())
                    values.append(-10.0 * math.log10(max(err, MIN_MSE)))
        finally:
            student.field.train(was_training)
        return float(np.mean(values))


@dataclass
class StopState:
    """The rule's progress: measurements ``(step, psnr)``, and why and when it fired."""

    history: list[tuple[int, float]]
    fired_at: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        return {"history": [list(h) for h in self.history], "fired_at": self.fired_at, "reason": self.reason}

    @staticmethod
    def from_dict(d: dict) -> StopState:
        return StopState([(int(s), float(p)) for s, p in d["history"]], d["fired_at"], d["reason"])


class StopRule:
    """Decides, after each step, whether the rule fires (see the module doc).

    Args:
        cfg: the rule's settings.
        cap: the preset's step count (the run's ``iters``).
        start: the RGB stage's first step; it measures from one interval later on (the stage's
            first steps perturb the student).
        monitor: measures the student against the teacher.
        scheduler: the run's :class:`PlateauLR`.
    """

    def __init__(self, cfg: StopConfig, cap: int, start: int, monitor: MatchMonitor, scheduler: PlateauLR):
        self.cfg, self.cap, self.start, self.monitor, self.scheduler = cfg, cap, start, monitor, scheduler
        self.every, self.window = cfg.steps(cfg.every, cap), cfg.steps(cfg.window, cap)
        self.state = StopState([])

    def after_step(self, done: int, student: Model) -> None:
        """Called with the number of steps done; may fire the rule (sets the scheduler's tail)."""
        if self.state.fired_at is not None:
            return
        reason = None
        if done > self.start and (done - self.start) % self.every == 0:
            psnr = self.monitor.measure(student)
            self.state.history.append((done, psnr))
            reason = self._verdict(done, psnr)
        if reason is not None and done < self.cap:
            self.state.fired_at, self.state.reason = done, reason
            tail = max(self.every, round(self.cfg.tail * done))
            self.scheduler.fire(done, min(tail, self.cap - done))

    def _verdict(self, done: int, psnr: float) -> str | None:
        """``target`` or ``plateau`` when the rule fires at ``done`` steps, else None. The gain is
        the best PSNR so far against the best up to ``window`` steps ago (robust to the noise of
        single measurements)."""
        if self.cfg.target > 0 and psnr >= self.cfg.target:
            return "target"
        before = [p for s, p in self.state.history if s <= done - self.window]
        if before and max(p for _, p in self.state.history) - max(before) < self.cfg.min_gain:
            return "plateau"
        return None

    def end(self) -> int | None:
        """The step the run ends at, once fired."""
        return self.scheduler.end

    def describe(self, steps: int) -> dict:
        """What the rule did, for ``record.json``."""
        return {
            "rule": self.cfg.rule,
            "reason": self.state.reason or "cap",
            "fired_at": self.state.fired_at,
            "steps": steps,
            "cap": self.cap,
            "history": [{"step": s, "psnr_vs_teacher": round(p, 3)} for s, p in self.state.history],
        }
