"""Helpers of the fault catalogue (imported by its conftest and tests)."""

from __future__ import annotations

import json
from pathlib import Path

TRAIN = ["--data_type", "synthetic", "--iters", "12", "--batch_rays", "128", "--no_progress", "--threads", "1"]


def train_args(scene: Path, ws: Path, model_type: str = "hash", *extra) -> list:
    """argv of a short ``pvd train`` on a Blender-format scene."""
    return ["train", scene, "--model_type", model_type, "--workspace", ws, *TRAIN, *extra]


def edit_frames(scene: Path, split: str, edit) -> None:
    """Rewrite ``transforms_{split}.json`` of ``scene`` through ``edit(doc)`` (in place)."""
    path = scene / f"transforms_{split}.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), to prove a refused run changed nothing."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".pvd.lock"
    }
