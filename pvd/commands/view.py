"""``pvd view``: look at checkpoints in a browser (a tool command: it writes no record).

    pvd view --ckpt ws/hash/checkpoint.pt [--ckpt ws/hash2vm/checkpoint.pt ...] [--port 8080] [--scene DIR]

Prints the page's address; Ctrl-C (SIGINT) stops it (exit 0). A busy port is refused in one line. On
the CPU keep the sizes small (the defaults); on a GPU ``--max_size`` can grow. See docs/viewer-and-exports.md.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

import torch

from pvd.data import DATA_TYPES, index_split
from pvd.data.cameras import Cameras
from pvd.errors import UserError
from pvd.model import ModelMeta, load_model
from pvd.view.server import Shown, Viewer, check_port


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ckpt", action="append", required=True, type=Path, help="checkpoint.pt to show (repeat for several)"
    )
    p.add_argument("--port", type=int, default=8080, help="port of the page (default: 8080)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1, this machine only)")
    p.add_argument(
        "--scene", type=Path, help="scene folder: its train and test cameras are drawn (default: the checkpoint's)"
    )
    p.add_argument("--data_type", choices=DATA_TYPES, help="on-disk format of --scene (default: the checkpoint's)")
    p.add_argument("--device", default=None, help="cpu or cuda[:N] (default: cuda when present, else cpu)")
    p.add_argument("--preview_size", type=int, default=64, help="longer side in pixels while moving (default: 64)")
    p.add_argument("--max_size", type=int, default=256, help="longer side in pixels when still (default: 256)")


def labels(paths: list[Path], metas: list[ModelMeta]) -> list[str]:
    """One distinct panel label per checkpoint: ``<folder> (<model type> <kind>)``, numbered if repeated."""
    out = []
    for path, meta in zip(paths, metas):
        label = f"{path.resolve().parent.name} ({meta.model_type} {meta.kind})"
        n, base = 2, label
        while label in out:
            label, n = f"{base} #{n}", n + 1
        out.append(label)
    return out


def scene_cameras(args: argparse.Namespace, meta: ModelMeta) -> dict[str, Cameras]:
    """The cameras to draw: the scene's train and test splits, else the checkpoint's training cameras."""
    if args.scene is None:
        return {"train": meta.cameras} if meta.cameras is not None else {}
    if not args.scene.is_dir():
        raise UserError(f"--scene {args.scene} is not a directory")
    data_type = args.data_type or meta.data_type
    if data_type is None:
        raise UserError(f"--data_type is required: checkpoint does not say the data type of --scene {args.scene}")
    return {split: index_split(args.scene, data_type, split, meta.downscale).cameras for split in ("train", "test")}


def run(args: argparse.Namespace) -> int:
    for name in ("preview_size", "max_size"):
        if getattr(args, name) < 8:
            raise UserError(f"--{name} must be >= 8, got {getattr(args, name)}")
    check_port(args.host, args.port)
    for path in args.ckpt:
        if not path.is_file():
            raise UserError(f"--ckpt {path} is not a checkpoint file")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    models = [load_model(path, device) for path in args.ckpt]
    shown = [Shown(label, model) for label, model in zip(labels(args.ckpt, [m.meta for m in models]), models)]
    viewer = Viewer(
        shown,
        scene_cameras(args, models[0].meta),
        device,
        host=args.host,
        port=args.port,
        preview_size=args.preview_size,
        max_size=args.max_size,
    )
    print(f"pvd view: {len(shown)} checkpoint(s) on {device} at {viewer.url} (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        viewer.close()
    print("pvd view: stopped", flush=True)
    return 0
