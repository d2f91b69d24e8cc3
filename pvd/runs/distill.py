"""``distill``: distil a teacher checkpoint into another architecture.

Writes ``WS/checkpoint.pt`` (a self-describing checkpoint of the student's architecture, with an
occupancy grid of its own, that evaluate and render read unchanged) and ``WS/record.json`` (pair,
stages and their iterations, seconds, final losses per term, student test PSNR against the ground
truth and against the teacher's renders). The teacher's architecture and data type come from its
checkpoint; a ``teacher_type`` or ``data_type`` that is given must agree with it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from pvd.data import index_split, load_split
from pvd.data.index import scene_hash
from pvd.data.poses import PoseSampler
from pvd.data.scene import SceneSplit
from pvd.evaluate.evaluate import evaluate_model
from pvd.evaluate.probe import CurveProbe
from pvd.evaluate.render_cache import teacher_renders
from pvd.evaluate.scene_check import check_scene
from pvd.fields import ARCHS, MODEL_TYPES
from pvd.metrics import mse, psnr_from_mse
from pvd.model import Model, ModelMeta, build_model, save_checkpoint
from pvd.presets import arch_preset, distill_config
from pvd.runs.common import TrainingOptions, density_range_problem
from pvd.runs.device import prepare_device
from pvd.runs.inputs import InputOptions, read_input
from pvd.runs.record import curve_fields, size_fields, write_run_record
from pvd.runs.spec import SpecError, apply_into, option
from pvd.runs.staging import publish
from pvd.runs.workspace import WorkspaceIdentity, check_resume, checkpoint_bytes, claim, releasing
from pvd.train.converge import STOP_RULES
from pvd.train.distill import INIT_MODES, STUDENT_GRIDS, DistillConfig, distill, init_student, pair_name
from pvd.train.losses import LOSS_TYPES
from pvd.train.splat_distill import GRID_DILATION, dilate_grid, distill_to_splats, splat_targets

STAGE_MODES = ("progressive", "rgb_only")


def stage_iters_problem(value: tuple[int, ...]) -> str | None:
    """The spec check of ``stage_iters``: two steps S1 <= S2, neither negative."""
    if value[0] < 0 or value[0] > value[1]:
        return f"expects two steps 0 <= S1 <= S2 (e.g. 2000 5000), got {value[0]} {value[1]}"
    return None


@dataclass(frozen=True, kw_only=True)
class DistillSpec(TrainingOptions, InputOptions):
    """Everything ``distill`` is told (see :class:`TrainingOptions` for the shared options)."""

    ckpt_teacher: Path = option(help="teacher checkpoint (train, import or edit)")
    model_type: str = option(choices=ARCHS, help="architecture of the student")
    teacher_type: str | None = option(
        None, choices=MODEL_TYPES, help="architecture of the teacher (default: the checkpoint's)"
    )
    stage_iters: tuple[int, ...] | None = option(
        None,
        nargs=2,
        metavar=("S1", "S2"),
        into="stages.stage_iters",
        convert=tuple,
        workflow=True,
        check=stage_iters_problem,
        help="first step of the density+colour and of the RGB stage (default: 2k,5k of 30k scaled to iters)",
    )
    stages: str | None = option(
        None,
        choices=STAGE_MODES,
        into="stages.progressive",
        convert=lambda mode: mode == "progressive",
        workflow=True,
        help="rgb_only: the ablation without progressive stages (default: progressive; rgb_only from a gs "
        "teacher, whose rasterised views are the targets)",
    )
    stage_warmup: float | None = option(
        None,
        metavar="F",
        minimum=0,
        maximum=0.5,
        into="stages.warmup",
        workflow=True,
        help="share of `iters` over which the learning rate ramps up again when a stage adds its loss terms "
        "(0: off, the paper's schedule; default: the preset's, tiny 0.04, paper 0)",
    )
    loss_type: str = option(
        "normL2", choices=LOSS_TYPES, into="loss_type", workflow=True, help="distance of every loss term"
    )
    init: str = option(
        "teacher",
        choices=INIT_MODES,
        into="init",
        workflow=True,
        help="copy matching teacher tensors into the student, or start from random",
    )
    use_real_data_for_train: bool = option(
        False, into="use_real_poses", workflow=True, help="distill on the real training poses instead of sampled ones"
    )
    real_ray_fraction: float = option(
        0.0,
        minimum=0,
        maximum=1,
        into="real_ray_fraction",
        workflow=True,
        help="share of each batch from real training pixels with ground-truth colours",
    )
    weight_decay: float | None = option(
        None, minimum=0, into="weight_decay", workflow=True, help="AdamW weight decay (default: the preset's)"
    )
    poses_per_epoch: int | None = option(
        None,
        minimum=1,
        into="poses_per_epoch",
        workflow=True,
        help="data-free poses per epoch (default: the dataset's)",
    )
    visibility_cutoff: float | None = option(
        None,
        minimum=0,
        maximum=1,
        into="visibility_cutoff",
        workflow=True,
        help="drop samples the teacher hides (transmittance in front below this; 0 keeps all; "
        "default: the preset's, tiny 1e-2, paper 1e-3; 0 from a gs teacher)",
    )
    empty_sample_ratio: float | None = option(
        None,
        minimum=0,
        maximum=1,
        into="empty_sample_ratio",
        workflow=True,
        help="share of the teacher's empty cells also sampled each step, so the student learns empty space "
        "(default: the preset's)",
    )
    student_grid: str = option(
        "masked",
        choices=STUDENT_GRIDS,
        into="student_grid",
        workflow=True,
        help="occupancy grid saved with the student: rebuilt from its own density within the "
        "teacher's occupied cells (masked), wherever cameras see (own), or the teacher's",
    )
    density_range: tuple[float, ...] | None = option(
        None,
        nargs=2,
        metavar=("LO", "HI"),
        check=density_range_problem,
        workflow=True,
        help="the student's clamp of the log-density s (default: the teacher's; e.g. -100 7 widens it, the "
        "ablation of the density-range constraint)",
    )
    depth_loss: float = option(
        0.0, minimum=0, into="stages.depth_weight", workflow=True, help="PVD-AL: weight of a rendered depth term"
    )
    hard_poses: bool = option(
        False, into="active.hard_poses", workflow=True, help="PVD-AL: re-use the hardest 10% poses, ±9° jitter"
    )
    hard_rays: bool = option(False, into="active.hard_rays", workflow=True, help="PVD-AL: pool of the hardest 10% rays")
    point_top: bool = option(
        False,
        into="active.point_top",
        workflow=True,
        help="PVD-AL: per-sample losses on the top 30% samples by weight of opaque rays",
    )

    stop_rule: str | None = option(
        None,
        choices=STOP_RULES,
        into="stop.rule",
        workflow=True,
        help="plateau: stop once the student's PSNR against the teacher's renders gains less than "
        "`stop_min_gain` dB over `stop_window` of the run (then anneal briefly); off: run all `iters` steps "
        "(default: the preset's, tiny plateau, paper off)",
    )
    stop_window: float | None = option(
        None,
        above=0,
        maximum=1,
        into="stop.window",
        workflow=True,
        help="share of `iters` over which the stopping rule measures the gain",
    )
    stop_min_gain: float | None = option(
        None,
        minimum=0,
        into="stop.min_gain",
        workflow=True,
        help="dB: a smaller gain over `stop_window` steps means the student has converged",
    )
    stop_target: float | None = option(
        None,
        minimum=0,
        into="stop.target",
        workflow=True,
        help="dB against the teacher's renders at which the run stops at once (0: none)",
    )

    allow_other_scene: bool = option(
        False,
        help="distil on a scene folder whose cameras differ from the teacher's training cameras (e.g. another "
        "camera set of the same scene); refused by default, since the scores would be of another scene",
    )

    def engine_config(self, teacher_type: str | None = None, data_type: str | None = None) -> DistillConfig:
        """The :class:`DistillConfig` of this spec: the student's preset for its teacher's
        architecture (``teacher_type``, else the spec's) and the scene's data type (``data_type``,
        else the spec's; :func:`pvd.presets.distill_config`), then every set option."""
        preset = distill_config(
            self.preset, self.model_type, teacher_type or self.teacher_type, data_type or self.data_type
        )
        cfg = apply_into(self, preset)
        cfg.check()
        return cfg


@dataclass(frozen=True)
class DistillOutcome:
    """Measured results of a finished ``distill`` run (also written to record.json)."""

    psnr_test: float
    psnr_vs_teacher: float
    teacher_psnr_test: float
    eval_seconds: float


def load_teacher(spec: DistillSpec) -> tuple[Model, dict]:
    """The teacher of ``spec.ckpt_teacher`` (on the CPU) and its provenance, checked against a given
    ``teacher_type`` and ``data_type``."""
    teacher, provenance = read_input("ckpt_teacher", spec.ckpt_teacher, spec.allow_unfinished)
    if spec.teacher_type is not None and teacher.model_type != spec.teacher_type:
        raise SpecError(
            "teacher_type",
            f"{spec.teacher_type} does not match `ckpt_teacher` {spec.ckpt_teacher}, "
            f"which holds a {teacher.model_type!r} model",
        )
    if spec.data_type is not None and teacher.meta.data_type not in (None, spec.data_type):
        raise SpecError(
            "data_type",
            f"{spec.data_type} does not match `ckpt_teacher` {spec.ckpt_teacher}, "
            f"trained on {teacher.meta.data_type!r} data",
        )
    if spec.data_type is None and teacher.meta.data_type is None:
        raise SpecError("data_type", f"is required: `ckpt_teacher` {spec.ckpt_teacher} does not say its data type")
    return teacher, provenance


def measure(teacher: Model, provenance: dict, student: Model, test: SceneSplit, device: torch.device) -> DistillOutcome:
    """Test PSNR of both models against the ground truth, and of the student against the teacher's
    renders (the teacher's are made once per teacher checkpoint: :mod:`pvd.evaluate.render_cache`)."""
    t0 = time.perf_counter()
    reference = teacher_renders(teacher, Path(provenance["checkpoint"]), provenance["sha256"], test, device)
    vs_teacher: list[float] = []
    student_eval = evaluate_model(
        student,
        test,
        lpips=False,
        device=device,
        on_image=lambda view, pred, gt: vs_teacher.append(psnr_from_mse(mse(pred.cpu(), reference.renders[view]))),
    )
    return DistillOutcome(
        psnr_test=student_eval.psnr,
        psnr_vs_teacher=sum(vs_teacher) / len(vs_teacher),
        teacher_psnr_test=reference.psnr,
        eval_seconds=time.perf_counter() - t0,
    )


@releasing
def run_distill(spec: DistillSpec) -> DistillOutcome | None:
    """Distil ``spec.ckpt_teacher`` into ``spec.model_type``; None when stopped early at ``stop_at``."""
    spec.engine_config()  # option errors before the teacher is read
    teacher, provenance = load_teacher(spec)
    spec = spec.replace(
        teacher_type=teacher.model_type,
        data_type=spec.data_type or teacher.meta.data_type,
        downscale=spec.downscale or teacher.meta.downscale,
    )
    cfg = spec.engine_config()
    pair = pair_name(spec.teacher_type, spec.model_type)
    train_index = index_split(spec.scene_dir, spec.data_type, "train", spec.downscale)
    tmeta = teacher.meta
    density_range = tuple(spec.density_range) if spec.density_range else tmeta.density_range
    if not density_range[0] < density_range[1]:
        raise SpecError("density_range", f"LO must be < HI, got {density_range[0]} {density_range[1]}")
    ckpt_path = spec.workspace / "checkpoint.pt"
    if ckpt_path.resolve() == spec.ckpt_teacher.resolve():
        raise SpecError(
            "workspace",
            f"{spec.workspace} holds the teacher `ckpt_teacher` {spec.ckpt_teacher} itself: "
            "give the student a workspace of its own",
        )
    test = load_split(spec.scene_dir, spec.data_type, "test", spec.downscale)
    if not spec.allow_other_scene:
        check_scene(teacher.meta, spec.ckpt_teacher, spec.scene_dir, spec.data_type, test)
    device = prepare_device(spec.device, spec.gpu_slots)
    teacher = teacher.to(device)
    sampler = PoseSampler(
        train_index.cameras,
        spec.data_type,
        cfg.poses_per_epoch,
        train_index.near,
        train_index.far,
        use_real=cfg.use_real_poses,
    )
    if teacher.model_type == "gs" and spec.model_type != "gs":  # the splat renders are the RGB targets
        cfg = replace(cfg, real_ray_fraction=cfg.real_ray_fraction or 1.0)
        real = splat_targets(teacher, sampler, cfg.seed, device)
        dilate_grid(teacher.grid, GRID_DILATION)  # the student marches (and keeps its grid) on it
    else:
        real = (
            load_split(spec.scene_dir, spec.data_type, "train", spec.downscale) if cfg.real_ray_fraction > 0 else None
        )
    meta = ModelMeta(
        model_type=spec.model_type,
        preset=spec.preset,
        field_config=arch_preset(spec.preset, spec.model_type).field,
        render_config=teacher.renderer.config,
        bound=tmeta.bound,
        density_range=density_range,
        normalization=tmeta.normalization,
        kind="student",
        teacher_type=spec.teacher_type,
        teacher_checkpoint=str(spec.ckpt_teacher),
        teacher_sha256=provenance["sha256"],
        data_type=spec.data_type,
        scene_dir=str(spec.scene_dir),
        downscale=spec.downscale,
        scene_hash=scene_hash(train_index.cameras, train_index.files),
        image_width=train_index.cameras.width,
        image_height=train_index.cameras.height,
        cameras=tmeta.cameras,
        train_config=asdict(cfg),
    )
    torch.manual_seed(spec.seed)
    student = build_model(meta, device)
    out = claim(
        spec.workspace,
        WorkspaceIdentity("distill", pair),
        overwrite=spec.overwrite,
        resume=spec.resume,
        need_bytes=checkpoint_bytes(student),
    )
    if spec.resume and ckpt_path.exists():
        check_resume(ckpt_path, meta)
    copied = init_student(student, teacher, cfg.init)
    probing = spec.probe_config()
    if spec.model_type != "gs":  # the rule reads the curve (gs students train on whole views, without it yet)
        probing = replace(probing, points=cfg.stop.curve_points(probing.points))
    probe = CurveProbe(test, probing, teacher=teacher) if probing.points > 0 else None
    if spec.model_type == "gs":  # splats learn from the teacher's images (pvd.train.splat_distill)
        result = distill_to_splats(
            teacher,
            student,
            sampler,
            cfg,
            arch_preset(spec.preset, "gs").teacher,
            out,
            device,
            resume=spec.resume,
            progress=not spec.no_progress,
            label=f"distill {pair}",
            stop_at=spec.stop_at,
            probe=probe,
        )
    else:
        result = distill(
            teacher,
            student,
            sampler,
            cfg,
            out,
            device,
            resume=spec.resume,
            progress=not spec.no_progress,
            real=real,
            label=f"distill {pair}",
            stop_at=spec.stop_at,
            probe=probe,
        )
    if not result.finished:
        publish(spec.workspace, out)
        print(f"stopped at step {result.steps} of {cfg.iters}; continue with resume ({ckpt_path})")
        return None
    outcome = measure(teacher, provenance, student, test, device)
    save_checkpoint(out / ckpt_path.name, student)
    write_run_record(
        out,
        "distill",
        spec,
        device,
        result.seconds,
        config={"distill": asdict(cfg)},
        metrics={
            "psnr_test": outcome.psnr_test,
            "psnr_vs_teacher": outcome.psnr_vs_teacher,
            "teacher_psnr_test": outcome.teacher_psnr_test,
            "final_losses": result.final_losses,
        },
        cpu_seconds=round(result.cpu_seconds, 3),
        pair=pair,
        teacher_type=spec.teacher_type,
        model_type=spec.model_type,
        preset=spec.preset,
        data_type=spec.data_type,
        iterations=result.steps,
        stop=result.stop,
        stages=result.stages,
        init=cfg.init,
        init_copied=copied,
        **size_fields(student),
        student_grid=cfg.student_grid,
        grid_occupancy=result.grid_occupancy,
        pose_region=sampler.region.to_dict(),
        eval_seconds=round(outcome.eval_seconds, 3),
        checkpoint=str(ckpt_path),
        teacher_checkpoint=str(spec.ckpt_teacher),
        other_scene=spec.allow_other_scene,
        inputs=[provenance],
        **curve_fields(probe, result.curve, result.probe_seconds, result.probe_cpu_seconds),
    )
    publish(spec.workspace, out)
    stopped = "" if result.stop is None else f" (stop rule: {result.stop['reason']}, cap {cfg.iters})"
    print(
        f"distilled {pair} ({spec.preset}, init {cfg.init}) for {result.steps} steps{stopped} "
        f"in {result.seconds:.1f} s: "
        f"test PSNR {outcome.psnr_test:.2f} dB (teacher {outcome.teacher_psnr_test:.2f}), "
        f"{outcome.psnr_vs_teacher:.2f} dB vs teacher renders -> {ckpt_path}"
    )
    return outcome
