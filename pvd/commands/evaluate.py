"""``pvd evaluate``: score a teacher or student checkpoint on a split of its scene.

Writes ``WS/metrics.json`` (means, per-image values, render time) and ``WS/record.json``; with
``--save-renders`` also ``WS/renders/`` (see :mod:`pvd.evaluate.renders`), with ``--render_views``
only the renders of those views (e.g. for the report's qualitative grid); ``metrics.json["renders"]``
lists the files written. Renders are written as ``WS/renders.partial/`` and renamed before the
metrics: renders, metrics and record appear together or not at all. The workspace is claimed first
(:mod:`pvd.commands.workspace`): never a training one. A checkpoint of another
scene is a clear error (:mod:`pvd.evaluate.scene_check`). Any ``--downscale`` is allowed; by
default the checkpoint's own is used, which reproduces the trainer's test PSNR. With ``--reference
CKPT`` every view is scored against that checkpoint's render of the same camera instead of the image
(e.g. a student of an edited teacher where no ground truth of the edited scene exists); the saved
``*_gt.png`` are then those renders, and metrics.json and record.json name the reference.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pvd.commands.flags import add_checkpoint, add_data_type, add_device, add_progress, prepare_device
from pvd.commands.record import write_run_record
from pvd.commands.workspace import WorkspaceIdentity, claim, discard, model_key
from pvd.data import SPLITS, load_split
from pvd.errors import UserError
from pvd.evaluate.evaluate import EvalResult, evaluate_model
from pvd.evaluate.renders import RenderSaver
from pvd.evaluate.scene_check import check_data_type, check_scene
from pvd.metrics import SSIM_MODES
from pvd.model import Model, ModelMeta, load_model
from pvd.records import write_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scene_dir", type=Path, help="scene folder (Blender, LLFF or NSVF layout)")
    add_data_type(p)
    add_checkpoint(p)
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--downscale", type=int, help="image downscale factor K (default: the checkpoint's)")
    p.add_argument(
        "--ssim",
        default="standard",
        choices=SSIM_MODES,
        dest="ssim_mode",
        help="standard: tf.image.ssim; pvd-compat: the PVD reference's variant",
    )
    p.add_argument(
        "--save-renders",
        "--save_renders",
        action="store_true",
        dest="save_renders",
        help="also write renders, ground truth and error maps under WS/renders/",
    )
    p.add_argument("--render_views", help="I,J,...: write renders (as --save-renders) of these view indices only")
    p.add_argument(
        "--no-lpips", "--no_lpips", action="store_true", dest="no_lpips", help="skip LPIPS (reported as null)"
    )
    p.add_argument(
        "--reference",
        type=Path,
        metavar="CKPT",
        help="score against this checkpoint's renders (same cameras) instead of the images",
    )
    add_device(p)
    add_progress(p)


def parse_views(text: str, n_views: int) -> set[int]:
    """``"0,3"`` -> ``{0, 3}``, each index checked against the split's ``n_views``."""
    try:
        views = {int(v) for v in text.split(",") if v.strip()}
    except ValueError:
        raise UserError(f"--render_views {text!r}: expected comma-separated view indices such as 0,3") from None
    bad = sorted(v for v in views if not 0 <= v < n_views)
    if bad:
        raise UserError(f"--render_views {bad}: the split has views 0..{n_views - 1}")
    return views


def metrics_payload(
    result: EvalResult, meta: ModelMeta, ckpt: Path, downscale: int, reference: dict | None = None
) -> dict:
    """``metrics.json``: the evaluation plus what was evaluated (and, with ``--reference``, against what)."""
    return {
        "checkpoint": str(ckpt),
        "model_type": meta.model_type,
        "kind": meta.kind,
        "teacher_type": meta.teacher_type,
        "data_type": meta.data_type,
        "downscale": downscale,
        **({"reference": reference} if reference is not None else {}),
        **result.to_dict(),
    }


