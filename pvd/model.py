"""A trained radiance field as one object, and its self-describing checkpoint file.

:class:`Model` bundles a field, its occupancy grid, the renderer over both and the scene's
world -> box normalisation; :class:`ModelMeta` is the typed, versioned description that rebuilds
it. A checkpoint file is a ``torch.save`` dict:

* ``format``: ``"pvd-checkpoint/1"``;
* ``meta``: ``ModelMeta.to_dict()`` (plain data: model_type, preset, field_config, bound,
  density_range, normalization, render_config, kind, the scene it was trained on, its training
  cameras, the run's train_config and step);
* ``field`` and ``grid``: state dicts;
* ``train_state`` (optional): the training engine's resume state (:mod:`pvd.train.loop`).

Files are written atomically; reading checks the format and names the file in every error.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import asdict, dataclass, replace
from dataclasses import field as dc_field
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import Any

import torch

from pvd.data.cameras import Cameras, Normalization
from pvd.errors import SpecError, UserError
from pvd.fields import CONFIGS, FIELDS
from pvd.fields.base import Field
from pvd.records import atomic_path
from pvd.render import OccupancyGrid, RenderConfig, Renderer
from pvd.render.splat import SplatRenderer

FORMAT = "pvd-checkpoint/1"
META_VERSION = 1
KINDS = ("teacher", "student")


class CheckpointError(UserError):
    """A checkpoint file is missing, truncated, foreign or inconsistent."""


def config_from_dict(cls, values: dict, where: str):
    """Rebuild a frozen config dataclass, rejecting unknown keys (names them)."""
    if not isinstance(values, dict):
        raise CheckpointError(f"{where}: {cls.__name__} must be a mapping, got {type(values).__name__}")
    known = {f.name for f in dc_fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise CheckpointError(f"{where}: unknown {cls.__name__} keys {unknown}; known: {sorted(known)}")
    converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    try:
        return cls(**converted)
    except UserError as exc:
        raise CheckpointError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class ModelMeta:
    """What a checkpoint holds and how to rebuild it.

    Attributes:
        model_type: architecture key (``hash``, ``vm``, ``mlp``, ``tensors``, ``gs``), or ``edited`` (scene
            edits over embedded source fields, written by ``pvd edit``; see :mod:`pvd.fields.edited`).
        preset: the preset the field was sized from (``tiny`` / ``paper``).
        field_config: the field's frozen config dataclass.
        render_config: renderer and occupancy-grid settings.
        bound: half-size of the box ``[-bound, bound]^3``.
        density_range: (lo, hi) clamp of the log-density.
        normalization: dataset world -> box map.
        kind: ``teacher`` or ``student``.
        teacher_type, teacher_checkpoint: a student's teacher (None for teachers).
        data_type, scene_dir, downscale: the scene it was trained on.
        scene_hash: identity of the training split (its camera poses and image list, see
            :func:`pvd.data.index.scene_hash`); None for checkpoints that predate it.
        teacher_sha256: a student's teacher checkpoint file hash (None for teachers).
        image_width, image_height: size of the training images.
        cameras: the training cameras (None when unknown).
        near, far: the scene's depth bounds, where the format gives them.
        train_config: the run's schedule as plain data (teacher or distillation config).
        step: optimisation steps done.
        version: layout version of this description (``META_VERSION``).
    """

    model_type: str
    preset: str
    field_config: Any
    render_config: RenderConfig
    bound: float
    density_range: tuple[float, float] = (-2.0, 7.0)
    normalization: Normalization = dc_field(default_factory=Normalization)
    kind: str = "teacher"
    teacher_type: str | None = None
    teacher_checkpoint: str | None = None
    data_type: str | None = None
    scene_dir: str | None = None
    downscale: int = 1
    scene_hash: str | None = None
    teacher_sha256: str | None = None
    image_width: int | None = None
    image_height: int | None = None
    cameras: Cameras | None = None
    near: float | None = None
    far: float | None = None
    train_config: dict = dc_field(default_factory=dict)
    step: int = 0
    version: int = META_VERSION

    def to_dict(self) -> dict:
        """Plain data for the checkpoint file (see module doc); ``None`` entries are left out."""
        out = {f.name: getattr(self, f.name) for f in dc_fields(self)}
        out.update(
            field_config=asdict(self.field_config),
            render_config=asdict(self.render_config),
            density_range=list(self.density_range),
            normalization=self.normalization.to_dict(),
            cameras=self.cameras.to_dict() if self.cameras is not None else None,
        )
        return {k: v for k, v in out.items() if v is not None}

    @staticmethod
    def from_dict(d: dict, where: str = "meta") -> ModelMeta:
        """Rebuild from :meth:`to_dict` output; errors name ``where`` and the offending key."""
        if not isinstance(d, dict):
            raise CheckpointError(f"{where}: meta must be a mapping, got {type(d).__name__}")
        version = d.get("version", META_VERSION)
        if version != META_VERSION:
            raise CheckpointError(
                f"{where}: meta version {version!r} is not supported; this pvd reads "
                f"version {META_VERSION} (convert the file with the pvd that wrote it)"
            )
        names = {f.name for f in dc_fields(ModelMeta)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise CheckpointError(f"{where}: unknown meta keys {unknown}: not a checkpoint of this pvd")
        missing = [k for k in ("model_type", "preset", "field_config", "render_config", "bound") if k not in d]
        if missing:
            raise CheckpointError(f"{where}: meta lacks {missing}")
        key = d["model_type"]
        if key not in FIELDS:
            raise CheckpointError(f"{where}: unknown model_type {key!r}; expected one of {sorted(FIELDS)}")
        if d.get("kind", "teacher") not in KINDS:
            raise CheckpointError(f"{where}: kind {d['kind']!r} is not one of {list(KINDS)}")
        values = dict(d)
        values.update(
            field_config=config_from_dict(CONFIGS[key], d["field_config"], where),
            render_config=config_from_dict(RenderConfig, d["render_config"], where),
            bound=float(d["bound"]),
            density_range=tuple(float(v) for v in d.get("density_range", (-2.0, 7.0))),
            normalization=Normalization.from_dict(d["normalization"]) if "normalization" in d else Normalization(),
            cameras=Cameras.from_dict(d["cameras"]) if d.get("cameras") else None,
        )
        return ModelMeta(**values)

    def identity(self) -> dict:
        """What a resumed run must share with the checkpoint it continues (plain data): the model,
        the scene (normalisation and split hash), the teacher (path and file hash) and the schedule
        with its seed (the checkpoint interval may change)."""
        d = self.to_dict()
        schedule = {k: v for k, v in self.train_config.items() if k != "ckpt_every"}
        keys = (
            "model_type",
            "preset",
            "field_config",
            "render_config",
            "bound",
            "density_range",
            "normalization",
            "kind",
            "teacher_type",
            "teacher_checkpoint",
            "teacher_sha256",
            "data_type",
            "downscale",
            "scene_hash",
        )
        return {**{k: d.get(k) for k in keys}, "train_config": schedule}


def first_difference(stored, now, path: str = "") -> tuple[str, object, object] | None:
    """The first entry (``a.b[2]`` path, stored value, new value) where two plain-data trees differ,
    depth first in key order; None when they are equal. Lists and tuples compare alike."""
    if isinstance(stored, dict) and isinstance(now, dict):
        for key in list(stored) + [k for k in now if k not in stored]:
            found = first_difference(stored.get(key), now.get(key), f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    if isinstance(stored, (list, tuple)) and isinstance(now, (list, tuple)) and len(stored) == len(now):
        for i, (a, b) in enumerate(zip(stored, now)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if stored == now else (path, stored, now)


@dataclass
class Model:
    """Everything needed to render a trained field.

    Attributes:
        field: the radiance field.
        grid: its occupancy grid.
        renderer: renderer over ``field`` and ``grid``.
        meta: the typed description (:class:`ModelMeta`).
    """

    field: Field
    grid: OccupancyGrid
    renderer: Renderer
    meta: ModelMeta

    @property
    def model_type(self) -> str:
        return self.meta.model_type

    @property
    def normalization(self) -> Normalization:
        return self.meta.normalization

    def to(self, device) -> Model:
        self.field.to(device)
        self.grid.to(device)
        return self

    def at_step(self, step: int) -> None:
        """Record the number of optimisation steps done in the meta."""
        self.meta = replace(self.meta, step=int(step))


def memory_bytes(device: torch.device) -> int:
    """The memory of ``device``: a GPU's total, else the machine's physical memory."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def field_bytes(meta: ModelMeta) -> int:
    """Bytes of the field's parameters and buffers that ``meta`` describes, counted on the ``meta``
    device (nothing allocated). A field that cannot be built at ``meta.bound`` (sizes past what a
    tensor or the native kernels can index) is a :class:`SpecError` naming ``bound``."""
    try:
        with torch.device("meta"):
            field = FIELDS[meta.model_type](meta.field_config, meta.bound, meta.density_range)
    except ValueError as exc:  # a size check of the field's own (e.g. the hash grid's index range)
        raise SpecError(
            "bound", f"{meta.bound:g}: a {meta.model_type} field this large cannot be built: {exc}"
        ) from None
    except (TypeError, RuntimeError, OverflowError):  # torch: a size past 64-bit element counts
        raise SpecError(
            "bound",
            f"{meta.bound:g}: a {meta.model_type} field this large cannot be built: its grids would "
            "have more elements than a tensor can hold; use a smaller `bound`",
        ) from None
    tensors = list(field.parameters()) + list(field.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def check_fits(meta: ModelMeta, device: torch.device) -> None:
    """Refuse, before any allocation, a field whose parameters alone exceed ``device``'s memory
    (e.g. a vm or tensors field at a huge ``bound``: its grids grow with the bound)."""
    need, have = field_bytes(meta), memory_bytes(device)
    if need > have:
        raise SpecError(
            "bound",
            f"{meta.bound:g}: a {meta.model_type} field at this bound needs {need / 2**30:.3g} GiB for its "
            f"parameters alone, more than the {have / 2**30:.3g} GiB of {device}; use a smaller `bound`",
        )


def build_model(meta: ModelMeta, device: str | torch.device = "cpu") -> Model:
    """Construct an untrained model (field + grid + renderer) from ``meta`` (checked to fit ``device``
    first, :func:`check_fits`)."""
    check_fits(meta, torch.device(device))
    field = FIELDS[meta.model_type](meta.field_config, meta.bound, meta.density_range)
    grid = OccupancyGrid(meta.bound, meta.render_config.grid_resolution)
    renderer = (SplatRenderer if meta.model_type == "gs" else Renderer)(field, grid, meta.render_config)
    return Model(field, grid, renderer, meta).to(device)


@dataclass
class StoredCheckpoint:
    """The validated contents of a checkpoint file."""

    path: Path
    meta: ModelMeta
    field: dict
    grid: dict
    train_state: dict | None


def save_checkpoint(path: str | Path, model: Model, train_state: dict | None = None) -> None:
    """Atomically write ``model`` (and optional resume state) to ``path``."""
    payload = {
        "format": FORMAT,
        "meta": model.meta.to_dict(),
        "field": {k: v.detach().cpu() for k, v in model.field.state_dict().items()},
        "grid": {k: v.detach().cpu() for k, v in model.grid.state_dict().items()},
    }
    if train_state is not None:
        payload["train_state"] = train_state
    buffer = io.BytesIO()  # serialised first: torch.save's own writer turns a full disk into a vague RuntimeError
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())


