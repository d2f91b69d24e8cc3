"""``pvd train``: train a teacher field on a scene and write its checkpoint and record."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict

import torch

from pvd.commands.flags import add_arch, add_training, check_training, finite_float, prepare_device, probe_config
from pvd.commands.record import curve_fields, write_run_record
from pvd.commands.workspace import WorkspaceIdentity, check_resume, checkpoint_bytes, claim
from pvd.data import load_split, scene_normalization
from pvd.data.cameras import NGP_ROTATION
from pvd.data.index import scene_hash
from pvd.errors import UserError
from pvd.evaluate.evaluate import evaluate_model
from pvd.evaluate.probe import CurveProbe
from pvd.model import ModelMeta, build_model, save_checkpoint
from pvd.presets import arch_preset, render_config, scene_defaults, with_overrides
from pvd.train.teacher import TeacherConfig, train_teacher


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_training(p)
    add_arch(p, "--model_type", "architecture to train")
    p.add_argument("--bound", type=finite_float, help="box half-size (default: the dataset's)")
    p.add_argument("--scale", type=finite_float, help="world -> box scale (default: the dataset's)")
    p.add_argument("--dt_gamma", type=finite_float, help="step growth with distance (default: the dataset's)")
    p.add_argument(
        "--frame",
        default="pvd",
        choices=("pvd", "ngp"),
        help="box axes: the dataset's (pvd) or torch-ngp's (y, z, x), which `pvd export` needs",
    )
    p.add_argument(
        "--density_range",
        type=finite_float,
        nargs=2,
        default=(-2.0, 7.0),
        metavar=("LO", "HI"),
        help="clamp of the log-density s",
    )


def run(args: argparse.Namespace) -> int:
    device = prepare_device(args.device, args.gpu_slots)
    check_training(args)
    lo, hi = args.density_range
    if not lo < hi:
        raise UserError(f"--density_range: LO must be < HI, got {lo} {hi}")
    train = load_split(args.scene_dir, args.data_type, "train", args.downscale)
    defaults = scene_defaults(args.data_type, train.meta)
    bound = args.bound if args.bound is not None else defaults.bound
    scale = args.scale if args.scale is not None else defaults.scale
    dt_gamma = args.dt_gamma if args.dt_gamma is not None else defaults.dt_gamma
    if bound <= 0 or scale <= 0 or dt_gamma < 0:
        raise UserError(f"--bound and --scale must be > 0 and --dt_gamma >= 0, got {bound}, {scale}, {dt_gamma}")
    preset = arch_preset(args.preset, args.model_type)
    cfg: TeacherConfig = with_overrides(
        preset.teacher,
        iters=args.iters,
        batch_rays=args.batch_rays,
        lr=args.lr,
        seed=args.seed,
        ckpt_every=args.ckpt_every,
        precision=args.precision,
    )
    probing = probe_config(args)
    torch.manual_seed(args.seed)
    test = load_split(args.scene_dir, args.data_type, "test", args.downscale)
    probe = CurveProbe(test, probing) if probing.points > 0 else None
    norm = scene_normalization(train, args.data_type, bound, scale)
    if args.frame == "ngp":
        norm = norm.rotated_by(NGP_ROTATION)
    meta = ModelMeta(
        model_type=args.model_type,
        preset=args.preset,
        field_config=preset.field,
        render_config=render_config(args.preset, dt_gamma, bound),
        bound=bound,
        density_range=(lo, hi),
        normalization=norm,
        kind="teacher",
        data_type=args.data_type,
        scene_dir=str(args.scene_dir),
        downscale=args.downscale,
        image_width=train.cameras.width,
        image_height=train.cameras.height,
        cameras=train.cameras,
        near=train.near,
        far=train.far,
        scene_hash=scene_hash(train.cameras, train.files),
        train_config=asdict(cfg),
    )
    ckpt_path = args.workspace / "checkpoint.pt"
    model = build_model(meta, device)
    claim(
        args.workspace,
        WorkspaceIdentity("train", args.model_type),
        overwrite=args.overwrite,
        resume=args.resume,
        need_bytes=checkpoint_bytes(model),
    )
    if args.resume and ckpt_path.exists():
        check_resume(ckpt_path, meta)
    model.grid.mark_untrained(train.cameras, norm)
    result = train_teacher(
        model,
        train,
        cfg,
        args.workspace,
        device,
        resume=args.resume,
        progress=not args.no_progress,
        stop_at=args.stop_at,
        probe=probe,
    )
    if result.steps < cfg.iters:
        print(f"stopped at step {result.steps} of {cfg.iters}; continue with --resume ({ckpt_path})")
        return 0
    t0 = time.perf_counter()
    psnr = evaluate_model(model, test, device=device, lpips=False).psnr
    save_checkpoint(ckpt_path, model)
    write_run_record(
        args.workspace,
        "train",
        args,
        device,
        result.seconds,
        metrics={"psnr_test": psnr, "initial_loss": result.initial_loss, "final_loss": result.final_loss},
        config={"teacher": asdict(cfg), "bound": bound, "scale": scale, "dt_gamma": dt_gamma},
        scene_box=train.meta.get("box"),
        cpu_seconds=round(result.cpu_seconds, 3),
        model_type=args.model_type,
        preset=args.preset,
        data_type=args.data_type,
        iterations=result.steps,
        eval_seconds=round(time.perf_counter() - t0, 3),
        checkpoint=str(ckpt_path),
        **curve_fields(probe, result.curve, result.probe_seconds, result.probe_cpu_seconds),
    )
    print(
        f"trained {args.model_type} ({args.preset}) for {result.steps} steps in "
        f"{result.seconds:.1f} s: test PSNR {psnr:.2f} dB -> {ckpt_path}"
    )
    return 0
