"""The one training engine: optimiser state, resume, progress, periodic checkpoints, divergence stop.

Teacher training (:mod:`pvd.train.teacher`) and distillation (:mod:`pvd.train.distill`) supply only
a :class:`Task` -- the loss of one step and the bookkeeping after it; :func:`run_steps` does the
rest the same way for both:

* a :class:`TrainState` holds what a resumed run needs to continue bit for bit: optimiser,
  learning-rate schedule, GradScaler (fp16 autocast on CUDA), the run's random generator and
  torch's global RNG, the step and the wall/processor seconds so far, and the task's own state;
* a resumable checkpoint (``WS/checkpoint.pt`` with ``train_state``) is written atomically every
  ``ckpt_every`` steps and when a run stops early (``stop_at``); never after the last step, where
  the caller writes the final, state-free checkpoint;
* a non-finite loss stops the run with :class:`TrainingDiverged` (the task words the message).

On the CPU with a fixed seed, an interrupted and resumed run ends with the same tensors as an
uninterrupted one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from tqdm import tqdm

from pvd.errors import UserError
from pvd.model import Model, load_state, read_checkpoint, save_checkpoint

PROGRESS_EVERY = 20


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


def adamw(groups: list[dict], weight_decay: float) -> torch.optim.AdamW:
    """The reference's AdamW (β 0.9/0.99, eps 1e-15); the fused kernel on CPU and CUDA (one pass
    over all parameters instead of a dozen small ops each: ~10x faster steps for large grids)."""
    return torch.optim.AdamW(groups, betas=(0.9, 0.99), eps=1e-15, weight_decay=weight_decay, fused=True)


@dataclass
class TrainState:
    """Everything of a run's progress that a checkpoint must carry for ``--resume``.

    Attributes:
        optimizer, scheduler: the optimiser and its learning-rate schedule.
        scaler: loss scaling for fp16 autocast (enabled on CUDA only).
        generator: the run's random generator (every draw of the task uses it).
        step: optimisation steps done.
        seconds, cpu_seconds: wall and processor time of the steps done (across resumes).
    """

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    generator: torch.Generator
    step: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    _clock: tuple[float, float] = field(default=(0.0, 0.0), repr=False)

    @staticmethod
    def create(optimizer, scheduler, device: torch.device, seed: int) -> "TrainState":
        """A fresh state; seeds torch's global RNG and the run's generator with ``seed``."""
        torch.manual_seed(seed)
        scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda")
        return TrainState(optimizer, scheduler, scaler, torch.Generator().manual_seed(seed))

    @property
    def amp(self) -> bool:
        """Loss scaling is on (fp16 autocast on CUDA)."""
        return self.scaler.is_enabled()

    def start_clock(self) -> None:
        self._clock = (time.perf_counter(), time.process_time())

    def tick(self) -> None:
        """Add the time since the last tick (or :meth:`start_clock`) to ``seconds``/``cpu_seconds``."""
        now = (time.perf_counter(), time.process_time())
        self.seconds += now[0] - self._clock[0]
        self.cpu_seconds += now[1] - self._clock[1]
        self._clock = now

    def optimizer_step(self, loss: torch.Tensor) -> None:
        """Clear the gradients, backpropagate ``loss`` (scaled under fp16), step the optimiser and
        the schedule."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(), "generator": self.generator.get_state(),
                "torch_rng": torch.get_rng_state(), "step": self.step, "seconds": self.seconds,
                "cpu_seconds": self.cpu_seconds}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.step, self.seconds, self.cpu_seconds = int(state["step"]), state["seconds"], state["cpu_seconds"]


class Task(Protocol):
    """What a kind of training adds to the engine."""

    label: str

    def loss(self, step: int, log) -> torch.Tensor:
        """The scalar loss of ``step`` (run under autocast); ``log(message)`` prints a line."""

    def after_step(self, step: int) -> dict[str, float]:
        """Bookkeeping after the optimiser step; returns values for the progress bar."""

    def diverged(self, step: int, value: float) -> str:
        """The message of a non-finite loss at ``step``."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


def checkpoint_due(done: int, end: int, iters: int, ckpt_every: int) -> bool:
    """Whether a resumable checkpoint is written after ``done`` steps: every ``ckpt_every`` steps
    (0: never) and when a run stops early at ``end``; never after the last step."""
    return done < iters and ((ckpt_every > 0 and done % ckpt_every == 0) or done == end)


def resume(ckpt_path: Path, model: Model, state: TrainState, task: Task) -> None:
    """Continue from the resumable checkpoint at ``ckpt_path``: model tensors, engine and task state."""
    stored = read_checkpoint(ckpt_path)
    if stored.train_state is None:
        raise UserError(f"--resume: {ckpt_path} holds no training state (a finished run?)")
    load_state(model, stored)
    state.load_state_dict(stored.train_state["engine"])
    task.load_state_dict(stored.train_state["task"])
    model.at_step(state.step)


def run_steps(task: Task, model: Model, state: TrainState, *, iters: int, ckpt_path: Path, ckpt_every: int,
              stop_at: int | None = None, progress: bool = True) -> int:
    """Run steps ``state.step .. min(stop_at, iters)`` of ``task`` on ``model``; returns the last step.

    ``model`` is the model being trained (its field's parameters are those of ``state.optimizer``).
    """
    end = iters if stop_at is None else min(stop_at, iters)
    device_type = next(model.grid.buffers()).device.type
    bar = tqdm(range(state.step, end), initial=state.step, total=iters, disable=not progress,
               desc=task.label, dynamic_ncols=True, mininterval=1.0)
    log = bar.write if progress else (lambda message: print(message, flush=True))
    model.field.train()
    state.start_clock()
    for step in bar:
        with torch.autocast(device_type, dtype=torch.float16, enabled=state.amp and device_type == "cuda"):
            loss = task.loss(step, log)
        if not torch.isfinite(loss):
            raise TrainingDiverged(task.diverged(step, loss.item()))
        state.optimizer_step(loss)
        values = task.after_step(step)
        if progress and step % PROGRESS_EVERY == 0:
            bar.set_postfix({k: f"{v:.4g}" for k, v in values.items()})
        state.step = step + 1
        if checkpoint_due(state.step, end, iters, ckpt_every):
            state.tick()
            model.at_step(state.step)
            save_checkpoint(ckpt_path, model, {"engine": state.state_dict(), "task": task.state_dict()})
    state.tick()
    bar.close()
    model.field.eval()
    model.at_step(end)
    return end