def read_checkpoint(path: str | Path) -> StoredCheckpoint:
    """Load and validate a checkpoint file; errors name the file.

    The file is memory-mapped: tensors are read when used, so a caller that only needs the meta or
    the resume state's step (workspace and ``--resume`` checks) does not read a multi-GiB file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        # mmap needs torch's zip layout; anything else is loaded plainly and fails with its own error
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path} is not readable: {exc.strerror or exc}") from None
    except Exception as exc:  # torch.load raises many types (KeyError on a text file, UnpicklingError, ...)
        detail = str(exc).split(". ")[0].splitlines()[0][:120] if str(exc) else ""
        raise CheckpointError(
            f"checkpoint {path} is truncated or not a pvd checkpoint "
            f"({type(exc).__name__}{': ' + detail if detail else ''})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"checkpoint {path} is not a pvd checkpoint: format {found!r}, expected {FORMAT!r}")
    for key in ("meta", "field", "grid"):
        if key not in payload:
            raise CheckpointError(f"checkpoint {path} lacks its {key!r} entry")
    meta = ModelMeta.from_dict(payload["meta"], where=f"checkpoint {path}")
    return StoredCheckpoint(path, meta, payload["field"], payload["grid"], payload.get("train_state"))


def check_finite(model: Model, where: str) -> None:
    """Raise :class:`CheckpointError` naming the first field or grid tensor of ``model`` that holds a
    NaN or an infinity (a diverged or damaged model would otherwise render garbage or fail later)."""
    for part, module in (("field", model.field), ("grid", model.grid)):
        for name, tensor in module.state_dict().items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                bad = int((~torch.isfinite(tensor)).sum())
                raise CheckpointError(
                    f"{where}: {part} entry {name!r} holds {bad} non-finite value(s) (NaN or infinity) of "
                    f"{tensor.numel()}; the model is damaged or its training diverged"
                )


def load_state(model: Model, stored: StoredCheckpoint) -> Model:
    """Copy the stored field and grid tensors into ``model`` (checked finite)."""
    try:
        model.field.load_state_dict(stored.field)
        model.grid.load_state_dict(stored.grid)
    except RuntimeError as exc:
        raise CheckpointError(
            f"checkpoint {stored.path}: stored tensors do not fit the described "
            f"{stored.meta.model_type} model: {str(exc).splitlines()[0]}"
        ) from None
    check_finite(model, f"checkpoint {stored.path}")
    return model


def load_model(path: str | Path, device: str | torch.device = "cpu") -> Model:
    """Rebuild the model stored at ``path`` on ``device``."""
    stored = read_checkpoint(path)
    return load_state(build_model(stored.meta, "cpu"), stored).to(device)
