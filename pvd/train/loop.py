"""The one training engine: optimiser state, resume, progress, periodic checkpoints, divergence stop.

Teacher training (:mod:`pvd.train.teacher`) and distillation (:mod:`pvd.train.distill`) supply only
a :class:`Task` -- the loss of one step and the bookkeeping after it; :func:`run_steps` does the
rest the same way for both:

* a :class:`TrainState` holds what a resumed run needs to continue bit for bit: optimiser,
  learning-rate schedule, GradScaler (fp16 autocast on CUDA; ``--precision``:
  :func:`autocast_dtype`), the run's random generator and torch's global RNG, the step and the
  wall/processor seconds so far, and the task's own state;
* a resumable checkpoint (``WS/checkpoint.pt`` with ``train_state``) is written atomically every
  ``ckpt_every`` steps and when a run stops early (``stop_at``); never after the last step, where
  the caller writes the final, state-free checkpoint;
* a non-finite loss stops the run with :class:`TrainingDiverged` (the task words the message);
* a task may end the run before ``iters`` (:meth:`Task.finished`, e.g. the distillation's
  stopping rule, :mod:`pvd.train.converge`); the last step is then probed too;
* an optional :class:`Probe` measures the model at ``probe.points`` evenly spaced steps (0 and the
  last step included, :func:`probe_steps`) into ``TrainState.curve``: the learning curve. Probing
  runs in eval mode without gradients, saves and restores torch's RNG states around itself and
  never sees the run's generator, so it leaves the training result unchanged; its time is kept out
  of ``seconds``/``cpu_seconds`` and counted in ``probe_seconds``/``probe_cpu_seconds``. The curve
  travels in the checkpoint, so a resumed run's curve is the uninterrupted run's.

On the CPU with a fixed seed, an interrupted and resumed run ends with the same tensors as an
uninterrupted one.
"""

from __future__ import annotations

import gc
import math
import sys
import time
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from tqdm import tqdm

from pvd.errors import SpecError, UserError
from pvd.model import Model, load_state, read_checkpoint, save_checkpoint

PROGRESS_EVERY = 20


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")

# torch's AdamW.step without its wrapper, which imports torch._dynamo (about 1.5 s of a job's start
# on this CPU) only to mark graph breaks for torch.compile; pvd's steps run eagerly under no_grad.
_EAGER_ADAMW_STEP = getattr(torch.optim.AdamW.step, "__wrapped__", torch.optim.AdamW.step)


_DYNAMO_SKIPPED = False  # skip_dynamo_import has marked torch's wrappers in this process


def skip_dynamo_import() -> int:
    """Let torch run without importing torch._dynamo in a process that never compiles (the ``pvd``
    command). Torch wraps some of its Python functions (optimiser steps, schedulers, the Python
    kernels of ops on the ``meta`` device that :func:`pvd.model.field_bytes` sizes fields with) to
    disable dynamo, and the wrapper imports it at the first call: about 1.5 s of each job's start
    on this CPU. Marks each wrapped function as its own disabled version, as the wrapper would cache
    it. Returns how many were marked (0 when torch._dynamo is already loaded, when this process marked
    them already, or when torch's wrappers changed: then nothing changes but the time)."""
    global _DYNAMO_SKIPPED
    if "torch._dynamo" in sys.modules or _DYNAMO_SKIPPED:  # (a job server's children inherit the marks)
        return 0
    _DYNAMO_SKIPPED = True
    wrapper = torch._compile._disable_dynamo(lambda: None)  # one of torch's wrappers, to recognise them
    code = wrapper.__code__
    if "fn" not in code.co_freevars:
        return 0
    cell = code.co_freevars.index("fn")
    marked = 0
    for obj in gc.get_objects():
        if type(obj) is types.FunctionType and obj.__code__ is code:
            fn = obj.__closure__[cell].cell_contents
            if getattr(fn, "__dynamo_disable", None) is None:
                try:
                    fn.__dynamo_disable = fn
                except (AttributeError, TypeError):  # a built-in: its wrapper imports dynamo if ever called
                    continue
                marked += 1
    return marked


AUTO_BF16_STUDENTS: tuple[str, ...] = ("mlp",)
"""Student architectures whose distillation steps ``auto`` runs in bfloat16 on CPUs with native
bfloat16: those whose steps are mostly matrix products (the NeRF MLP; the grid-based fields' heads
are too small to gain). Teachers stay float32: the demo's mlp teacher in bfloat16 lost 0.18 dB, and
the students distilled from it up to 0.41 dB."""


