"""Is a checkpoint being scored on the scene it was trained on? (a clear error rather than a
meaningless score)

A checkpoint belongs to another scene when its ``data_type`` differs from the one given; when the
split's image aspect ratio differs from the training images' by more than ``ASPECT_TOLERANCE``; or
when its training cameras differ from the train split of the scene folder (count or poses). The
resolution itself may differ: renders are always made at the split's size and intrinsics.
"""

from __future__ import annotations

from pathlib import Path

from pvd.data import index_split
from pvd.data.scene import DataError, SceneSplit
from pvd.errors import SpecError, UserError
from pvd.model import ModelMeta

ASPECT_TOLERANCE = 0.05
CAMERA_TOLERANCE = 1e-4  # relative to the largest camera distance from the origin


class SceneMismatch(UserError):
    """The checkpoint was trained on another scene than the one given."""


class DataTypeMismatch(SceneMismatch, SpecError):
    """The checkpoint was trained on another dataset type than the ``data_type`` given (names that option)."""


def check_data_type(meta: ModelMeta, ckpt: Path, data_type: str) -> None:
    """Raise :class:`DataTypeMismatch` (a :class:`SceneMismatch` naming ``data_type``) when ``ckpt`` was
    trained on another dataset type."""
    if meta.data_type is not None and meta.data_type != data_type:
        raise DataTypeMismatch(
            "data_type", f"{data_type} does not match checkpoint {ckpt}, trained on {meta.data_type!r} data"
        )


def check_scene(meta: ModelMeta, ckpt: Path, scene_dir: Path, data_type: str, split: SceneSplit) -> None:
    """Raise :class:`SceneMismatch` when ``ckpt`` was not trained on the scene in ``scene_dir``."""
    w, h = meta.image_width, meta.image_height
    if w and h:
        ours, theirs = split.cameras.width / split.cameras.height, w / h
        if abs(ours / theirs - 1) > ASPECT_TOLERANCE:
            raise SceneMismatch(
                f"checkpoint {ckpt} was trained on {w}x{h} images but split "
                f"{split.name!r} of {scene_dir} has {split.cameras.width}x"
                f"{split.cameras.height} (aspect {ours:.3f} vs {theirs:.3f}): another scene"
            )
    if meta.cameras is None:
        return
    try:
        train = index_split(scene_dir, data_type, "train", 1)
    except DataError:
        return  # no train split to compare with; the other checks stand
    c2w = meta.cameras.c2w
    if c2w.shape != train.cameras.c2w.shape:
        raise SceneMismatch(
            f"checkpoint {ckpt} was trained on {c2w.shape[0]} cameras but the train split "
            f"of {scene_dir} has {len(train.cameras)}: another scene"
        )
    scale = max(1.0, float(c2w[:, :3, 3].norm(dim=-1).max()))
    gap = float((c2w - train.cameras.c2w.float()).abs().max())
    if gap > CAMERA_TOLERANCE * scale:
        raise SceneMismatch(
            f"checkpoint {ckpt}: its training cameras differ from the train split of "
            f"{scene_dir} (max pose difference {gap:.3g}): another scene"
        )
