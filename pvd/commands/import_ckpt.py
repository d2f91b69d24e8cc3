"""``pvd import``: a reference checkpoint (METHOD §9) -> a self-describing pvd checkpoint + record.

    pvd import hash_ep0300.pth --model_type hash --data_type synthetic SCENE_DIR --workspace WS \\
        [--bound B] [--scale S] [--dt_gamma G]

The file's architecture, every state-dict name and shape, the hash row offsets and the box are
checked (one clear error names the first problem); the field is built from the ``paper`` preset
(the reference architectures) and the scene's normalisation in torch-ngp's frame
(``(x, y, z)_box = scale * (y, z, x)_world``). ``WS/checkpoint.pt`` is an ordinary teacher checkpoint:
``pvd evaluate``, ``pvd distill --ckpt_teacher`` and ``pvd render`` take it as it is.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from pvd.commands.flags import add_arch, add_data_type, finite_float
from pvd.commands.record import write_run_record
from pvd.data import index_split, scene_normalization
from pvd.data.cameras import NGP_ROTATION
from pvd.errors import UserError
from pvd.interop import import_reference, read_reference, unused_entries
from pvd.model import ModelMeta, save_checkpoint
from pvd.presets import DATASET_DEFAULTS, arch_preset, render_config
from pvd.records import sha256_file

PRESET = "paper"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reference_ckpt", type=Path, metavar="CKPT.pth", help="checkpoint of the reference code")
    add_arch(p, "--model_type", "architecture the file holds")
    add_data_type(p)
    p.add_argument("scene_dir", type=Path, help="the scene the file was trained on (its training cameras)")
    p.add_argument("--workspace", required=True, type=Path, help="output folder (checkpoint.pt, record.json)")
    p.add_argument("--bound", type=finite_float, help="box half-size (default: the file's aabb_train)")
    p.add_argument(
        "--scale", type=finite_float, help="world -> box scale the file was trained with (default: the dataset's)"
    )
    p.add_argument("--dt_gamma", type=finite_float, help="step growth with distance (default: the dataset's)")


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    if not args.scene_dir.is_dir():
        raise UserError(f"SCENE_DIR {args.scene_dir} is not a directory")
    ref = read_reference(args.reference_ckpt, args.model_type)
    defaults = DATASET_DEFAULTS[args.data_type]
    bound = args.bound if args.bound is not None else ref.bound
    scale = args.scale if args.scale is not None else defaults.scale
    dt_gamma = args.dt_gamma if args.dt_gamma is not None else defaults.dt_gamma
    if bound <= 0 or scale <= 0 or dt_gamma < 0:
        raise UserError(f"--bound and --scale must be > 0 and --dt_gamma >= 0, got {bound}, {scale}, {dt_gamma}")
    preset = arch_preset(PRESET, args.model_type)
    field_config = preset.field
    resolution = ref.field_resolution(args.model_type)
    if resolution is not None:  # the reference's vm/tensors resolution is a command-line option there
        field_config = dataclasses.replace(field_config, resolution=resolution)
    train = index_split(args.scene_dir, args.data_type, "train")
    norm = scene_normalization(train, args.data_type, bound, scale).rotated_by(NGP_ROTATION)
    meta = ModelMeta(
        model_type=args.model_type,
        preset=PRESET,
        field_config=field_config,
        render_config=render_config(PRESET, dt_gamma, bound),
        bound=bound,
        normalization=norm,
        kind="teacher",
        data_type=args.data_type,
        scene_dir=str(args.scene_dir),
        image_width=train.cameras.width,
        image_height=train.cameras.height,
        cameras=train.cameras,
        near=train.near,
        far=train.far,
        train_config={
            "source": "reference",
            "file": str(args.reference_ckpt),
            "epoch": int(ref.extras.get("epoch") or 0),
        },
        step=ref.global_step,
    )
    model = import_reference(ref, meta)
    args.workspace.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.workspace / "checkpoint.pt"
    save_checkpoint(ckpt_path, model)
    seconds = time.perf_counter() - t0
    write_run_record(
        args.workspace,
        "import",
        args,
        torch.device("cpu"),
        seconds,
        metrics={"occupied_fraction": model.grid.occupied_fraction(), "mean_density": float(model.grid.mean_density)},
        config={"bound": bound, "scale": scale, "dt_gamma": dt_gamma, "preset": PRESET},
        model_type=args.model_type,
        preset=PRESET,
        data_type=args.data_type,
        source_file=str(args.reference_ckpt),
        source_sha256=sha256_file(args.reference_ckpt),
        source_epoch=meta.train_config["epoch"],
        source_global_step=ref.global_step,
        ignored_entries=unused_entries(ref, model),
        checkpoint=str(ckpt_path),
        iterations=ref.global_step,
    )
    print(
        f"imported {args.model_type} from {args.reference_ckpt} (global step {ref.global_step}, bound {bound:g}, "
        f"scale {scale:g}, {100 * model.grid.occupied_fraction():.1f} % cells occupied) -> {ckpt_path}"
    )
    return 0
