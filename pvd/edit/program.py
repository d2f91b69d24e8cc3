"""Edit programs: plain data (YAML or JSON) listing scene edits, applied in order.

Coordinates are the scene's **world** coordinates, the dataset's own convention (Blender /
synthetic: the ``transform_matrix`` frame, z up for the demo scene; see docs/data.md), not the
renderer box: the program is mapped into the box with the checkpoint's normalisation
(``box = scale * rotation @ world + offset``). ``rotation`` may permute and flip axes (torch-ngp's
frame, e.g. checkpoints imported from the reference) -- ``rotate_z`` still turns about the world's
z -- but not turn them by other angles (boxes would not stay boxes): that is an error.

A program is a mapping with one key ``operations``, a list of operations::

    operations:
      - {op: erase, min: [x0, y0, z0], max: [x1, y1, z1]}    # density inside the box becomes 0
      - {op: keep,  min: [...], max: [...]}                   # crop: density outside becomes 0
      - {op: move,  min: [...], max: [...],                   # the box's content is placed at
         translate: [dx, dy, dz], rotate_z: 30, scale: 1.0}   # T(p); the source box is emptied
      - {op: insert, checkpoint: other/checkpoint.pt,         # the content of a box of another
         min: [...], max: [...], translate: [...]}            # checkpoint's scene, placed at T(p)

The placement ``T(p) = c + translate + scale * Rz(rotate_z) (p - c)`` turns (degrees, right-handed
about +z) and scales (uniform) about the box centre ``c``; ``translate`` defaults to 0,
``rotate_z`` to 0 and ``scale`` to 1. An ``insert`` box is in the *inserted* checkpoint's world
(its own normalisation), and ``T`` maps it into this scene's world. Relative checkpoint paths are
resolved against the program file's folder. Overlapping content adds densities (colours mix in
proportion to density), as two solids would.

Structural errors (:func:`parse_program`) and scene errors (:func:`check_program`: a box outside
the scene box, a placement outside it) name the operation (``operation 2 (move)``) and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from pvd.data.cameras import Normalization
from pvd.errors import SpecError, UserError

OPS = ("erase", "keep", "move", "insert")
_KEYS = {
    "erase": {"op", "min", "max"},
    "keep": {"op", "min", "max"},
    "move": {"op", "min", "max", "translate", "rotate_z", "scale"},
    "insert": {"op", "checkpoint", "min", "max", "translate", "rotate_z", "scale"},
}
TOLERANCE = 1e-6


class EditError(UserError):
    """An edit program that cannot be applied; the message names the operation and field."""


class EditOptionError(EditError, SpecError):
    """An option of an edit (``bake``, ``density_floor``, ...) that cannot be used: an
    :class:`EditError` that names the option's field (the CLI shows its flag)."""


Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Box:
    """An axis-aligned box ``[lo, hi]`` (world units); ``lo < hi`` on every axis."""

    lo: Vec3
    hi: Vec3

    @property
    def centre(self) -> Vec3:
        return tuple((a + b) / 2 for a, b in zip(self.lo, self.hi))

    def corners(self) -> list[Vec3]:
        return [
            (x, y, z)
            for x in (self.lo[0], self.hi[0])
            for y in (self.lo[1], self.hi[1])
            for z in (self.lo[2], self.hi[2])
        ]


@dataclass(frozen=True)
class Placement:
    """``T(p) = c + translate + scale * Rz(rotate_z) (p - c)`` about a box centre ``c``."""

    translate: Vec3 = (0.0, 0.0, 0.0)
    rotate_z: float = 0.0
    scale: float = 1.0

    def rotation(self) -> list[list[float]]:
        """[3, 3] rotation about +z by ``rotate_z`` degrees (row-major)."""
        a = math.radians(self.rotate_z)
        c, s = math.cos(a), math.sin(a)
        return [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]

    def apply(self, p: Vec3, centre: Vec3) -> Vec3:
        """The world point ``T(p)``."""
        rot = self.rotation()
        rel = [p[i] - centre[i] for i in range(3)]
        return tuple(
            centre[i] + self.translate[i] + self.scale * sum(rot[i][j] * rel[j] for j in range(3)) for i in range(3)
        )