def native_bf16_cpu() -> bool:
    """Whether this CPU computes bfloat16 matrix products natively (AVX512-BF16 or AMX-BF16)."""
    get = getattr(torch.cpu, "get_capabilities", None)
    caps = get() if get is not None else {}
    return bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))


def autocast_dtype(precision: str, device: torch.device, student: str | None = None) -> torch.dtype | None:
    """The autocast dtype of the training steps (None: plain float32); ``student``: the student's
    architecture when the steps are a distillation's.

    ``auto``: float16 with loss scaling on CUDA; on the CPU bfloat16 for the students in
    :data:`AUTO_BF16_STUDENTS` when the CPU has native bfloat16 (:func:`native_bf16_cpu`), else
    float32. ``fp32``: float32 everywhere; ``bf16``: bfloat16 autocast on any device (its float32
    range needs no loss scaling).
    Autocast only lowers matrix products (the MLPs, SH bases); compositing, losses and optimiser
    stay in float32; rays and poses are computed outside it (:func:`full_precision`); the MLPs pad
    their rows so that oneDNN compiles few kernel shapes (:func:`pvd.fields.heads.bucket_rows`).
    Measured on a CPU with AMX (one core): the tiny mlp's forward and backward on 25.8 k samples
    36 ms instead of 98; the demo's mlp teacher 77 processor s instead of 108 (-0.18 dB), its
    ``hash2mlp`` 45 instead of 51 (-0.08 dB); fern's ``hash2mlp`` 223 instead of 302 (+0.30 dB).
    Without native bfloat16 it is emulated (slower), so ``auto`` keeps float32 there.
    """
    if precision not in PRECISIONS:
        raise SpecError("precision", f"{precision!r} is unknown; expected one of {list(PRECISIONS)}")
    if precision == "bf16":
        return torch.bfloat16
    if precision == "auto" and device.type == "cuda":
        return torch.float16
    if precision == "auto" and device.type == "cpu" and student in AUTO_BF16_STUDENTS and native_bf16_cpu():
        return torch.bfloat16
    return None


def full_precision(device: torch.device):
    """A context with autocast off on ``device``'s type, for the steps' geometry (pixel rays, sampled
    poses): autocast lowers every matrix product, and a ray direction from a bfloat16 product is off
    by up to 0.4 % (float16: 0.05 %), a shift of whole grid cells at the far end of a ray."""
    return torch.autocast(device.type, enabled=False)


