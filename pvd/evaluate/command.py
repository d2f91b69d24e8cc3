"""``pvd evaluate``: score a teacher or student checkpoint on a split of its scene.

Writes ``WS/metrics.json`` (means, per-image values, render time) and ``WS/record.json``; with
``--save-renders`` also ``WS/renders/NNN_<name>.png`` (render), ``NNN_<name>_gt.png`` (ground truth
over white) and ``NNN_<name>_error.png`` (mean absolute error, ``inferno`` colours, 0 to
``ERROR_MAP_MAX``).

What counts as "a checkpoint for another scene" (a clear error rather than a meaningless score):
the checkpoint's ``data_type`` differs from ``--data_type``; the split's image aspect ratio differs
from the training images' by more than ``ASPECT_TOLERANCE``; or the checkpoint's training cameras
differ from the train split of SCENE_DIR (count or poses). The resolution itself may differ —
renders are always made at the split's size and intrinsics — so any ``--downscale`` is allowed;
by default the checkpoint's own is used, which reproduces the trainer's test PSNR.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from pvd.data import index_split, load_split
from pvd.data.scene import DataError, SceneSplit
from pvd.errors import UserError
from pvd.evaluate.evaluate import EvalResult, evaluate_model
from pvd.metrics import SSIM_MODES
from pvd.records import atomic_path, make_record, write_json

ASPECT_TOLERANCE = 0.05
CAMERA_TOLERANCE = 1e-4  # relative to the largest camera distance from the origin
ERROR_MAP_MAX = 0.25


class SceneMismatch(UserError):
    """The checkpoint was trained on another scene than the one given."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scene_dir", type=Path, help="scene folder (Blender, LLFF or NSVF layout)")
    p.add_argument("--data_type", required=True, choices=("synthetic", "llff", "tank"),
                   help="on-disk format of SCENE_DIR")
    p.add_argument("--ckpt", required=True, type=Path, help="teacher or student checkpoint.pt")
    p.add_argument("--workspace", required=True, type=Path, help="output folder")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--downscale", type=int, help="image downscale factor K (default: the checkpoint's)")
    p.add_argument("--ssim", default="standard", choices=SSIM_MODES, dest="ssim_mode",
                   help="standard: tf.image.ssim; pvd-compat: the PVD reference's variant")
    p.add_argument("--save-renders", "--save_renders", action="store_true", dest="save_renders",
                   help="also write renders, ground truth and error maps under WS/renders/")
    p.add_argument("--no-lpips", "--no_lpips", action="store_true", dest="no_lpips",
                   help="skip LPIPS (reported as null)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--no_progress", "--no-progress", action="store_true", dest="no_progress",
                   help="no progress bar")


def check_data_type(meta: dict, ckpt: Path, data_type: str) -> None:
    """Raise :class:`SceneMismatch` when ``ckpt`` was trained on another dataset type."""
    trained_on = meta.get("data_type")
    if trained_on is not None and trained_on != data_type:
        raise SceneMismatch(f"checkpoint {ckpt} was trained on data_type {trained_on!r} but "
                            f"--data_type is {data_type!r}")


def check_scene(meta: dict, ckpt: Path, args: argparse.Namespace, split: SceneSplit) -> None:
    """Raise :class:`SceneMismatch` when ``ckpt`` was not trained on this scene (see module doc)."""
    w, h = meta.get("image_width"), meta.get("image_height")
    if w and h:
        ours, theirs = split.cameras.width / split.cameras.height, w / h
        if abs(ours / theirs - 1) > ASPECT_TOLERANCE:
            raise SceneMismatch(f"checkpoint {ckpt} was trained on {w}x{h} images but split "
                                f"{args.split!r} of {args.scene_dir} has {split.cameras.width}x"
                                f"{split.cameras.height} (aspect {ours:.3f} vs {theirs:.3f}): another scene")
    stored = meta.get("cameras")
    if not stored:
        return
    try:
        train = index_split(args.scene_dir, args.data_type, "train", 1)
    except DataError:
        return  # no train split to compare with; the other checks stand
    c2w = torch.tensor(stored["c2w"], dtype=torch.float32)
    if c2w.shape != train.cameras.c2w.shape:
        raise SceneMismatch(f"checkpoint {ckpt} was trained on {c2w.shape[0]} cameras but the train split "
                            f"of {args.scene_dir} has {len(train.cameras)}: another scene")
    scale = max(1.0, float(c2w[:, :3, 3].norm(dim=-1).max()))
    gap = float((c2w - train.cameras.c2w.float()).abs().max())
    if gap > CAMERA_TOLERANCE * scale:
        raise SceneMismatch(f"checkpoint {ckpt}: its training cameras differ from the train split of "
                            f"{args.scene_dir} (max pose difference {gap:.3g}): another scene")


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[H, W, 3] float in [0, 1] -> uint8 array."""
    return (img.detach().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)


def error_map(pred: torch.Tensor, gt: torch.Tensor) -> np.ndarray:
    """[H, W, 3] uint8 colour map of the per-pixel mean absolute error (0 .. ERROR_MAP_MAX)."""
    from matplotlib import colormaps

    err = ((pred - gt).abs().mean(-1) / ERROR_MAP_MAX).clamp(0, 1).cpu().numpy()
    return (colormaps["inferno"](err)[..., :3] * 255 + 0.5).astype(np.uint8)


def write_png(path: Path, pixels: np.ndarray) -> None:
    """Atomically write an [H, W, 3] uint8 PNG."""
    import imageio.v3 as iio

    with atomic_path(path) as tmp:
        iio.imwrite(tmp, pixels, extension=".png")


class RenderSaver:
    """``on_image`` callback of :func:`evaluate_model` writing render / gt / error PNGs."""

    def __init__(self, folder: Path, files: tuple[str, ...]):
        self.folder = folder
        self.files = files

    def __call__(self, view: int, pred: torch.Tensor, gt: torch.Tensor) -> None:
        stem = f"{view:03d}_{Path(self.files[view]).stem}"
        write_png(self.folder / f"{stem}.png", to_uint8(pred))
        write_png(self.folder / f"{stem}_gt.png", to_uint8(gt))
        write_png(self.folder / f"{stem}_error.png", error_map(pred, gt))


def metrics_payload(result: EvalResult, meta: dict, ckpt: Path, downscale: int) -> dict:
    """``metrics.json``: the evaluation plus what was evaluated."""
    return {"checkpoint": str(ckpt), "model_type": meta.get("model_type"), "kind": meta.get("kind"),
            "teacher_type": meta.get("teacher_type"), "data_type": meta.get("data_type"),
            "downscale": downscale, **result.to_dict()}


def run(args: argparse.Namespace) -> int:
    from pvd.train.checkpoint import load_model
    from pvd.train.session import backend_name, prepare_device, vars_plain

    t_start = time.perf_counter()
    device = prepare_device(args.device)
    if not args.scene_dir.is_dir():
        raise UserError(f"SCENE_DIR {args.scene_dir} is not a directory")
    model = load_model(args.ckpt, device)
    check_data_type(model.meta, args.ckpt, args.data_type)
    downscale = args.downscale if args.downscale is not None else int(model.meta.get("downscale", 1))
    if downscale < 1:
        raise UserError(f"--downscale must be >= 1, got {downscale}")
    split = load_split(args.scene_dir, args.data_type, args.split, downscale)
    if len(split) == 0:
        raise UserError(f"split {args.split!r} of {args.scene_dir} has no images")
    check_scene(model.meta, args.ckpt, args, split)
    workspace: Path = args.workspace
    saver = RenderSaver(workspace / "renders", split.files) if args.save_renders else None
    result = evaluate_model(model, split, args.ssim_mode, lpips=not args.no_lpips, device=device,
                            progress=not args.no_progress, on_image=saver)
    payload = metrics_payload(result, model.meta, args.ckpt, downscale)
    write_json(workspace / "metrics.json", payload)
    summary = {k: payload[k] for k in ("psnr", "psnr_of_mean_mse", "ssim", "lpips_alex", "lpips_vgg",
                                       "render_seconds", "fps")}
    record = make_record("evaluate", config=vars_plain(args), device=str(device), backend=backend_name(device),
                         seconds=time.perf_counter() - t_start, metrics=summary,
                         model_type=model.meta.get("model_type"), model_kind=model.meta.get("kind"),
                         teacher_type=model.meta.get("teacher_type"), data_type=args.data_type,
                         split=args.split, n_images=result.n_images, ssim_mode=args.ssim_mode,
                         checkpoint=str(args.ckpt), metrics_file=str(workspace / "metrics.json"))
    write_json(workspace / "record.json", record)
    lp = ", ".join(f"LPIPS-{n} {v:.4f}" for n, v in (("alex", result.lpips_alex), ("vgg", result.lpips_vgg))
                   if v is not None) or "LPIPS unavailable"
    print(f"{args.split}: {result.n_images} images {result.width}x{result.height}: PSNR {result.psnr:.2f} dB, "
          f"SSIM {result.ssim:.4f} ({args.ssim_mode}), {lp}; {result.fps:.2f} fps -> {workspace / 'metrics.json'}")
    return 0
