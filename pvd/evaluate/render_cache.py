"""A teacher's test renders, made once per checkpoint content and reused by all its students.

Every distillation scores its student against the ground truth and against the teacher's renders
of the test split; the teacher is the same for every student of a row of the matrix, so its renders
and its test PSNR are kept in ``<teacher workspace>/cache/renders-<key>.pt``. The key digests all
that the renders depend on: the checkpoint's sha256, the split (cameras, files and image content),
the device type and pvd's source code (:func:`pvd.records.source_digest`), so an entry can only be
reused where the same renders would be made again. Entries are written atomically; a damaged or
foreign entry is recomputed; splits whose renders would exceed :data:`MAX_BYTES` are not kept, and
a read-only teacher folder only costs the recomputation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from pvd.data.index import scene_hash
from pvd.data.scene import SceneSplit
from pvd.evaluate.evaluate import evaluate_model
from pvd.model import Model
from pvd.records import atomic_path, source_digest

MAX_BYTES = 512 << 20
FORMAT = "pvd-renders/1"


@dataclass(frozen=True)
class TestRenders:
    """A model's renders of a split (white background) and its PSNR against the split's images.

    Attributes:
        renders: one [H, W, 3] float32 tensor per view, on the CPU.
        psnr: mean PSNR over the views against the ground truth.
        cached: whether they came from the cache.
    """

    renders: list[Tensor]
    psnr: float
    cached: bool = False


def cache_key(ckpt_sha256: str, split: SceneSplit, device: torch.device) -> str:
    """The digest naming an entry (see the module doc)."""
    images = hashlib.sha256(split.images.detach().contiguous().numpy().tobytes()).hexdigest()
    parts = {
        "format": FORMAT,
        "checkpoint": ckpt_sha256,
        "split": split.name,
        "cameras": scene_hash(split.cameras, split.files),
        "images": images,
        "device": device.type,
        "code": source_digest(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def _read(path: Path, key: str) -> TestRenders | None:
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
        if entry.get("key") != key:
            return None
        return TestRenders(list(entry["renders"]), float(entry["psnr"]), cached=True)
    except Exception:  # any unreadable entry (truncated, foreign, another format) is made again
        return None


def teacher_renders(model: Model, ckpt: Path, ckpt_sha256: str, split: SceneSplit, device: torch.device) -> TestRenders:
    """``model``'s renders of ``split`` and its test PSNR, from the cache beside ``ckpt`` when an
    entry of the same checkpoint content, split, device type and code exists; else rendered (and kept)."""
    key = cache_key(ckpt_sha256, split, device)
    path = ckpt.parent / "cache" / f"renders-{key}.pt"
    if path.is_file():
        found = _read(path, key)
        if found is not None:
            return found
    renders: list[Tensor] = []
    keep = lambda view, pred, gt: renders.append(pred.cpu())
    result = evaluate_model(model, split, lpips=False, device=device, on_image=keep)
    made = TestRenders(renders, result.psnr)
    if sum(r.numel() * r.element_size() for r in renders) <= MAX_BYTES:
        try:
            with atomic_path(path) as tmp:
                torch.save({"key": key, "renders": torch.stack(renders), "psnr": made.psnr}, tmp)
        except OSError as err:
            print(f"note: the teacher's test renders were not cached in {path.parent} ({err.strerror or err})")
    return made