class AdamW(torch.optim.AdamW):
    """torch's fused AdamW for dense gradients, plus row steps for row-sparse ones.

    A parameter whose gradient is a sparse COO tensor over its rows (``indices`` [1, T],
    ``values`` [T, ...]; a large ``tensors`` grid, ``TensorsConfig.sparse_grad_rows``) has only
    those T rows stepped, as dense AdamW would have stepped them: a row last stepped n + 1 steps
    ago first catches up on the n steps it missed with a zero gradient -- the weight decay
    ``(1 - lr wd)^n``, the momentum's coasting ``lr m / (sqrt(v) + eps) * sum_k (b1 / sqrt(b2))^k``
    and the moments' decay ``b1^n``, ``b2^n``, in closed form at the current learning rate and bias
    corrections -- then takes AdamW's step with its gradient. With a constant learning rate this
    is dense AdamW up to the bias corrections' drift over the gap; rows a run never touches again
    never move (dense AdamW would let them coast and decay). Without the catch-up (plain lazy
    Adam) a row touched once moves one step instead of the ~10 its momentum gives it: the tiny
    tensors teacher on the demo, forced row-sparse, lost 0.43 dB that way and scores 30.03 dB
    with it (dense: 30.05). The state keys are AdamW's plus ``row_step`` (float32 [rows], the
    step each row was last stepped at; float as AdamW's own ``step``, and as ``load_state_dict``
    casts the state of a float parameter), so checkpoints resume exactly. Loss scaling goes through
    ``GradScaler.unscale_`` (which handles sparse gradients) rather than the fused kernel's own.
    """

    def __init__(self, groups: list[dict], **kwargs):
        super().__init__(groups, fused=True, **kwargs)
        self._step_supports_amp_scaling = False

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            raise ValueError("pvd's AdamW takes no closure")
        sparse = [
            (g, p, p.grad) for g in self.param_groups for p in g["params"] if p.grad is not None and p.grad.is_sparse
        ]
        for _, p, _ in sparse:
            p.grad = None  # torch's AdamW refuses sparse gradients
        try:
            _EAGER_ADAMW_STEP(self)
        finally:
            for _, p, grad in sparse:
                p.grad = grad
        for group, p, grad in sparse:
            self._row_step(group, p, grad)

    def _row_step(self, group: dict, p: torch.Tensor, grad: torch.Tensor) -> None:
        state = self.state[p]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["row_step"] = torch.zeros(p.shape[0], dtype=torch.float32, device=p.device)
        rows, g = grad._indices()[0], grad._values()
        if not (grad.is_coalesced() or bool((rows[1:] > rows[:-1]).all())):
            # autograd's accumulation drops the coalesced flag of a field's (sorted, unique) rows;
            # only a gradient with repeated or unsorted rows pays for the sort
            grad = grad.coalesce()
            rows, g = grad.indices()[0], grad.values()
        state["step"] += 1
        t = float(state["step"])
        lr, wd, eps = float(group["lr"]), group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        step_size, root_bc2 = lr / (1.0 - beta1**t), math.sqrt(1.0 - beta2**t)
        value = p.index_select(0, rows)
        m = state["exp_avg"].index_select(0, rows)
        v = state["exp_avg_sq"].index_select(0, rows)
        # catch up on the steps each row missed (zero gradient), then this step
        missed = (t - 1.0 - state["row_step"].index_select(0, rows)).to(value.dtype)
        missed = missed.view(-1, *[1] * (p.dim() - 1))  # [T, 1, ...]
        ratio = beta1 / math.sqrt(beta2)
        coast = ratio * (1.0 - ratio**missed) / (1.0 - ratio)  # sum_{k=1..n} ratio^k
        value.mul_((1.0 - lr * wd) ** missed)
        value.addcdiv_(m * coast, (v.sqrt() / root_bc2).add_(eps), value=-step_size)
        m.mul_(beta1**missed).lerp_(g, 1.0 - beta1)
        v.mul_(beta2 ** (missed + 1.0)).addcmul_(g, g, value=1.0 - beta2)
        value.mul_(1.0 - lr * wd).addcdiv_(m, (v.sqrt() / root_bc2).add_(eps), value=-step_size)
        p.index_copy_(0, rows, value)
        state["exp_avg"].index_copy_(0, rows, m)
        state["exp_avg_sq"].index_copy_(0, rows, v)
        state["row_step"].index_fill_(0, rows, t)


def adamw(groups: list[dict], weight_decay: float) -> AdamW:
    """The reference's AdamW (β 0.9/0.99, eps 1e-15); the fused kernel on CPU and CUDA (one pass
    over all parameters instead of a dozen small ops each: ~10x faster steps for large grids), and
    row steps for row-sparse gradients (:class:`AdamW`)."""
    return AdamW(groups, betas=(0.9, 0.99), eps=1e-15, weight_decay=weight_decay)


