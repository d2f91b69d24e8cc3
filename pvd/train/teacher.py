"""Teacher training: fit a field to a scene's real training images (docs/method.md).

One step: sample ``batch_rays`` pixels (jittered inside the pixel, since ground truth is
anti-aliased), march them through the occupancy grid, composite over a background (random per
ray for RGBA data, white otherwise), MSE against the ground truth (+ the field's regulariser,
e.g. TensoRF's L1), AdamW with exponential decay to ``lr_final_ratio``. The occupancy grid is
refreshed every ``update_every`` steps by the renderer's grid.

The loop, checkpoints and ``--resume`` are the engine's (:mod:`pvd.train.loop`); this module
supplies the step (:class:`TeacherTask`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pvd.data.cameras import pixel_rays, sample_pixels
from pvd.data.scene import SceneSplit
from pvd.model import Model
from pvd.train import loop
from pvd.train.loop import Probe, TrainState, adamw
from pvd.train.losses import distortion


@dataclass(frozen=True)
class TeacherConfig:
    """Optimisation schedule of teacher training.

    Attributes:
        iters: optimisation steps.
        batch_rays: rays per step.
        lr: base learning rate (per-part factors come from the field's ``param_groups``).
        lr_final_ratio: the lr decays exponentially to ``lr * lr_final_ratio`` at ``iters``.
        weight_decay: AdamW weight decay.
        reg_weight: weight of the field's regulariser (TensoRF L1: 1e-4; 0 for the others).
        distortion_weight: weight of the distortion loss (:func:`pvd.train.losses.distortion`, the
            mean over the batch's rays): it makes the field decisive -- each ray's weight in one
            short stretch -- so fewer samples stay visible along a ray; 0: off.
        rays_from_one_image: draw each batch from one random training image (the reference) or
            from all images at once.
        jitter_pixels: sample ray positions uniformly inside pixels instead of at centres.
        ckpt_every: steps between periodic checkpoints (0: only the final one).
        precision: arithmetic of the steps, one of ``pvd.train.loop.PRECISIONS`` (``auto``: fp16
            autocast on CUDA, float32 on the CPU; ``bf16``: bfloat16 autocast).
        seed: seed of every random draw.
    """

    iters: int = 1000
    batch_rays: int = 4096
    lr: float = 1e-2
    lr_final_ratio: float = 0.1
    weight_decay: float = 0.01
    reg_weight: float = 0.0
    distortion_weight: float = 0.0
    rays_from_one_image: bool = False
    jitter_pixels: bool = True
    ckpt_every: int = 1000
    precision: str = "auto"
    seed: int = 0


@dataclass
class TrainResult:
    """What a training run measured.

    Attributes:
        curve, probe_seconds, probe_cpu_seconds: the learning curve and the probes' time (see
            :class:`pvd.train.loop.TrainState`); empty and 0 without a probe.
    """

    steps: int
    initial_loss: float
    final_loss: float
    seconds: float
    cpu_seconds: float
    losses: list[float]
    curve: list[dict] = field(default_factory=list)
    probe_seconds: float = 0.0
    probe_cpu_seconds: float = 0.0


def composite_gt(pixels: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
    """[n, C] ground-truth pixels (RGB or RGBA) over [n, 3] or [3] background -> [n, 3]."""
    if pixels.shape[-1] == 4:
        alpha = pixels[:, 3:4]
        return pixels[:, :3] * alpha + bg * (1 - alpha)
    return pixels[:, :3]


def make_optimizer(model: Model, cfg: TeacherConfig):
    """AdamW (β 0.9/0.99, eps 1e-15) with exponential decay over ``cfg.iters`` steps."""
    opt = adamw(model.field.param_groups(cfg.lr), cfg.weight_decay)
    gamma = cfg.lr_final_ratio ** (1.0 / max(cfg.iters, 1))
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma)
    return opt, sched


class TeacherTask:
    """One teacher step: random training pixels, render, MSE (+ regulariser); keeps the losses."""

    def __init__(
        self, model: Model, split: SceneSplit, cfg: TeacherConfig, generator: torch.Generator, device: torch.device
    ):
        self.model, self.split, self.cfg, self.gen, self.device = model, split, cfg, generator, device
        self.images = split.images.reshape(len(split), -1, split.images.shape[-1])
        self.label = f"train {model.model_type}"
        self.losses: list[float] = []
        self._loss: torch.Tensor | None = None

    def loss(self, step: int, log) -> torch.Tensor:
        model, cfg, cams, gen, device = self.model, self.cfg, self.split.cameras, self.gen, self.device
        model.renderer.update_grid(step, generator=gen)
        px = sample_pixels(
            len(self.split),
            cams.width,
            cams.height,
            cfg.batch_rays,
            gen,
            jitter=cfg.jitter_pixels,
            single_view=cfg.rays_from_one_image,
        )
        with loop.full_precision(device):
            rays = pixel_rays(cams, px.view, px.u, px.v, model.normalization).to(device)
        target = self.images[px.view, px.row * cams.width + px.col].to(device)
        bg = (
            torch.rand(cfg.batch_rays, 3, generator=gen).to(device)
            if self.split.has_alpha
            else torch.ones(3, device=device)
        )
        out = model.renderer.render_rays(rays, bg, train=True, generator=gen)
        loss = torch.mean((out.rgb.float() - composite_gt(target, bg)) ** 2)
        if cfg.reg_weight > 0:
            loss = loss + cfg.reg_weight * model.field.regularizer()
        if cfg.distortion_weight > 0:
            smp = out.samples
            loss = (
                loss
                + cfg.distortion_weight * distortion(out.weights, smp.t, smp.deltas, smp.ray_indices, len(rays)).mean()
            )
        self._loss = loss
        return loss

    def lr_factor(self, step: int) -> float:
        return 1.0

    def after_step(self, step: int) -> dict[str, float]:
        mse = float(self._loss.item())
        self.losses.append(mse)
        return {"loss": mse, "psnr": -10 * math.log10(max(mse, 1e-10))}

    def finished(self, done: int, curve: list[dict]) -> bool:
        return False

    def diverged(self, step: int, value: float) -> str:
        return (
            f"training of {self.model.model_type} diverged at step {step}: loss is {value}; "
            "try a lower learning rate (lr) or another seed"
        )

    def state_dict(self) -> dict:
        return {"losses": list(self.losses)}

    def load_state_dict(self, state: dict) -> None:
        self.losses = list(state["losses"])


def train_teacher(
    model: Model,
    split: SceneSplit,
    cfg: TeacherConfig,
    workspace: Path,
    device: torch.device,
    resume: bool = False,
    progress: bool = True,
    stop_at: int | None = None,
    probe: Probe | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``split``; checkpoints go to ``workspace/checkpoint.pt``.

    With ``stop_at``, training stops after that step with a resumable checkpoint
    (``TrainResult.steps == stop_at``). ``probe`` measures the learning curve (:mod:`pvd.train.loop`).
    """
    ckpt_path = workspace / "checkpoint.pt"
    if model.model_type == "gs":  # whole images by rasterisation, adaptive density control
        from pvd.train.splat import GSTeacherTask, gs_optimizer

        state = TrainState.create(*gs_optimizer(model.field, cfg), device, cfg.seed, cfg.precision)
        task = GSTeacherTask(model, split, cfg, state.generator, device, state.optimizer)
    else:
        state = TrainState.create(*make_optimizer(model, cfg), device, cfg.seed, cfg.precision)
        task = TeacherTask(model, split, cfg, state.generator, device)
    if resume and ckpt_path.exists():
        loop.resume(ckpt_path, model, state, task)
    end = loop.run_steps(
        task,
        model,
        state,
        iters=cfg.iters,
        ckpt_path=ckpt_path,
        ckpt_every=cfg.ckpt_every,
        stop_at=stop_at,
        progress=progress,
        probe=probe,
    )
    if model.model_type == "gs" and end == cfg.iters:  # the volume renderer's grid, from the point density
        from pvd.train.distill import rebuild_grid

        rebuild_grid(model, 4, state.generator)
    losses = task.losses
    return TrainResult(
        end,
        window_mean(losses[:10]),
        window_mean(losses[-20:]),
        state.seconds,
        state.cpu_seconds,
        losses,
        state.curve,
        state.probe_seconds,
        state.probe_cpu_seconds,
    )


def window_mean(values: list[float]) -> float:
    """Mean of a few losses (NaN for none): steadier than a single step's value."""
    return sum(values) / len(values) if values else float("nan")
