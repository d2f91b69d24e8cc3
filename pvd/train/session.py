"""The steps a ``pvd train`` run takes around the training loop: check the flags, load the scene,
build the model, train, measure on the test split, write checkpoint and record."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

import torch

from pvd.data import load_split, scene_normalization
from pvd.data.scene import SceneSplit
from pvd.errors import UserError
from pvd.fields import field_config
from pvd.records import make_record, write_json
from pvd.train.checkpoint import Model, build_model, cameras_to_meta, describe, read_checkpoint, save_checkpoint
from pvd.train.presets import DATASET_DEFAULTS, render_defaults, teacher_defaults
from pvd.train.teacher import TeacherConfig, train_teacher, with_overrides


def prepare_device(name: str) -> torch.device:
    """Parse ``--device``; a CUDA device without CUDA is a clear error."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name!r} is not a device; expected cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: this machine has no usable CUDA GPU; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"--device {name!r}: expected cpu, cuda or cuda:N")
    return device


def check_common(args: argparse.Namespace) -> None:
    """Validate the flags every scene command shares."""
    if not args.scene_dir.is_dir():
        raise UserError(f"SCENE_DIR {args.scene_dir} is not a directory")
    if args.downscale < 1:
        raise UserError(f"--downscale must be >= 1, got {args.downscale}")
    for flag in ("iters", "batch_rays", "stop_at"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise UserError(f"--{flag} must be >= 1, got {value}")
    if getattr(args, "lr", None) is not None and not args.lr > 0:
        raise UserError(f"--lr must be > 0, got {args.lr}")


def test_psnr(model: Model, split: SceneSplit, device: torch.device) -> float:
    """Mean per-image PSNR on ``split`` with a white background (the evaluation protocol)."""
    from pvd.evaluate.evaluate import evaluate_model

    return evaluate_model(model, split, device=device, lpips=False).psnr


def run_teacher(args: argparse.Namespace, device: torch.device) -> int:
    check_common(args)
    lo, hi = args.density_range
    if not lo < hi:
        raise UserError(f"--density_range: LO must be < HI, got {lo} {hi}")
    defaults = DATASET_DEFAULTS[args.data_type]
    bound = args.bound if args.bound is not None else defaults.bound
    scale = args.scale if args.scale is not None else defaults.scale
    dt_gamma = args.dt_gamma if args.dt_gamma is not None else defaults.dt_gamma
    if bound <= 0 or scale <= 0 or dt_gamma < 0:
        raise UserError(f"--bound and --scale must be > 0 and --dt_gamma >= 0, got "
                        f"{bound}, {scale}, {dt_gamma}")
    cfg: TeacherConfig = with_overrides(teacher_defaults(args.model_type, args.preset),
                                        iters=args.iters, batch_rays=args.batch_rays, lr=args.lr,
                                        seed=args.seed, ckpt_every=args.ckpt_every)
    torch.manual_seed(args.seed)
    train = load_split(args.scene_dir, args.data_type, "train", args.downscale)
    norm = scene_normalization(train, args.data_type, bound, scale)
    meta = describe(args.model_type, args.preset, field_config(args.model_type, args.preset),
                    render_defaults(args.preset, dt_gamma), bound, (lo, hi), norm,
                    kind="teacher", data_type=args.data_type, scene_dir=str(args.scene_dir),
                    downscale=args.downscale, image_width=train.cameras.width,
                    image_height=train.cameras.height, cameras=cameras_to_meta(train.cameras),
                    near=train.near, far=train.far,
                    train_config=asdict(cfg), step=0)
    workspace: Path = args.workspace
    ckpt_path = workspace / "checkpoint.pt"
    if args.resume and ckpt_path.exists():
        stored = read_checkpoint(ckpt_path)["meta"]
        for key in ("model_type", "preset", "field_config", "render_config", "normalization"):
            if stored.get(key) != meta[key]:
                raise UserError(f"--resume: {ckpt_path} was trained with another {key} "
                                f"({stored.get(key)!r}); use a new --workspace")
    model = build_model(meta, device)
    model.grid.mark_untrained(train.cameras, norm)
    workspace.mkdir(parents=True, exist_ok=True)
    result = train_teacher(model, train, cfg, workspace, device, resume=args.resume,
                           progress=not args.no_progress, stop_at=args.stop_at)
    if result.steps < cfg.iters:
        print(f"stopped at step {result.steps} of {cfg.iters}; continue with --resume ({ckpt_path})")
        return 0
    t0 = time.perf_counter()
    test = load_split(args.scene_dir, args.data_type, "test", args.downscale)
    psnr = test_psnr(model, test, device)
    save_checkpoint(ckpt_path, model)
    record = make_record(
        "train", config={**vars_plain(args), "teacher": asdict(cfg), "bound": bound, "scale": scale,
                         "dt_gamma": dt_gamma},
        device=str(device), backend=backend_name(device), seconds=result.seconds,
        metrics={"psnr_test": psnr, "initial_loss": result.initial_loss,
                 "final_loss": result.final_loss},
        model_type=args.model_type, preset=args.preset, data_type=args.data_type,
        iterations=result.steps, eval_seconds=round(time.perf_counter() - t0, 3),
        checkpoint=str(ckpt_path))
    write_json(workspace / "record.json", record)
    print(f"trained {args.model_type} ({args.preset}) for {result.steps} steps in "
          f"{result.seconds:.1f} s: test PSNR {psnr:.2f} dB -> {ckpt_path}")
    return 0


def vars_plain(args: argparse.Namespace) -> dict:
    """CLI arguments as JSON-friendly values."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
            if not k.startswith("_")}


def backend_name(device: torch.device) -> str:
    """Which implementation of the hot ops ran on ``device`` (``torch`` twins or ``native-*`` kernels)."""
    from pvd.ops.backend import active_backend

    return active_backend(device)