@dataclass(frozen=True)
class EditOp:
    """One operation: ``kind`` in :data:`OPS`, its box, a placement (move, insert) and the
    inserted checkpoint's path (insert)."""

    kind: str
    box: Box
    place: Placement | None = None
    checkpoint: str | None = None

    def to_dict(self) -> dict:
        out: dict = {"op": self.kind, "min": list(self.box.lo), "max": list(self.box.hi)}
        if self.checkpoint is not None:
            out["checkpoint"] = self.checkpoint
        if self.place is not None:
            out.update(translate=list(self.place.translate), rotate_z=self.place.rotate_z, scale=self.place.scale)
        return out


@dataclass(frozen=True)
class EditProgram:
    """An ordered list of :class:`EditOp`."""

    ops: tuple[EditOp, ...]

    def to_dict(self) -> dict:
        return {"operations": [op.to_dict() for op in self.ops]}

    def checkpoints(self) -> list[str]:
        """The inserted checkpoints' paths, in order of first use."""
        return list(dict.fromkeys(op.checkpoint for op in self.ops if op.kind == "insert"))


def _where(i: int, kind: str | None) -> str:
    return f"edit program: operation {i + 1}" + (f" ({kind})" if kind else "")


def _vec3(value, where: str, name: str) -> Vec3:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise EditError(f"{where}: {name} must be a list of 3 numbers [x, y, z], got {value!r}")
    if not all(isinstance(v, (int, float)) for v in value):  # "0.1" is no number
        raise EditError(f"{where}: {name} must be a list of 3 numbers [x, y, z], got {value!r}")
    out = tuple(float(v) for v in value)
    if not all(math.isfinite(v) for v in out) or any(isinstance(v, bool) for v in value):
        raise EditError(f"{where}: {name} must be 3 finite numbers, got {value!r}")
    return out


