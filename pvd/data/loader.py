"""One entry point for every dataset format: ``load_split`` and the per-scene normalisation.

``DATA_TYPES`` are the dataset keys used across config, CLI and paths; ``FORMATS`` maps each key to
its parser. Every parser returns a :class:`~pvd.data.index.SplitIndex` (cameras + files, no pixels);
``load_split`` decodes the images into a :class:`~pvd.data.scene.SceneSplit`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch

from pvd.data.blender import index_blender
from pvd.data.cameras import Normalization
from pvd.data.capture import index_capture
from pvd.data.index import SplitIndex, check_cameras
from pvd.data.llff import index_llff
from pvd.data.nsvf import index_nsvf
from pvd.data.scene import DataError, SceneSplit

FORMATS: dict[str, Callable[[Path, str, int], SplitIndex]] = {
    "synthetic": index_blender,
    "llff": index_llff,
    "tank": index_nsvf,
    "capture": index_capture,
}
DATA_TYPES: tuple[str, ...] = tuple(FORMATS)
SPLITS: tuple[str, ...] = ("train", "val", "test")


def index_split(root: str | Path, data_type: str, split: str, downscale: int = 1) -> SplitIndex:
    """Cameras and image files of one split, reading only image headers; every camera is checked
    (:func:`~pvd.data.index.check_cameras`), whatever the format."""
    if data_type not in FORMATS:
        raise DataError(f"unknown data_type {data_type!r}; expected one of {', '.join(DATA_TYPES)}")
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: scene folder not found")
    index = FORMATS[data_type](root, split, downscale)
    check_cameras(index, root)
    return index


def load_split(root: str | Path, data_type: str, split: str, downscale: int = 1) -> SceneSplit:
    """Load one split of a scene.

    Args:
        root: scene folder (e.g. ``nerf_synthetic/lego``, ``nerf_llff_data/fern``, ``Ignatius``).
        data_type: one of :data:`DATA_TYPES`.
        split: ``train``, ``val`` or ``test``.
        downscale: integer area-averaging factor (LLFF: on top of the standard ``images_4``).
    Returns:
        SceneSplit with images [n, H, W, C] float32 in [0, 1] (alpha kept) and OpenGL cameras.
    Raises:
        DataError naming the file and what was expected, for any missing or malformed input.
    """
    return index_split(root, data_type, split, downscale).load()


def scene_normalization(
    split: SceneSplit | SplitIndex,
    data_type: str,
    bound: float,
    scale: float,
    centre: tuple[float, float, float] | None = None,
) -> Normalization:
    """World -> box map for a scene: ``box = scale * world + offset``.

    ``synthetic`` and ``llff`` scenes are centred on the origin already (offset 0); ``tank`` scenes
    are centred on their ``bbox.txt`` box: ``offset = -scale * bbox_centre``; ``capture`` scenes on
    the centre of their automatic box (``meta["box"]``, :mod:`pvd.data.capture`). A given
    ``centre`` (world point) replaces the scene's own (a hand-set box; a capture's box keeps its axes).
    """
    if data_type not in FORMATS:
        raise DataError(f"unknown data_type {data_type!r}; expected one of {', '.join(DATA_TYPES)}")
    for name, value in (("bound", bound), ("scale", scale)):
        if not (isinstance(value, (int, float)) and value > 0):
            raise DataError(f"{name} must be a positive number, got {value!r}")
    if centre is not None and (len(centre) != 3 or not all(math.isfinite(float(c)) for c in centre)):
        raise DataError(f"box centre must be 3 finite numbers (world x y z), got {centre!r}")
    offset = (0.0, 0.0, 0.0)
    if centre is not None and data_type != "capture":
        offset = tuple(-float(scale) * float(c) for c in centre)
    elif data_type == "tank":
        if split.bbox is None:
            raise DataError(f"split {split.name!r} has no scene box; a tank scene needs bbox.txt")
        lo, hi = split.bbox
        offset = tuple(-float(scale) * 0.5 * (a + b) for a, b in zip(lo, hi))
    if data_type == "capture":
        box = split.meta["box"]
        middle = box["centre"] if centre is None else centre
        turned = torch.tensor(box["rotation"], dtype=torch.float64) @ torch.tensor(middle, dtype=torch.float64)
        return Normalization(
            float(bound),
            float(scale),
            tuple(-float(scale) * float(c) for c in turned),
            tuple(tuple(float(v) for v in row) for row in box["rotation"]),
        )
    return Normalization(float(bound), float(scale), offset)
