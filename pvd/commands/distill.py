"""``pvd distill``: distill a teacher checkpoint into another architecture (METHOD §4).

Writes ``WS/checkpoint.pt`` (a self-describing checkpoint of the student's architecture, with an
occupancy grid of its own, that ``pvd evaluate`` / ``pvd render`` read unchanged) and
``WS/record.json`` (pair, stages and their iterations, seconds, final losses per term, student
test PSNR against the ground truth and against the teacher's renders).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from pvd.commands.flags import add_arch, add_training, check_training, finite_float, prepare_device, probe_config
from pvd.commands.record import curve_fields, write_run_record
from pvd.commands.workspace import WorkspaceIdentity, check_resume, checkpoint_bytes, claim
from pvd.data import index_split, load_split
from pvd.data.index import scene_hash
from pvd.data.poses import PoseSampler
from pvd.data.scene import SceneSplit
from pvd.errors import UserError
from pvd.evaluate.evaluate import evaluate_model
from pvd.evaluate.probe import CurveProbe
from pvd.fields import MODEL_TYPES
from pvd.metrics import mse, psnr_from_mse
from pvd.model import Model, ModelMeta, build_model, load_model, save_checkpoint
from pvd.presets import arch_preset, with_overrides
from pvd.records import sha256_file
from pvd.train.active import ActiveConfig
from pvd.train.distill import INIT_MODES, STUDENT_GRIDS, DistillConfig, distill, init_student, pair_name
from pvd.train.losses import LOSS_TYPES
from pvd.train.stages import StageConfig, parse_stage_iters


@dataclass(frozen=True)
class DistillOutcome:
    """Measured results of ``pvd distill`` (also written to record.json)."""

    psnr_test: float
    psnr_vs_teacher: float
    teacher_psnr_test: float
    eval_seconds: float


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_training(p)
    p.set_defaults(downscale=None)
    add_arch(p, "--teacher_type", "architecture of the teacher (edited: a pvd edit checkpoint)", MODEL_TYPES)
    p.add_argument("--ckpt_teacher", required=True, type=Path, help="teacher checkpoint (pvd train)")
    add_arch(p, "--model_type", "architecture of the student")
    p.add_argument(
        "--stage_iters",
        help="S1,S2: first step of the density+colour and of the RGB stage (default: 2k,5k of 30k scaled to --iters)",
    )
    p.add_argument("--loss_type", default="normL2", choices=LOSS_TYPES)
    p.add_argument(
        "--init",
        default="teacher",
        choices=INIT_MODES,
        help="copy matching teacher tensors into the student, or start from random",
    )
    p.add_argument(
        "--stages",
        default="progressive",
        choices=("progressive", "rgb_only"),
        help="rgb_only: the ablation without progressive stages",
    )
    p.add_argument(
        "--use_real_data_for_train",
        action="store_true",
        help="distill on the real training poses instead of sampled ones",
    )
    p.add_argument(
        "--real_ray_fraction",
        type=finite_float,
        default=0.0,
        help="share of each batch from real training pixels with ground-truth colour targets",
    )
    p.add_argument("--weight_decay", type=finite_float, help="AdamW weight decay (default: the preset's)")
    p.add_argument("--poses_per_epoch", type=int, help="data-free poses per epoch (default: dataset's)")
    p.add_argument(
        "--visibility_cutoff",
        type=finite_float,
        help="drop samples the teacher hides (transmittance in front below this; 0 keeps all; "
        "default: the preset's, tiny 1e-2, paper 1e-3)",
    )
    p.add_argument(
        "--student_grid",
        default="masked",
        choices=STUDENT_GRIDS,
        help="occupancy grid saved with the student: rebuilt from its own density within the "
        "teacher's occupied cells (masked), wherever cameras see (own), or the teacher's",
    )
    p.add_argument(
        "--density_range",
        type=finite_float,
        nargs=2,
        metavar=("LO", "HI"),
        help="the student's clamp of the log-density s (default: the teacher's; e.g. -100 7 widens "
        "it, the ablation of the density-range constraint)",
    )
    p.add_argument("--depth_loss", type=finite_float, default=0.0, help="PVD-AL: weight of a rendered depth term")
    p.add_argument("--hard_poses", action="store_true", help="PVD-AL: re-use the hardest 10%% poses, ±9° jitter")
    p.add_argument("--hard_rays", action="store_true", help="PVD-AL: pool of the hardest 10%% rays")
    p.add_argument(
        "--point_top",
        action="store_true",
        help="PVD-AL: per-sample losses on the top 30%% samples by weight of opaque rays",
    )


def build_config(args: argparse.Namespace) -> DistillConfig:
    """The :class:`DistillConfig` of the parsed flags: the student's preset, then explicit flags."""
    if args.poses_per_epoch is not None and args.poses_per_epoch < 1:
        raise UserError(f"--poses_per_epoch must be >= 1, got {args.poses_per_epoch}")
    if args.weight_decay is not None and args.weight_decay < 0:
        raise UserError(f"--weight_decay must be >= 0, got {args.weight_decay}")
    if args.depth_loss < 0:
        raise UserError(f"--depth_loss must be >= 0, got {args.depth_loss}")
    stages = StageConfig(
        stage_iters=parse_stage_iters(args.stage_iters) if args.stage_iters else None,
        depth_weight=args.depth_loss,
        progressive=args.stages == "progressive",
    )
    active = ActiveConfig(hard_poses=args.hard_poses, hard_rays=args.hard_rays, point_top=args.point_top)
    cfg = with_overrides(
        arch_preset(args.preset, args.model_type).distill,
        iters=args.iters,
        batch_rays=args.batch_rays,
        lr=args.lr,
        weight_decay=args.weight_decay,
        visibility_cutoff=args.visibility_cutoff,
        ckpt_every=args.ckpt_every,
        precision=args.precision,
    )
    cfg = replace(
        cfg,
        loss_type=args.loss_type,
        stages=stages,
        active=active,
        init=args.init,
        student_grid=args.student_grid,
        poses_per_epoch=args.poses_per_epoch,
        use_real_poses=args.use_real_data_for_train,
        real_ray_fraction=args.real_ray_fraction,
        seed=args.seed,
    )
    cfg.check()
    return cfg