def load_reference(args: argparse.Namespace, device, split) -> tuple[Model | None, dict | None]:
    """The ``--reference`` model (checked to be of the same scene) and its description, or (None, None)."""
    if args.reference is None:
        return None, None
    if args.reference.resolve() == args.ckpt.resolve():
        raise UserError(f"--reference {args.reference} is --ckpt itself: give another model's checkpoint")
    model = load_model(args.reference, device)
    check_data_type(model.meta, args.reference, args.data_type)
    check_scene(model.meta, args.reference, args.scene_dir, args.data_type, split)
    return model, {"checkpoint": str(args.reference), "model_type": model.model_type, "kind": model.meta.kind}


def run(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    device = prepare_device(args.device, args.gpu_slots)
    if not args.scene_dir.is_dir():
        raise UserError(f"SCENE_DIR {args.scene_dir} is not a directory")
    model = load_model(args.ckpt, device)
    check_data_type(model.meta, args.ckpt, args.data_type)
    downscale = args.downscale if args.downscale is not None else model.meta.downscale
    if downscale < 1:
        raise UserError(f"--downscale must be >= 1, got {downscale}")
    split = load_split(args.scene_dir, args.data_type, args.split, downscale)
    if len(split) == 0:
        raise UserError(f"split {args.split!r} of {args.scene_dir} has no images")
    check_scene(model.meta, args.ckpt, args.scene_dir, args.data_type, split)
    reference, described = load_reference(args, device, split)
    claim(
        args.workspace,
        WorkspaceIdentity("evaluate", model_key(model.meta), str(args.ckpt.resolve())),
        overwrite=args.overwrite,
    )
    renders, partial = args.workspace / "renders", args.workspace / "renders.partial"
    metrics_file = args.workspace / "metrics.json"
    views = parse_views(args.render_views, len(split)) if args.render_views else None
    try:  # renders, metrics and record are one unit: a failure leaves none of them
        saver = (
            RenderSaver(partial, split.files, None if args.save_renders else views)
            if args.save_renders or views
            else None
        )
        result = evaluate_model(
            model,
            split,
            args.ssim_mode,
            lpips=not args.no_lpips,
            device=device,
            progress=not args.no_progress,
            on_image=saver,
            reference=reference,
        )
        payload = metrics_payload(result, model.meta, args.ckpt, downscale, described)
        if saver is not None:
            partial.rename(renders)
            moved = {k: f"{renders.name}/" for k in ("render", "gt", "error")}  # paths as after the rename
            payload["renders"] = [
                {k: moved[k] + Path(v).name if k in moved else v for k, v in r.items()} for r in saver.saved
            ]
        write_json(metrics_file, payload)
        summary = {
            k: payload[k]
            for k in ("psnr", "psnr_of_mean_mse", "ssim", "lpips_alex", "lpips_vgg", "render_seconds", "fps")
        }
        write_run_record(
            args.workspace,
            "evaluate",
            args,
            device,
            time.perf_counter() - t_start,
            summary,
            model_type=model.model_type,
            model_kind=model.meta.kind,
            teacher_type=model.meta.teacher_type,
            data_type=args.data_type,
            split=args.split,
            n_images=result.n_images,
            ssim_mode=args.ssim_mode,
            checkpoint=str(args.ckpt),
            metrics_file=str(metrics_file),
            reference=described,
        )
    except BaseException:
        discard(partial, renders, metrics_file, args.workspace / "record.json")
        raise
    lp = (
        ", ".join(
            f"LPIPS-{n} {v:.4f}" for n, v in (("alex", result.lpips_alex), ("vgg", result.lpips_vgg)) if v is not None
        )
        or "LPIPS unavailable"
    )
    against = f" vs {args.reference}" if reference is not None else ""
    print(
        f"{args.split}: {result.n_images} images {result.width}x{result.height}{against}: PSNR {result.psnr:.2f} dB, "
        f"SSIM {result.ssim:.4f} ({args.ssim_mode}), {lp}; {result.fps:.2f} fps -> {metrics_file}"
    )
    return 0