def _number(value, where: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EditError(f"{where}: {name} must be a finite number, got {value!r}")
    return float(value)


def parse_op(i: int, d) -> EditOp:
    """Operation ``i`` (0-based) of a program from plain data; errors name it and the field."""
    if not isinstance(d, dict):
        raise EditError(f"{_where(i, None)}: must be a mapping with an 'op' key, got {type(d).__name__}")
    kind = d.get("op")
    if kind not in OPS:
        raise EditError(f"{_where(i, None)}: op {kind!r} is unknown; expected one of {list(OPS)}")
    where = _where(i, kind)
    unknown = sorted(set(d) - _KEYS[kind])
    if unknown:
        raise EditError(f"{where}: unknown keys {unknown}; known: {sorted(_KEYS[kind])}")
    required = ["min", "max"] + (["checkpoint"] if kind == "insert" else [])
    missing = [k for k in required if k not in d]
    if missing:
        raise EditError(f"{where}: lacks {missing}")
    lo, hi = _vec3(d["min"], where, "min"), _vec3(d["max"], where, "max")
    flat = [axis for axis, a, b in zip("xyz", lo, hi) if not a < b]
    if flat:
        raise EditError(
            f"{where}: box is empty or inverted along {', '.join(flat)}: min {list(lo)} must be "
            f"< max {list(hi)} on every axis"
        )
    place = None
    if kind in ("move", "insert"):
        scale = _number(d.get("scale", 1.0), where, "scale")
        if not scale > 0:
            raise EditError(f"{where}: scale must be > 0, got {scale}")
        place = Placement(
            _vec3(d.get("translate", [0, 0, 0]), where, "translate"),
            _number(d.get("rotate_z", 0.0), where, "rotate_z"),
            scale,
        )
    checkpoint = None
    if kind == "insert":
        checkpoint = d["checkpoint"]
        if not isinstance(checkpoint, str) or not checkpoint:
            raise EditError(f"{where}: checkpoint must be a path, got {checkpoint!r}")
    return EditOp(kind, Box(lo, hi), place, checkpoint)


def parse_program(doc, base_dir: str | Path | None = None) -> EditProgram:
    """A program from plain data; relative ``insert`` checkpoints are resolved against ``base_dir``."""
    if not isinstance(doc, dict) or set(doc) != {"operations"}:
        found = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise EditError(f"edit program: must be a mapping with the one key 'operations', got {found}")
    ops = doc["operations"]
    if not isinstance(ops, list) or not ops:
        raise EditError(f"edit program: operations must be a non-empty list, got {ops!r}")
    parsed = [parse_op(i, d) for i, d in enumerate(ops)]
    if base_dir is not None:
        parsed = [
            EditOp(op.kind, op.box, op.place, str(Path(base_dir) / op.checkpoint))
            if op.checkpoint is not None and not Path(op.checkpoint).is_absolute()
            else op
            for op in parsed
        ]
    return EditProgram(tuple(parsed))


def read_program(path: str | Path) -> EditProgram:
    """Read a YAML or JSON program file (relative checkpoints are resolved against its folder)."""
    path = Path(path)
    if not path.is_file():
        raise EditError(f"edit program {path} does not exist")
    try:
        text = path.read_text()
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EditError(f"edit program {path} cannot be read: {first}") from None
    try:
        return parse_program(doc, path.parent)
    except EditError as exc:
        raise EditError(f"{path}: {exc}") from None


def erase_program(boxes: list[list[float]]) -> EditProgram:
    """The program of ``erase`` boxes ``[x0, y0, z0, x1, y1, z1]`` (one erase each)."""
    return parse_program({"operations": [{"op": "erase", "min": list(b[:3]), "max": list(b[3:])} for b in boxes]})


def check_axis_frame(norm: Normalization, what: str) -> None:
    """Boxes stay axis-aligned only through frames whose rotation permutes (and flips) axes, such
    as torch-ngp's (:data:`pvd.data.cameras.NGP_ROTATION`); any other rotation is an error."""
    if any(min(abs(v), abs(abs(v) - 1.0)) > 1e-6 for row in norm.rotation for v in row):
        raise EditError(
            f"edit program: {what}'s scene frame is rotated by {[list(r) for r in norm.rotation]}, "
            "not an axis permutation: its world boxes are not boxes in the renderer's frame"
        )


def box_to_box_frame(box: Box, norm: Normalization) -> Box:
    """A world box in ``norm``'s renderer-box coordinates (exact for axis-permuting frames)."""
    corners = [
        [norm.scale * sum(norm.rotation[i][j] * p[j] for j in range(3)) + norm.offset[i] for i in range(3)]
        for p in box.corners()
    ]
    return Box(tuple(min(c[k] for c in corners) for k in range(3)), tuple(max(c[k] for c in corners) for k in range(3)))


def scene_box(norm: Normalization) -> Box:
    """The renderer box ``[-bound, bound]^3`` in world coordinates (``norm`` axis-permuting)."""
    b = norm.bound
    corners = [
        [sum(norm.rotation[j][i] * (c[j] - norm.offset[j]) for j in range(3)) / norm.scale for i in range(3)]
        for c in Box((-b, -b, -b), (b, b, b)).corners()
    ]
    return Box(tuple(min(c[k] for c in corners) for k in range(3)), tuple(max(c[k] for c in corners) for k in range(3)))


def _outside(points: list[Vec3], box: Box) -> list[str]:
    """Axes along which some point leaves ``box`` (with :data:`TOLERANCE`)."""
    return [
        axis
        for k, axis in enumerate("xyz")
        if any(p[k] < box.lo[k] - TOLERANCE or p[k] > box.hi[k] + TOLERANCE for p in points)
    ]


def _fmt(box: Box) -> str:
    return f"[{', '.join(f'{v:.4g}' for v in box.lo)}] - [{', '.join(f'{v:.4g}' for v in box.hi)}]"


def check_program(program: EditProgram, scene: Normalization, sources: dict[str, Normalization]) -> None:
    """Check every box and placement against the scene boxes.

    Args:
        scene: the edited checkpoint's normalisation (its box bounds every box and placement).
        sources: inserted checkpoint path -> its normalisation (bounds the insert's box).
    """
    check_axis_frame(scene, "the edited checkpoint")
    for path, norm in sources.items():
        check_axis_frame(norm, f"inserted checkpoint {path}")
    dest = scene_box(scene)
    for i, op in enumerate(program.ops):
        where = _where(i, op.kind)
        own = scene_box(sources[op.checkpoint]) if op.kind == "insert" else dest
        axes = _outside(op.box.corners(), own)
        if axes:
            which = "the inserted checkpoint's scene box" if op.kind == "insert" else "the scene box"
            raise EditError(f"{where}: box {_fmt(op.box)} leaves {which} {_fmt(own)} along {', '.join(axes)}")
        if op.place is not None:
            placed = [op.place.apply(p, op.box.centre) for p in op.box.corners()]
            axes = _outside(placed, dest)
            if axes:
                lo = tuple(min(p[k] for p in placed) for k in range(3))
                hi = tuple(max(p[k] for p in placed) for k in range(3))
                raise EditError(
                    f"{where}: translate/rotate_z/scale place the content at {_fmt(Box(lo, hi))}, "
                    f"outside the scene box {_fmt(dest)} along {', '.join(axes)}"
                )