@dataclass
class TrainState:
    """Everything of a run's progress that a checkpoint must carry for ``--resume``.

    Attributes:
        optimizer, scheduler: the optimiser and its learning-rate schedule.
        scaler: loss scaling for fp16 autocast (enabled on CUDA only).
        generator: the run's random generator (every draw of the task uses it).
        autocast: the dtype the steps run under autocast in (:func:`autocast_dtype`), or None.
        step: optimisation steps done.
        seconds, cpu_seconds: wall and processor time of the steps done (across resumes), probes
            excluded.
        curve: the learning curve so far, one point per probe: ``{"step", "seconds",
            "cpu_seconds", **probe.measure(...)}`` (seconds and cpu_seconds: training time so far).
        probe_seconds, probe_cpu_seconds: wall and processor time spent probing.
    """

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    generator: torch.Generator
    autocast: torch.dtype | None = None
    step: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    curve: list[dict] = field(default_factory=list)
    probe_seconds: float = 0.0
    probe_cpu_seconds: float = 0.0
    _clock: tuple[float, float] = field(default=(0.0, 0.0), repr=False)

    @staticmethod
    def create(
        optimizer, scheduler, device: torch.device, seed: int, precision: str = "auto", student: str | None = None
    ) -> TrainState:
        """A fresh state; seeds torch's global RNG and the run's generator with ``seed``; the steps
        (a distillation's into a ``student`` model) run at ``precision`` (:data:`PRECISIONS`,
        :func:`autocast_dtype`)."""
        dtype = autocast_dtype(precision, device, student)
        torch.manual_seed(seed)
        scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
        return TrainState(optimizer, scheduler, scaler, torch.Generator().manual_seed(seed), dtype)

    def start_clock(self) -> None:
        self._clock = (time.perf_counter(), time.process_time())

    def tick(self) -> None:
        """Add the time since the last tick (or :meth:`start_clock`) to ``seconds``/``cpu_seconds``."""
        now = (time.perf_counter(), time.process_time())
        self.seconds += now[0] - self._clock[0]
        self.cpu_seconds += now[1] - self._clock[1]
        self._clock = now

    def optimizer_step(self, loss: torch.Tensor, lr_factor: float = 1.0) -> None:
        """Clear the gradients, backpropagate ``loss`` (scaled under fp16), step the optimiser at
        ``lr_factor`` times the scheduled rates (the schedule's own state is untouched) and step the
        schedule."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        groups = self.optimizer.param_groups
        rates = [g["lr"] for g in groups]
        if lr_factor != 1.0:
            for g in groups:
                g["lr"] = g["lr"] * lr_factor
        self.scaler.step(self.optimizer)
        for g, lr in zip(groups, rates):
            g["lr"] = lr
        self.scaler.update()
        self.scheduler.step()

    def state_dict(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "step": self.step,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "curve": [dict(p) for p in self.curve],
            "probe_seconds": self.probe_seconds,
            "probe_cpu_seconds": self.probe_cpu_seconds,
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.step, self.seconds, self.cpu_seconds = int(state["step"]), state["seconds"], state["cpu_seconds"]
        self.curve = [dict(p) for p in state.get("curve", [])]
        self.probe_seconds = state.get("probe_seconds", 0.0)
        self.probe_cpu_seconds = state.get("probe_cpu_seconds", 0.0)


class Task(Protocol):
    """What a kind of training adds to the engine."""

    label: str

    def loss(self, step: int, log) -> torch.Tensor:
        """The scalar loss of ``step`` (run under autocast); ``log(message)`` prints a line."""

    def lr_factor(self, step: int) -> float:
        """The factor on the scheduled learning rates at ``step`` (1.0 but in a warm-up)."""

    def after_step(self, step: int) -> dict[str, float]:
        """Bookkeeping after the optimiser step; returns values for the progress bar."""

    def diverged(self, step: int, value: float) -> str:
        """The message of a non-finite loss at ``step``."""

    def finished(self, done: int, curve: list[dict]) -> bool:
        """Whether the run ends after ``done`` steps, before ``iters`` (a stopping rule reading the
        learning curve so far, its point after ``done`` steps included when one was due); the
        engine then writes no resumable checkpoint and returns ``done``."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class Probe(Protocol):
    """A learning-curve probe (e.g. :class:`pvd.evaluate.probe.CurveProbe`; the command layer wires it in).

    Attributes:
        points: how many evenly spaced steps to measure at (0: none).
    """

    points: int

    def measure(self, model: Model) -> dict[str, float]:
        """Values of the curve point (e.g. ``{"psnr": ...}``); called in eval mode under ``no_grad``.
        Must not draw from any random generator."""


def probe_steps(iters: int, points: int) -> tuple[int, ...]:
    """``points`` evenly spaced steps in ``[0, iters]``, both ends included (fewer when ``iters`` is
    small, none for ``points == 0``): the steps after which a probe measures the model."""
    if points <= 0:
        return ()
    if points == 1:
        return (iters,)
    return tuple(sorted({round(i * iters / (points - 1)) for i in range(points)}))


def _rng_states() -> tuple:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    return torch.get_rng_state(), cuda


def _restore_rng(states: tuple) -> None:
    torch.set_rng_state(states[0])
    if states[1] is not None:
        torch.cuda.set_rng_state_all(states[1])