def load_teacher(args: argparse.Namespace, device: torch.device) -> Model:
    """The teacher of ``--ckpt_teacher``, checked against ``--teacher_type`` and ``--data_type``."""
    teacher = load_model(args.ckpt_teacher, device)
    if teacher.model_type != args.teacher_type:
        raise UserError(
            f"--teacher_type {args.teacher_type} does not match --ckpt_teacher {args.ckpt_teacher}, "
            f"which holds a {teacher.model_type!r} model"
        )
    if teacher.meta.data_type not in (None, args.data_type):
        raise UserError(
            f"--data_type {args.data_type} does not match --ckpt_teacher {args.ckpt_teacher}, "
            f"trained on {teacher.meta.data_type!r} data"
        )
    return teacher


def measure(teacher: Model, student: Model, test: SceneSplit, device: torch.device) -> DistillOutcome:
    """Test PSNR of both models against the ground truth, and of the student against the teacher's renders."""
    t0 = time.perf_counter()
    teacher_renders: list[torch.Tensor] = []
    teacher_eval = evaluate_model(
        teacher, test, lpips=False, device=device, on_image=lambda view, pred, gt: teacher_renders.append(pred.cpu())
    )
    vs_teacher: list[float] = []
    student_eval = evaluate_model(
        student,
        test,
        lpips=False,
        device=device,
        on_image=lambda view, pred, gt: vs_teacher.append(psnr_from_mse(mse(pred.cpu(), teacher_renders[view]))),
    )
    return DistillOutcome(
        psnr_test=student_eval.psnr,
        psnr_vs_teacher=sum(vs_teacher) / len(vs_teacher),
        teacher_psnr_test=teacher_eval.psnr,
        eval_seconds=time.perf_counter() - t0,
    )


