"""Progressive volume distillation: train a student field to reproduce a frozen teacher (docs/method.md).

One step:

1. a batch of rays from this epoch's data-free poses (:mod:`pvd.data.poses`; optionally mixed with
   real training pixels and PVD-AL's hard-ray pool), each with a background colour (random per ray
   by default, so that matching rendered colours pins down opacity);
2. **one** march of the batch through the *teacher's* occupancy grid;
3. the frozen teacher (eval mode, no grad) evaluated on those samples; samples the teacher hides
   (transmittance in front of them below ``visibility_cutoff``: they cannot change a rendered
   colour by more than that) are dropped, and the student is evaluated on exactly the remaining
   ones, both composited with the same step sizes and backgrounds;
4. the stage schedule's loss terms (:mod:`pvd.train.stages`, :mod:`pvd.train.losses`), AdamW
   (β 0.9/0.99, eps 1e-15, weight decay ``weight_decay``) with a cosine learning rate to ``lr_final``.

The teacher's grid is never updated. After the run :func:`rebuild_grid` gives the student an
occupancy grid of its own density (by default within the teacher's occupied cells, where it was
distilled; see ``STUDENT_GRIDS``), so its checkpoint stands alone. Checkpoints are written
atomically every ``ckpt_every`` steps with the full resume state (optimiser, scheduler, RNGs,
current epoch's poses, PVD-AL state); ``resume=True`` continues from ``WS/checkpoint.pt``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from pvd.data.poses import PoseSampler
from pvd.data.scene import SceneSplit
from pvd.errors import SpecError, UserError
from pvd.model import Model
from pvd.names import ModelName
from pvd.render import Renderer, evaluate_field
from pvd.render.compositing import transmittance
from pvd.train import loop
from pvd.train.active import ActiveConfig, top_weight_mask
from pvd.train.converge import PlateauLR, StopConfig, StopRule
from pvd.train.distill_rays import Batch, BatchSource
from pvd.train.loop import Probe, TrainState, adamw
from pvd.train.losses import LossTerms, LossWeights, check_loss_type, compute_terms
from pvd.train.stages import StageConfig, StageSchedule

INIT_MODES = ("teacher", "scratch")
# the occupancy grid saved with the student:
#   masked  -- rebuilt from the student's own density, restricted to the teacher's occupied cells
#              (the region it was distilled on: outside it the student only saw sparse empty samples,
#              and a smooth field such as the mlp leaves a halo of density around surfaces there)
#   own     -- rebuilt from the student's own density wherever a training camera sees
#   teacher -- the teacher's grid, unchanged (the reference's behaviour)
STUDENT_GRIDS = ("masked", "own", "teacher")
RECENT_STEPS = 20


@dataclass(frozen=True)
class DistillConfig:
    """Schedule and options of one distillation run.

    Attributes:
        iters: optimisation steps.
        batch_rays: rays per step.
        lr: base learning rate (per-part factors from the student's ``param_groups``).
        lr_final: the cosine schedule's final learning rate (absolute, as the reference).
        weight_decay: AdamW weight decay.
        loss_type: ``normL2`` | ``L2`` | ``L1`` | ``smoothL1``.
        stages: stage boundaries and loss weights.
        active: PVD-AL options.
        stop: the stopping rule (:mod:`pvd.train.converge`; ``off``: always ``iters`` steps).
        init: ``teacher`` (copy every tensor whose name and shape match) or ``scratch``.
        student_grid: the grid saved with the student, one of ``STUDENT_GRIDS``.
        grid_passes: full-grid density passes of a rebuild.
        empty_sample_ratio: share of the teacher's empty cells also sampled each step (the
            student learns the empty space too; see :func:`march_renderer`).
        visibility_cutoff: drop samples behind which the teacher's transmittance is below this
            (0 keeps every sample, as the reference). On opaque scenes ~40 % of the marched
            samples lie behind surfaces; the student never needs them to render.
        poses_per_epoch: data-free poses per epoch (None: the dataset type's default); an epoch
            lasts that many steps, as in the reference (one pose's worth of rays per step).
        use_real_poses: use the training cameras instead of sampled poses (teacher renders stay
            the targets).
        real_ray_fraction: share of each batch taken from real training pixels, whose rendered
            colour target is the ground truth instead of the teacher.
        random_background: random background colour per ray (else white).
        jitter_pixels: ray positions uniform inside pixels.
        ckpt_every: steps between periodic checkpoints (0: final only).
        precision: arithmetic of the steps, one of ``pvd.train.loop.PRECISIONS`` (``auto``: fp16
            autocast on CUDA, float32 on the CPU; ``bf16``: bfloat16 autocast).
        seed: seed of every random draw.
    """

    iters: int = 30000
    batch_rays: int = 4096
    lr: float = 1e-2
    lr_final: float = 7e-5
    weight_decay: float = 0.01
    loss_type: str = "normL2"
    stages: StageConfig = field(default_factory=StageConfig)
    active: ActiveConfig = field(default_factory=ActiveConfig)
    stop: StopConfig = field(default_factory=StopConfig)
    init: str = "teacher"
    student_grid: str = "masked"
    grid_passes: int = 8
    empty_sample_ratio: float = 0.05
    visibility_cutoff: float = 1e-3
    poses_per_epoch: int | None = None
    use_real_poses: bool = False
    real_ray_fraction: float = 0.0
    random_background: bool = True
    jitter_pixels: bool = True
    ckpt_every: int = 1000
    precision: str = "auto"
    seed: int = 0

    def check(self) -> None:
        """Clear errors for values out of range (names the option)."""
        check_loss_type(self.loss_type)
        self.stop.check()
        if self.init not in INIT_MODES:
            raise SpecError("init", f"{self.init!r} is unknown; expected one of {list(INIT_MODES)}")
        if self.student_grid not in STUDENT_GRIDS:
            raise SpecError("student_grid", f"{self.student_grid!r} is unknown; expected one of {list(STUDENT_GRIDS)}")
        if self.iters < 1:
            raise SpecError("iters", f"must be >= 1, got {self.iters}")
        if self.batch_rays < 1:
            raise SpecError("batch_rays", f"must be >= 1, got {self.batch_rays}")
        if not self.lr > 0:
            raise SpecError("lr", f"must be > 0, got {self.lr}")
        if not self.lr_final >= 0:
            raise UserError(f"distill config: lr_final must be >= 0, got {self.lr_final}")
        if self.lr_final > self.lr:
            raise SpecError("lr", f"must be >= the final learning rate (lr_final {self.lr_final:g}), got {self.lr}")
        if self.weight_decay < 0:
            raise SpecError("weight_decay", f"must be >= 0, got {self.weight_decay}")
        if not 0 <= self.real_ray_fraction <= 1:
            raise SpecError("real_ray_fraction", f"must be in [0, 1], got {self.real_ray_fraction}")
        if not 0 <= self.visibility_cutoff < 1:
            raise SpecError("visibility_cutoff", f"must be in [0, 1), got {self.visibility_cutoff}")
        if not 0 <= self.empty_sample_ratio <= 1:
            raise SpecError("empty_sample_ratio", f"must be in [0, 1], got {self.empty_sample_ratio}")
        if self.grid_passes < 1:
            raise UserError(f"grid_passes must be >= 1, got {self.grid_passes}")


@dataclass
class DistillResult:
    """What a distillation run did.

    Attributes:
        steps, seconds: steps run (in total, across resumes) and wall time.
        cpu_seconds: processor time of this process over the same span (all threads); on a
            shared machine it tells the work done apart from the time spent waiting for a core.
        final_losses: mean of each term over the last steps in which it was active.
        stages: the schedule's stages (name, start, end, iterations) with their final losses.
        grid_occupancy: occupied share of the student's grid as saved (or None if the run stopped
            at ``stop_at``).
        finished: whether the run ended (the cap, or the stopping rule) rather than at ``stop_at``.
        stop: what the stopping rule did (:meth:`StopRule.describe`), None when it is off.
        curve, probe_seconds, probe_cpu_seconds: the learning curve (measured while the student
            still marches on the teacher's grid, before the rebuild) and the probes' time; empty
            and 0 without a probe.
    """

    steps: int
    seconds: float
    cpu_seconds: float
    final_losses: dict[str, float]
    stages: list[dict]
    grid_occupancy: float | None = None
    finished: bool = True
    stop: dict | None = None
    curve: list[dict] = field(default_factory=list)
    probe_seconds: float = 0.0
    probe_cpu_seconds: float = 0.0


def freeze(model: Model) -> None:
    """Teacher: eval mode, no parameter takes gradients."""
    model.field.eval()
    for p in model.field.parameters():
        p.requires_grad_(False)


def init_student(student: Model, teacher: Model, mode: str) -> list[str]:
    """Initialise ``student`` from ``teacher``; returns the names of the copied field tensors.

    The teacher's occupancy grid is always copied (the student marches on it during
    distillation). ``mode='teacher'`` also copies every field tensor whose name and shape match
    (all of them for a same-type pair); ``'scratch'`` keeps the student's random initialisation.
    """
    student.grid.load_state_dict(teacher.grid.state_dict())
    if mode == "scratch":
        return []
    src = teacher.field.state_dict()
    dst = student.field.state_dict()
    copied = [k for k, v in dst.items() if k in src and src[k].shape == v.shape]
    with torch.no_grad():
        for k in copied:
            dst[k].copy_(src[k])
    return copied


@torch.no_grad()
def rebuild_grid(model: Model, passes: int, generator: torch.Generator, region: torch.Tensor | None = None) -> float:
    """Re-estimate ``model``'s occupancy grid from its own density; returns the occupied share.

    Cells unseen by the training cameras stay empty; every other cell's density is the maximum
    of ``passes`` jittered probes, thresholded as in training. With ``region`` (bool, the grid's
    shape [C, R, R, R]) cells outside it stay empty too.
    """
    grid, cfg = model.grid, model.renderer.config
    grid.density.zero_()
    grid.n_updates.zero_()
    grid.occupancy.copy_(grid.seen)
    was_training = model.field.training
    model.field.eval()
    for k in range(passes):
        grid.update(
            model.field.density,
            k,
            density_thresh=cfg.density_thresh,
            decay=1.0,
            update_every=1,
            warmup_steps=0,
            full_updates=passes,
            chunk=cfg.density_chunk,
            generator=generator,
        )
    model.field.train(was_training)
    if region is not None:
        grid.occupancy &= region
    return grid.occupied_fraction()


def make_optimizer(student: Model, cfg: DistillConfig):
    """The teachers' AdamW (β 0.9/0.99, eps 1e-15, fused) with a cosine schedule to ``cfg.lr_final``
    over ``cfg.iters`` steps; with a stopping rule, the same until it fires, then a cosine tail
    (:class:`PlateauLR`)."""
    opt = adamw(student.field.param_groups(cfg.lr), cfg.weight_decay)
    if cfg.stop.enabled:
        return opt, PlateauLR(opt, cfg.iters, cfg.lr_final)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.iters, eta_min=cfg.lr_final)
    return opt, sched


def march_renderer(teacher: Model, cfg: DistillConfig) -> Renderer:
    """The renderer that marches distillation batches: the teacher's field, grid and settings, with
    ``cfg.empty_sample_ratio`` of the teacher's empty (but seen) cells sampled as well, so that the
    student also learns where the scene is empty and its own grid can be rebuilt from its density."""
    config = replace(teacher.renderer.config, empty_keep_ratio=cfg.empty_sample_ratio)
    return Renderer(teacher.field, teacher.grid, config)


def needs_teacher_samples(weights: LossWeights, cfg: DistillConfig, batch: Batch) -> bool:
    """Whether a step evaluates the teacher's field at the samples: for a per-sample term, the
    visibility cut-off, a rendered target of a data-free ray (not a real pixel), the depth term or
    PVD-AL's point selection. A step on real (or pre-rendered) pixels with the rendered colour term
    alone skips it (a ``gs`` teacher's targets are its rasterised views: :mod:`pvd.train.splat_distill`)."""
    return (
        weights.needs_samples
        or weights.depth > 0
        or cfg.visibility_cutoff > 0
        or cfg.active.point_top
        or not bool(batch.real.all())
    )


def distill_step(
    marcher: Renderer,
    teacher: Model,
    student: Model,
    batch: Batch,
    weights: LossWeights,
    cfg: DistillConfig,
    generator: torch.Generator,
    want_errors: bool,
) -> tuple[LossTerms, torch.Tensor | None]:
    """March once (``marcher``, on the teacher's grid), drop the samples the teacher hides, evaluate
    both fields on the same remaining samples and compute the loss terms. Returns the terms and,
    when ``want_errors``, the per-ray squared colour error [n_rays]. The teacher's field is
    evaluated only when the step needs it (:func:`needs_teacher_samples`).
    """
    samples = marcher.march(batch.rays, train=True, generator=generator)
    t_out = None
    if needs_teacher_samples(weights, cfg, batch):
        with torch.no_grad():
            t_out = evaluate_field(teacher.field, samples)
            if cfg.visibility_cutoff > 0:
                keep = transmittance(t_out.sigma, samples) >= cfg.visibility_cutoff
                samples, t_out = samples.select(keep), t_out.select(keep)
    s_out = evaluate_field(student.field, samples)
    act = cfg.active
    render = weights.needs_render or want_errors or act.point_top
    rgb = depth = mask = errors = None
    if render:
        s_img = marcher.composite(samples, s_out, batch.bg)
        target = batch.gt
        if t_out is not None:
            with torch.no_grad():
                t_img = marcher.composite(samples, t_out, batch.bg)
            target = torch.where(batch.real[:, None], batch.gt, t_img.rgb)
            depth = (s_img.depth, t_img.depth)
        rgb = (s_img.rgb, target)
        if want_errors:
            errors = (s_img.rgb.detach() - target).square().sum(-1)
        if act.point_top:
            mask = top_weight_mask(
                t_img.weights, samples.ray_indices, t_img.opacity, act.point_top_ratio, act.point_min_opacity
            )
    terms = compute_terms(
        weights,
        cfg.loss_type,
        student.field.density_range,
        t_out,
        s_out,
        rgb=rgb if weights.rgb > 0 else None,
        depth=depth if weights.depth > 0 else None,
        sample_mask=mask,
    )
    return terms, errors


class DistillTask:
    """One distillation step (:func:`distill_step`) with the stage schedule, the batch source and the
    loss bookkeeping (recent steps' terms, each stage's last terms)."""

    def __init__(
        self,
        teacher: Model,
        student: Model,
        source: BatchSource,
        cfg: DistillConfig,
        generator: torch.Generator,
        device: torch.device,
        label: str,
        stop: StopRule | None = None,
    ):
        self.teacher, self.student, self.source, self.cfg, self.stop = teacher, student, source, cfg, stop
        self.gen, self.device, self.label = generator, device, label
        self.marcher = march_renderer(teacher, cfg)
        self.schedule = StageSchedule(cfg.stages, cfg.iters, teacher.field.has_feature and student.field.has_feature)
        self.steps_per_epoch = max(1, source.sampler.n_poses)
        self.recent: deque[dict] = deque(maxlen=RECENT_STEPS)
        self.stage_losses: dict[str, dict] = {}
        self._stage = None
        self._step: tuple | None = None

    def loss(self, step: int, log) -> torch.Tensor:
        stage = self.schedule.stage_at(step)
        if stage != self._stage:
            self._stage = stage
            log(
                f"{self.label}: step {step}: stage '{stage.name}' (steps {stage.start}-{stage.end}, "
                f"terms {', '.join(self.schedule.weights_at(step).active())})"
            )
        with loop.full_precision(self.device):
            if step % self.steps_per_epoch == 0 or self.source.views is None:
                self.source.new_epoch()
            batch = self.source.draw(self.device)
        terms, errors = distill_step(
            self.marcher,
            self.teacher,
            self.student,
            batch,
            self.schedule.weights_at(step),
            self.cfg,
            self.gen,
            self.cfg.active.needs_ray_errors,
        )
        self._step = (batch, terms, errors)
        return terms.total

    def lr_factor(self, step: int) -> float:
        return self.schedule.lr_factor(step)

    def after_step(self, step: int) -> dict[str, float]:
        batch, terms, errors = self._step
        if errors is not None:
            self.source.observe(batch, errors)
        values = terms.as_floats()
        self.recent.append(values)
        self.stage_losses[self._stage.name] = values
        return values

    def finished(self, done: int, curve: list[dict]) -> bool:
        return self.stop is not None and self.stop.finished(done, curve)

    def diverged(self, step: int, value: float) -> str:
        return (
            f"distillation into {self.student.model_type} diverged at step {step} (stage "
            f"{self.schedule.stage_at(step).name}): loss is {value}; try a lower learning rate (lr) or another seed"
        )

    def state_dict(self) -> dict:
        return {
            "source": self.source.state_dict(),
            "recent": list(self.recent),
            "stage_losses": dict(self.stage_losses),
        }

    def load_state_dict(self, state: dict) -> None:
        self.source.load_state_dict(state["source"])
        self.recent.extend(state["recent"])
        self.stage_losses = dict(state["stage_losses"])


def distill(
    teacher: Model,
    student: Model,
    sampler: PoseSampler,
    cfg: DistillConfig,
    workspace: Path,
    device: torch.device,
    resume: bool = False,
    progress: bool = True,
    real: SceneSplit | None = None,
    label: str = "distill",
    stop_at: int | None = None,
    probe: Probe | None = None,
) -> DistillResult:
    """Distill ``teacher`` into ``student`` in place; checkpoints go to ``workspace/checkpoint.pt``.

    ``student`` must already be initialised (:func:`init_student`); ``real`` is the training split
    with images, needed only for ``cfg.real_ray_fraction > 0``. With ``stop_at``, the run stops
    after that step with a resumable checkpoint (``DistillResult.steps == stop_at``, no grid rebuild).
    ``probe`` measures the learning curve (:mod:`pvd.train.loop`); the stopping rule (``cfg.stop``)
    reads it, so it needs a probe that scores the student against the teacher (``psnr_vs_teacher``).
    """
    cfg.check()
    if cfg.stop.enabled and (probe is None or probe.points < cfg.stop.curve_points(0)):
        raise SpecError(
            "curve_points",
            f"the stopping rule reads the learning curve: it needs a probe of at least "
            f"{cfg.stop.curve_points(0)} points",
        )
    ckpt_path = workspace / "checkpoint.pt"
    freeze(teacher)
    state = TrainState.create(*make_optimizer(student, cfg), device, cfg.seed, cfg.precision, student.model_type)
    source = BatchSource(
        sampler,
        teacher.normalization,
        cfg.batch_rays,
        cfg.active,
        state.generator,
        real,
        cfg.real_ray_fraction,
        cfg.random_background,
        cfg.jitter_pixels,
    )
    rule = None
    if cfg.stop.enabled:
        start = StageSchedule(cfg.stages, cfg.iters, teacher.field.has_feature and student.field.has_feature).stages[-1]
        interval = math.ceil(cfg.iters / (probe.points - 1))
        rule = StopRule(cfg.stop, cfg.iters, start.start + interval, state.scheduler)
    task = DistillTask(teacher, student, source, cfg, state.generator, device, label, rule)
    if resume and ckpt_path.exists():
        loop.resume(ckpt_path, student, state, task)
    end = loop.run_steps(
        task,
        student,
        state,
        iters=cfg.iters,
        ckpt_path=ckpt_path,
        ckpt_every=cfg.ckpt_every,
        stop_at=stop_at,
        progress=progress,
        probe=probe,
    )
    occupancy = None
    finished = end == cfg.iters or task.finished(end, state.curve)
    if finished:
        if cfg.student_grid == "teacher":
            occupancy = student.grid.occupied_fraction()
        else:
            region = teacher.grid.occupancy if cfg.student_grid == "masked" else None
            occupancy = rebuild_grid(student, cfg.grid_passes, state.generator, region)
    stages = [{**s, "final_losses": task.stage_losses.get(s["name"], {})} for s in task.schedule.describe()]
    return DistillResult(
        end,
        state.seconds,
        state.cpu_seconds,
        mean_losses(list(task.recent)),
        stages,
        occupancy,
        finished,
        None if rule is None else rule.describe(end, state.curve),
        state.curve,
        state.probe_seconds,
        state.probe_cpu_seconds,
    )


def mean_losses(recent: list[dict]) -> dict[str, float]:
    """Per-term mean over the steps in which each term was present."""
    keys = {k for r in recent for k in r}
    return {k: sum(r[k] for r in recent if k in r) / sum(1 for r in recent if k in r) for k in sorted(keys)}


def pair_name(teacher_type: str, student_type: str) -> str:
    """``{teacher}2{student}``, e.g. ``hash2vm`` (see :class:`pvd.names.ModelName`)."""
    return str(ModelName(teacher_type, student_type))