def take_probe(probe: Probe, model: Model, state: TrainState) -> dict:
    """Measure ``model`` after ``state.step`` steps and append the point to ``state.curve``.

    The training clock stops while probing (its time goes to ``state.probe_seconds``/``probe_cpu_seconds``);
    torch's RNG states and the field's train/eval mode are as before afterwards.
    """
    state.tick()
    rng, was_training = _rng_states(), model.field.training
    model.field.eval()
    t0 = (time.perf_counter(), time.process_time())
    try:
        with torch.no_grad():
            values = probe.measure(model)
    finally:
        model.field.train(was_training)
        _restore_rng(rng)
    state.probe_seconds += time.perf_counter() - t0[0]
    state.probe_cpu_seconds += time.process_time() - t0[1]
    point = {
        "step": state.step,
        "seconds": round(state.seconds, 3),
        "cpu_seconds": round(state.cpu_seconds, 3),
        **{k: float(v) for k, v in values.items()},
    }
    state.curve.append(point)
    state.start_clock()
    return point


def _probe_due(state: TrainState, steps: Sequence[int]) -> bool:
    """A probe step not yet measured (a resumed run does not measure its first step twice)."""
    return state.step in steps and not (state.curve and state.curve[-1]["step"] == state.step)


def checkpoint_due(done: int, end: int, iters: int, ckpt_every: int) -> bool:
    """Whether a resumable checkpoint is written after ``done`` steps: every ``ckpt_every`` steps
    (0: never) and when a run stops early at ``end``; never after the last step."""
    return done < iters and ((ckpt_every > 0 and done % ckpt_every == 0) or done == end)


def resume(ckpt_path: Path, model: Model, state: TrainState, task: Task) -> None:
    """Continue from the resumable checkpoint at ``ckpt_path``: model tensors, engine and task state."""
    stored = read_checkpoint(ckpt_path)
    if stored.train_state is None:
        raise SpecError("resume", f"{ckpt_path} holds no training state (a finished run?)")
    load_state(model, stored)
    state.load_state_dict(stored.train_state["engine"])
    task.load_state_dict(stored.train_state["task"])
    model.at_step(state.step)


def run_steps(
    task: Task,
    model: Model,
    state: TrainState,
    *,
    iters: int,
    ckpt_path: Path,
    ckpt_every: int,
    stop_at: int | None = None,
    progress: bool = True,
    probe: Probe | None = None,
) -> int:
    """Run steps ``state.step .. min(stop_at, iters)`` of ``task`` on ``model`` (fewer when the task
    has :meth:`Task.finished`); returns the number of steps done.

    ``model`` is the model being trained (its field's parameters are those of ``state.optimizer``).
    With ``probe``, the learning curve is measured at :func:`probe_steps` ``(iters, probe.points)``
    into ``state.curve`` (see :func:`take_probe`).
    """
    end = iters if stop_at is None else min(stop_at, iters)
    device_type = next(model.grid.buffers()).device.type
    bar = tqdm(
        range(state.step, end),
        initial=state.step,
        total=iters,
        disable=not progress,
        desc=task.label,
        dynamic_ncols=True,
        mininterval=1.0,
    )
    log = bar.write if progress else (lambda message: print(message, flush=True))
    at = probe_steps(iters, probe.points) if probe is not None else ()
    model.field.train()
    state.start_clock()
    if _probe_due(state, at):
        take_probe(probe, model, state)
    for step in bar:
        with torch.autocast(device_type, dtype=state.autocast or torch.bfloat16, enabled=state.autocast is not None):
            loss = task.loss(step, log)
        if not torch.isfinite(loss):
            raise TrainingDiverged(task.diverged(step, loss.item()))
        state.optimizer_step(loss, task.lr_factor(step))
        values = task.after_step(step)
        if progress and step % PROGRESS_EVERY == 0:
            bar.set_postfix({k: f"{v:.4g}" for k, v in values.items()})
        state.step = step + 1
        if _probe_due(state, at):
            take_probe(probe, model, state)
        done_early = task.finished(state.step, state.curve) and state.step < iters
        if done_early and probe is not None and probe.points > 0 and state.curve[-1]["step"] != state.step:
            take_probe(probe, model, state)
        if done_early:
            end = state.step
            break
        if checkpoint_due(state.step, end, iters, ckpt_every):
            state.tick()
            model.at_step(state.step)
            save_checkpoint(ckpt_path, model, {"engine": state.state_dict(), "task": task.state_dict()})
    state.tick()
    bar.close()
    model.field.eval()
    model.at_step(end)
    return end