def run(args: argparse.Namespace) -> int:
    device = prepare_device(args.device, args.gpu_slots)
    teacher = load_teacher(args, device)
    if args.downscale is None:
        args.downscale = teacher.meta.downscale
    check_training(args)
    cfg = build_config(args)
    probing = probe_config(args)
    pair = pair_name(args.teacher_type, args.model_type)
    train_index = index_split(args.scene_dir, args.data_type, "train", args.downscale)
    real = load_split(args.scene_dir, args.data_type, "train", args.downscale) if cfg.real_ray_fraction > 0 else None
    sampler = PoseSampler(
        train_index.cameras,
        args.data_type,
        cfg.poses_per_epoch,
        train_index.near,
        train_index.far,
        use_real=cfg.use_real_poses,
    )
    tmeta = teacher.meta
    density_range = tuple(args.density_range) if args.density_range else tmeta.density_range
    if not density_range[0] < density_range[1]:
        raise UserError(f"--density_range: LO must be < HI, got {density_range[0]} {density_range[1]}")
    meta = ModelMeta(
        model_type=args.model_type,
        preset=args.preset,
        field_config=arch_preset(args.preset, args.model_type).field,
        render_config=teacher.renderer.config,
        bound=tmeta.bound,
        density_range=density_range,
        normalization=tmeta.normalization,
        kind="student",
        teacher_type=args.teacher_type,
        teacher_checkpoint=str(args.ckpt_teacher),
        teacher_sha256=sha256_file(args.ckpt_teacher),
        data_type=args.data_type,
        scene_dir=str(args.scene_dir),
        downscale=args.downscale,
        scene_hash=scene_hash(train_index.cameras, train_index.files),
        image_width=train_index.cameras.width,
        image_height=train_index.cameras.height,
        cameras=tmeta.cameras,
        train_config=asdict(cfg),
    )
    ckpt_path = args.workspace / "checkpoint.pt"
    if ckpt_path.resolve() == args.ckpt_teacher.resolve():
        raise UserError(
            f"--workspace {args.workspace} holds the teacher --ckpt_teacher {args.ckpt_teacher} "
            "itself: give the student a --workspace of its own"
        )
    torch.manual_seed(args.seed)
    student = build_model(meta, device)
    claim(
        args.workspace,
        WorkspaceIdentity("distill", pair),
        overwrite=args.overwrite,
        resume=args.resume,
        need_bytes=checkpoint_bytes(student),
    )
    if args.resume and ckpt_path.exists():
        check_resume(ckpt_path, meta)
    copied = init_student(student, teacher, cfg.init)
    test = load_split(args.scene_dir, args.data_type, "test", args.downscale)
    probe = CurveProbe(test, probing, teacher=teacher) if probing.points > 0 else None
    result = distill(
        teacher,
        student,
        sampler,
        cfg,
        args.workspace,
        device,
        resume=args.resume,
        progress=not args.no_progress,
        real=real,
        label=f"distill {pair}",
        stop_at=args.stop_at,
        probe=probe,
    )
    if result.steps < cfg.iters:
        print(f"stopped at step {result.steps} of {cfg.iters}; continue with --resume ({ckpt_path})")
        return 0
    outcome = measure(teacher, student, test, device)
    save_checkpoint(ckpt_path, student)
    write_run_record(
        args.workspace,
        "distill",
        args,
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
        teacher_type=args.teacher_type,
        model_type=args.model_type,
        preset=args.preset,
        data_type=args.data_type,
        iterations=result.steps,
        stages=result.stages,
        init=cfg.init,
        init_copied=copied,
        student_grid=cfg.student_grid,
        grid_occupancy=result.grid_occupancy,
        pose_region=sampler.region.to_dict(),
        eval_seconds=round(outcome.eval_seconds, 3),
        checkpoint=str(ckpt_path),
        teacher_checkpoint=str(args.ckpt_teacher),
        **curve_fields(probe, result.curve, result.probe_seconds, result.probe_cpu_seconds),
    )
    print(
        f"distilled {pair} ({args.preset}, init {cfg.init}) for {result.steps} steps in {result.seconds:.1f} s: "
        f"test PSNR {outcome.psnr_test:.2f} dB (teacher {outcome.teacher_psnr_test:.2f}), "
        f"{outcome.psnr_vs_teacher:.2f} dB vs teacher renders -> {ckpt_path}"
    )
    return 0
