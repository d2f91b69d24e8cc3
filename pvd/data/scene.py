"""The one in-memory form of a dataset split, whatever its on-disk format.

Every parser (``blender``, ``llff``, ``nsvf``) returns a :class:`SceneSplit`; the renderer and the
trainers never see a file format. Camera conventions are those of :mod:`pvd.data.cameras`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from pvd.data.cameras import Cameras
from pvd.errors import UserError


class DataError(UserError, ValueError):
    """A dataset file is missing, unreadable or inconsistent. The message names the file."""


@dataclass(frozen=True)
class SceneSplit:
    """One split (train / val / test) of a scene.

    Attributes:
        name: split name.
        images: [n, height, width, C] float32 in [0, 1]; C = 4 (RGBA, alpha kept) or 3.
        cameras: the n cameras (OpenGL axes, world units).
        files: the image file each view came from, in view order.
        near, far: scene depth range in world units where the format gives one (LLFF bounds), else None.
        bbox: ((xmin, ymin, zmin), (xmax, ymax, zmax)) scene box in world units where known, else None.
    """

    name: str
    images: Tensor
    cameras: Cameras
    files: tuple[str, ...]
    near: float | None = None
    far: float | None = None
    bbox: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def has_alpha(self) -> bool:
        return self.images.shape[-1] == 4
