"""``pvd distill``: distill a teacher checkpoint into another architecture (METHOD §4).

Writes ``WS/checkpoint.pt`` (a self-describing checkpoint of the student's architecture, with an
occupancy grid of its own, that ``pvd evaluate`` / ``pvd render`` read unchanged) and
``WS/record.json`` (pair, stages and their iterations, seconds, final losses per term, student
test PSNR against the ground truth and against the teacher's renders).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from pvd.errors import UserError
from pvd.train.teacher_command import ARCHS, add_scene_arguments


@dataclass(frozen=True)
class DistillPreset:
    """Default schedule of a preset, per student architecture: steps, rays per step, base learning
    rate and AdamW weight decay; and the checkpoint interval and visibility cut-off of every pair."""

    iters: dict
    batch_rays: dict
    lr: dict
    weight_decay: dict
    ckpt_every: int
    visibility_cutoff: float


PAPER_LR = {"hash": 1e-2, "vm": 1e-2, "mlp": 1e-3, "tensors": 1e-2}
TINY_LR = {"hash": 1e-2, "vm": 3e-2, "mlp": 1e-2, "tensors": 1e-1}
PRESETS = {
    # the reference: 30k steps of 4096 rays, lr 1e-2 (mlp 1e-3), AdamW's default weight decay 0.01
    "paper": DistillPreset({k: 30000 for k in ARCHS}, {k: 4096 for k in ARCHS}, PAPER_LR,
                           {k: 0.01 for k in PAPER_LR}, ckpt_every=5000, visibility_cutoff=1e-3),
    # the demo scene on 2 CPU cores: a 30x shorter run needs larger steps for the grid-based
    # students; the weight decay is scaled so that each step decays parameters as much as in the
    # paper preset (lr * wd unchanged) -- at 0.01 it erodes even a perfect same-type copy. The mlp
    # student gains more from more steps at half the rays (vm->mlp: 2000 x 512 +0.4 dB over 1000 x 1024 in
    # the same time; 2500 steps for margin).
    "tiny": DistillPreset({"hash": 1000, "vm": 1000, "mlp": 2500, "tensors": 1000},
                          {"hash": 1024, "vm": 1024, "mlp": 512, "tensors": 1024}, TINY_LR,
                          {k: 0.01 * PAPER_LR[k] / TINY_LR[k] for k in TINY_LR}, ckpt_every=500,
                          visibility_cutoff=1e-2),
}


@dataclass(frozen=True)
class DistillOutcome:
    """Measured results of ``pvd distill`` (also written to record.json)."""

    psnr_test: float
    psnr_vs_teacher: float
    teacher_psnr_test: float
    seconds: float
    eval_seconds: float


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_scene_arguments(p)
    p.set_defaults(downscale=None)
    p.add_argument("--teacher_type", required=True, choices=ARCHS, help="architecture of the teacher")
    p.add_argument("--ckpt_teacher", required=True, type=Path, help="teacher checkpoint (pvd train)")
    p.add_argument("--model_type", required=True, choices=ARCHS, help="architecture of the student")
    p.add_argument("--stage_iters", help="S1,S2: first step of the density+colour and of the RGB stage "
                                         "(default: 2k,5k of 30k scaled to --iters)")
    p.add_argument("--loss_type", default="normL2", choices=("normL2", "L2", "L1", "smoothL1"))
    p.add_argument("--init", default="teacher", choices=("teacher", "scratch"),
                   help="copy matching teacher tensors into the student, or start from random")
    p.add_argument("--stages", default="progressive", choices=("progressive", "rgb_only"),
                   help="rgb_only: the ablation without progressive stages")
    p.add_argument("--use_real_data_for_train", action="store_true",
                   help="distill on the real training poses instead of sampled ones")
    p.add_argument("--real_ray_fraction", type=float, default=0.0,
                   help="share of each batch from real training pixels with ground-truth colour targets")
    p.add_argument("--weight_decay", type=float, help="AdamW weight decay (default: the preset's)")
    p.add_argument("--poses_per_epoch", type=int, help="data-free poses per epoch (default: dataset's)")
    p.add_argument("--visibility_cutoff", type=float,
                   help="drop samples the teacher hides (transmittance in front below this; 0 keeps all; "
                        "default: the preset's, tiny 1e-2, paper 1e-3)")
    p.add_argument("--student_grid", default="masked", choices=("masked", "own", "teacher"),
                   help="occupancy grid saved with the student: rebuilt from its own density within the "
                        "teacher's occupied cells (masked), wherever cameras see (own), or the teacher's")
    p.add_argument("--depth_loss", type=float, default=0.0, help="PVD-AL: weight of a rendered depth term")
    p.add_argument("--hard_poses", action="store_true", help="PVD-AL: re-use the hardest 10%% poses, ±9° jitter")
    p.add_argument("--hard_rays", action="store_true", help="PVD-AL: pool of the hardest 10%% rays")
    p.add_argument("--point_top", action="store_true",
                   help="PVD-AL: per-sample losses on the top 30%% samples by weight of opaque rays")


def build_config(args: argparse.Namespace):
    """The :class:`DistillConfig` of the parsed flags (preset defaults, then explicit flags)."""
    from pvd.train.active import ActiveConfig
    from pvd.train.distill import DistillConfig
    from pvd.train.stages import StageConfig, parse_stage_iters

    preset = PRESETS[args.preset]
    if args.poses_per_epoch is not None and args.poses_per_epoch < 1:
        raise UserError(f"--poses_per_epoch must be >= 1, got {args.poses_per_epoch}")
    if args.weight_decay is not None and args.weight_decay < 0:
        raise UserError(f"--weight_decay must be >= 0, got {args.weight_decay}")
    if args.depth_loss < 0:
        raise UserError(f"--depth_loss must be >= 0, got {args.depth_loss}")
    stages = StageConfig(stage_iters=parse_stage_iters(args.stage_iters) if args.stage_iters else None,
                         depth_weight=args.depth_loss, progressive=args.stages == "progressive")
    active = ActiveConfig(hard_poses=args.hard_poses, hard_rays=args.hard_rays, point_top=args.point_top)
    cfg = DistillConfig(
        iters=args.iters or preset.iters[args.model_type],
        batch_rays=args.batch_rays or preset.batch_rays[args.model_type],
        lr=args.lr or preset.lr[args.model_type],
        weight_decay=args.weight_decay if args.weight_decay is not None else preset.weight_decay[args.model_type],
        loss_type=args.loss_type, stages=stages, active=active,
        init=args.init, student_grid=args.student_grid,
        visibility_cutoff=(args.visibility_cutoff if args.visibility_cutoff is not None
                           else preset.visibility_cutoff), poses_per_epoch=args.poses_per_epoch,
        use_real_poses=args.use_real_data_for_train, real_ray_fraction=args.real_ray_fraction,
        ckpt_every=args.ckpt_every if args.ckpt_every is not None else preset.ckpt_every, seed=args.seed)
    cfg.check()
    return cfg


def run(args: argparse.Namespace) -> int:
    from pvd.data import index_split, load_split
    from pvd.data.poses import PoseSampler
    from pvd.evaluate.evaluate import evaluate_model
    from pvd.fields import field_config
    from pvd.metrics import mse, psnr_from_mse
    from pvd.records import make_record, write_json
    from pvd.train.checkpoint import build_model, describe, load_model, read_checkpoint, save_checkpoint
    from pvd.train.distill import distill, init_student, pair_name
    from pvd.train.session import backend_name, check_common, prepare_device, vars_plain

    device = prepare_device(args.device)
    teacher = load_model(args.ckpt_teacher, device)
    tmeta = teacher.meta
    if tmeta["model_type"] != args.teacher_type:
        raise UserError(f"--teacher_type {args.teacher_type} does not match --ckpt_teacher {args.ckpt_teacher}, "
                        f"which holds a {tmeta['model_type']!r} model")
    if tmeta.get("data_type") not in (None, args.data_type):
        raise UserError(f"--data_type {args.data_type} does not match --ckpt_teacher {args.ckpt_teacher}, "
                        f"trained on {tmeta['data_type']!r} data")
    if args.downscale is None:
        args.downscale = int(tmeta.get("downscale", 1))
    check_common(args)
    cfg = build_config(args)
    pair = pair_name(args.teacher_type, args.model_type)

    train_index = index_split(args.scene_dir, args.data_type, "train", args.downscale)
    real = load_split(args.scene_dir, args.data_type, "train", args.downscale) if cfg.real_ray_fraction > 0 else None
    sampler = PoseSampler(train_index.cameras, args.data_type, cfg.poses_per_epoch, train_index.near,
                          train_index.far, use_real=cfg.use_real_poses)
    meta = describe(args.model_type, args.preset, field_config(args.model_type, args.preset),
                    teacher.renderer.config, tmeta["bound"], tuple(tmeta["density_range"]), teacher.normalization,
                    kind="student", teacher_type=args.teacher_type, teacher_checkpoint=str(args.ckpt_teacher),
                    data_type=args.data_type, scene_dir=str(args.scene_dir), downscale=args.downscale,
                    image_width=train_index.cameras.width, image_height=train_index.cameras.height,
                    cameras=tmeta.get("cameras"), train_config=asdict(cfg), step=0)
    workspace: Path = args.workspace
    ckpt_path = workspace / "checkpoint.pt"
    if args.resume and ckpt_path.exists():
        stored = read_checkpoint(ckpt_path)["meta"]
        for key in ("model_type", "preset", "teacher_type", "field_config", "render_config", "train_config"):
            if stored.get(key) != meta[key]:
                raise UserError(f"--resume: {ckpt_path} was distilled with another {key} "
                                f"({stored.get(key)!r}); use a new --workspace")
    torch.manual_seed(args.seed)
    student = build_model(meta, device)
    copied = init_student(student, teacher, cfg.init)
    workspace.mkdir(parents=True, exist_ok=True)
    result = distill(teacher, student, sampler, cfg, workspace, device, resume=args.resume,
                     progress=not args.no_progress, real=real, label=f"distill {pair}", stop_at=args.stop_at)
    if result.steps < cfg.iters:
        print(f"stopped at step {result.steps} of {cfg.iters}; continue with --resume ({ckpt_path})")
        return 0

    t0 = time.perf_counter()
    test = load_split(args.scene_dir, args.data_type, "test", args.downscale)
    teacher_renders: list[torch.Tensor] = []
    teacher_eval = evaluate_model(teacher, test, lpips=False, device=device,
                                  on_image=lambda view, pred, gt: teacher_renders.append(pred.cpu()))
    vs_teacher: list[float] = []
    student_eval = evaluate_model(
        student, test, lpips=False, device=device,
        on_image=lambda view, pred, gt: vs_teacher.append(psnr_from_mse(mse(pred.cpu(), teacher_renders[view]))))
    outcome = DistillOutcome(psnr_test=student_eval.psnr, psnr_vs_teacher=sum(vs_teacher) / len(vs_teacher),
                             teacher_psnr_test=teacher_eval.psnr, seconds=result.seconds,
                             eval_seconds=time.perf_counter() - t0)
    save_checkpoint(ckpt_path, student)
    record = make_record(
        "distill", config={**vars_plain(args), "distill": asdict(cfg)}, device=str(device),
        backend=backend_name(device), seconds=result.seconds,
        metrics={"psnr_test": outcome.psnr_test, "psnr_vs_teacher": outcome.psnr_vs_teacher,
                 "teacher_psnr_test": outcome.teacher_psnr_test, "final_losses": result.final_losses},
        cpu_seconds=round(result.cpu_seconds, 3), pair=pair, teacher_type=args.teacher_type,
        model_type=args.model_type, preset=args.preset, data_type=args.data_type, iterations=result.steps,
        stages=result.stages, init=cfg.init, init_copied=copied, student_grid=cfg.student_grid,
        grid_occupancy=result.grid_occupancy, pose_region=sampler.region.to_dict(),
        eval_seconds=round(outcome.eval_seconds, 3), checkpoint=str(ckpt_path),
        teacher_checkpoint=str(args.ckpt_teacher))
    write_json(workspace / "record.json", record)
    print(f"distilled {pair} ({args.preset}, init {cfg.init}) for {result.steps} steps in {result.seconds:.1f} s: "
          f"test PSNR {outcome.psnr_test:.2f} dB (teacher {outcome.teacher_psnr_test:.2f}), "
          f"{outcome.psnr_vs_teacher:.2f} dB vs teacher renders -> {ckpt_path}")
    return 0
