"""Typed, versioned run records: what a ``record.json`` holds, read back as one frozen :class:`Record`.

On disk a record is one flat JSON object (format ``pvd-record/1``, written by
:func:`pvd.records.make_record`)::

    format, kind, created, code_version, backend,          common to every run
    device, torch, host, threads, gpu,                     the device (DeviceInfo)
    device_request, gpu_slot, gpu_peak_memory_mb,
    seconds, config, metrics, precision,
    <kind-specific fields>                                 TrainPart, DistillPart, ... (PARTS)
    <anything else>                                        kept in ``extra``

``kind`` is one of :data:`PARTS` (``train``, ``distill``, ``evaluate``, ``edit``, ``import``,
``render``, ``export``); each kind's own fields are typed in its part (the ones every writer gives are required,
the rest optional); fields no part names are kept as written in ``Record.extra`` (and
``CurvePoint.extra``, ``EditSource.extra``). :meth:`Record.from_json` reads a dict or a file and
raises one :class:`RecordError` naming the file for anything it cannot read: another format
version, an unknown kind, a missing or mistyped field. :meth:`Record.to_json` gives the flat layout
back (optional fields that are None are left out).
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Union

from pvd.errors import UserError

RECORD_FORMAT = "pvd-record/1"


class RecordError(UserError):
    """A ``record.json`` that this pvd cannot read; the message names the file and the field."""


@dataclass(frozen=True)
class CurvePoint:
    """One probe of a learning curve (:mod:`pvd.train.loop`): after ``step`` optimisation steps,
    ``seconds`` / ``cpu_seconds`` of training (probes excluded), the probe PSNR (dB) against the test
    images and, for a student, against its teacher's renders; other probe values in ``extra``."""

    step: int
    seconds: float
    cpu_seconds: float
    psnr: float
    psnr_vs_teacher: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DeviceInfo:
    """Where a run ran: ``device`` (``cpu``, ``cuda:0``), torch version, host, intra-op threads, the
    GPU's name, the ``--device`` asked for, the GPU slot held (``--device auto``) and the peak GPU
    memory of its tensors (MiB; None on the CPU)."""

    device: str | None = None
    torch: str | None = None
    host: str | None = None
    threads: int | None = None
    gpu: str | None = None
    device_request: str | None = None
    gpu_slot: dict | None = None
    gpu_peak_memory_mb: float | None = None

    @property
    def is_cuda(self) -> bool:
        return str(self.device or "").startswith("cuda")


@dataclass(frozen=True)
class TrainPart:
    """``pvd train``: a teacher of ``model_type`` trained from the images of a ``data_type`` scene."""

    model_type: str
    preset: str
    data_type: str
    iterations: int
    cpu_seconds: float | None = None
    eval_seconds: float | None = None
    checkpoint: str | None = None
    scene_box: Any = None
    init: dict | None = None
    gaussians: int | None = None
    curve: tuple[CurvePoint, ...] | None = None
    curve_probe: dict | None = None


@dataclass(frozen=True)
class DistillPart:
    """``pvd distill``: a student of ``model_type`` distilled from a ``teacher_type`` teacher."""

    model_type: str
    teacher_type: str
    preset: str
    data_type: str
    iterations: int
    pair: str | None = None
    cpu_seconds: float | None = None
    eval_seconds: float | None = None
    checkpoint: str | None = None
    teacher_checkpoint: str | None = None
    init: str | None = None
    init_copied: Any = None
    student_grid: Any = None
    stages: list | None = None
    grid_occupancy: Any = None
    pose_region: dict | None = None
    gaussians: int | None = None
    curve: tuple[CurvePoint, ...] | None = None
    curve_probe: dict | None = None


@dataclass(frozen=True)
class EvaluatePart:
    """``pvd evaluate``: the model of ``checkpoint`` (``model_kind`` teacher or student) scored on
    ``n_images`` images of a split; the whole result is in ``metrics_file`` (metrics.json)."""

    model_type: str
    model_kind: str
    data_type: str
    split: str
    n_images: int
    teacher_type: str | None = None
    ssim_mode: str | None = None
    checkpoint: str | None = None
    metrics_file: str | None = None
    reference: dict | None = None


@dataclass(frozen=True)
class EditSource:
    """A checkpoint an edit read: its model type, path and file hash; other keys in ``extra``."""

    model_type: str
    checkpoint: str | None = None
    sha256: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EditPart:
    """``pvd edit``: an edit program over a ``base_type`` checkpoint (the first of ``sources``)."""

    base_type: str
    sources: tuple[EditSource, ...]
    program: dict | None = None
    baked: bool | None = None
    checkpoint: str | None = None


@dataclass(frozen=True)
class ImportPart:
    """``pvd import``: a teacher converted from the reference's released checkpoint ``source_file``."""

    model_type: str
    data_type: str
    preset: str | None = None
    iterations: int | None = None
    source_file: str | None = None
    source_sha256: str | None = None
    source_epoch: Any = None
    source_global_step: int | None = None
    ignored_entries: list | None = None
    checkpoint: str | None = None


@dataclass(frozen=True)
class RenderPart:
    """``pvd render``: a video of the model of ``checkpoint`` along a camera ``path``."""

    model_type: str
    model_kind: str
    data_type: str | None = None
    path: str | None = None
    width: int | None = None
    height: int | None = None
    video: str | None = None
    checkpoint: str | None = None


@dataclass(frozen=True)
class ExportPart:
    """``pvd export``: the model of ``checkpoint`` written as ``export_format`` to ``out``."""

    model_type: str
    model_kind: str
    export_format: str
    out: str
    checkpoint: str | None = None
    views: int | None = None


RunPart = TrainPart | DistillPart | EvaluatePart | EditPart | ImportPart | RenderPart | ExportPart
PARTS: dict[str, type] = {
    "train": TrainPart,
    "distill": DistillPart,
    "evaluate": EvaluatePart,
    "edit": EditPart,
    "import": ImportPart,
    "render": RenderPart,
    "export": ExportPart,
}
COMMON = ("format", "kind", "created", "code_version", "backend", "seconds", "config", "metrics", "precision")


@dataclass(frozen=True)
class Record:
    """One run's record (see the module doc for the file layout).

    Attributes:
        kind: the run's kind, a key of :data:`PARTS`.
        seconds: the run's wall seconds (for training: the steps, probes excluded).
        part: the kind's own fields (``PARTS[kind]``).
        created: local time the record was written (``%Y-%m-%dT%H:%M:%S%z``).
        code_version: ``{"pvd": version, "git_commit": ..., "git_dirty": ...}``.
        backend: the backend of the hot ops (``torch`` or ``native``).
        device: where it ran.
        config: the run's CLI arguments and configs as plain data.
        metrics: what the run measured (plain data; per kind).
        precision: the dtype training steps ran in (float32, float16, bfloat16), for training runs.
        extra: every other field, as written.
        format: the layout version, :data:`RECORD_FORMAT`.
        path: the file it was read from (None when built in memory); not part of the record.
    """

    kind: str
    seconds: float
    part: RunPart
    created: str | None = None
    code_version: dict | None = None
    backend: str | None = None
    device: DeviceInfo = field(default_factory=DeviceInfo)
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    precision: str | None = None
    extra: dict = field(default_factory=dict)
    format: str = RECORD_FORMAT
    path: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in PARTS:
            raise RecordError(f"unknown record kind {self.kind!r}; known: {', '.join(PARTS)}")
        if not isinstance(self.part, PARTS[self.kind]):
            need, got = PARTS[self.kind].__name__, type(self.part).__name__
            raise RecordError(f"a {self.kind} record needs a {need}, got {got}")

    @staticmethod
    def from_json(source: dict | str | Path, where: str | None = None) -> Record:
        """Read a record from its JSON object or its file; ``where`` names it in errors (default:
        the file). Raises :class:`RecordError` for an unreadable file, another format version, an
        unknown kind or a missing or mistyped field."""
        path = None
        if isinstance(source, (str, Path)):
            path = Path(source)
            where = where or str(path)
            data = _read(path)
        else:
            where = where or "record"
            data = source
        if not isinstance(data, dict):
            raise RecordError(f"{where}: a record is a JSON object, got {type(data).__name__}")
        fmt = data.get("format")
        if fmt != RECORD_FORMAT:
            raise RecordError(
                f"{where}: record format {fmt!r} is not one this pvd reads ({RECORD_FORMAT!r}); "
                "read it with the pvd that wrote it, or run the step again"
            )
        kind = data.get("kind")
        if kind not in PARTS:
            raise RecordError(f"{where}: unknown record kind {kind!r}; known: {', '.join(PARTS)}")
        hints = _hints(Record)
        common = {k: _convert(data[k], hints[k], where, k) for k in COMMON if k in data}
        if "seconds" not in common:
            raise RecordError(f"{where}: the {kind} record lacks the field 'seconds'")
        device_keys = {f.name for f in fields(DeviceInfo)}
        part_keys = {f.name for f in fields(PARTS[kind])}
        device = _build(DeviceInfo, {k: v for k, v in data.items() if k in device_keys}, where, "the device")
        part = _build(PARTS[kind], {k: v for k, v in data.items() if k in part_keys}, where, f"the {kind} record")
        taken = set(COMMON) | device_keys | part_keys
        extra = {k: v for k, v in data.items() if k not in taken}
        return Record(**common, part=part, device=device, extra=extra, path=path)

    def to_json(self) -> dict:
        """The flat on-disk layout (module doc); optional fields that are None are left out."""
        out: dict[str, Any] = {"format": self.format, "kind": self.kind}
        for name in ("created", "code_version", "backend"):
            out[name] = getattr(self, name)
        out.update(_plain(self.device))
        out.update(seconds=self.seconds, config=self.config, metrics=self.metrics, precision=self.precision)
        out.update(_plain(self.part))
        out.update(self.extra)
        return {k: v for k, v in out.items() if v is not None}

    @property
    def scene_dir(self) -> str | None:
        """The scene folder the run read (its ``SCENE_DIR`` argument), None if it read none."""
        value = self.config.get("scene_dir")
        return str(value) if value else None

    @property
    def scene(self) -> str | None:
        """The scene's name: the last part of :attr:`scene_dir`."""
        return Path(self.scene_dir).name if self.scene_dir else None

    @property
    def curve(self) -> tuple[CurvePoint, ...]:
        """The run's learning curve (training runs with probes), else empty."""
        return getattr(self.part, "curve", None) or ()

    @property
    def cpu_seconds(self) -> float | None:
        """Processor seconds of a training run's steps, where recorded."""
        return getattr(self.part, "cpu_seconds", None)

    @property
    def where(self) -> str:
        """The file it was read from, for messages."""
        return str(self.path) if self.path is not None else f"the {self.kind} record"


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RecordError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path} is not readable JSON ({exc})") from None


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls, globalns=globals())


def _build(cls, values: Any, where: str, what: str, prefix: str = ""):
    """An instance of the dataclass ``cls`` from the JSON object ``values`` (``what`` names it in
    errors, ``prefix`` is its field path); a class with an ``extra`` field keeps unknown keys there,
    otherwise the caller chose the keys."""
    if not isinstance(values, dict):
        raise RecordError(f"{where}: {what} = {_short(values)} is not a JSON object")
    hints = _hints(cls)
    names = [f.name for f in fields(cls) if f.name != "extra"]
    required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    missing = [k for k in required if k not in values]
    if missing:
        raise RecordError(f"{where}: {what} lacks the field(s) {missing}")
    kwargs = {k: _convert(values[k], hints[k], where, f"{prefix}{k}") for k in names if k in values}
    if "extra" in hints:
        kwargs["extra"] = {k: v for k, v in values.items() if k not in names}
    return cls(**kwargs)


def _convert(value: Any, hint: Any, where: str, name: str) -> Any:
    """``value`` of the field ``name`` as its annotation ``hint`` says; :class:`RecordError` if it is not."""
    if hint is Any:
        return value
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        return _convert(value, next(a for a in typing.get_args(hint) if a is not type(None)), where, name)
    if is_dataclass(hint):
        return _build(hint, value, where, f"field {name!r}", f"{name}.")
    problem = None
    if origin is tuple:
        if isinstance(value, list):
            item = typing.get_args(hint)[0]
            return tuple(_convert(v, item, where, f"{name}[{i}]") for i, v in enumerate(value))
        problem = "a list"
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        problem = "a number"
    elif hint is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        problem = "an integer"
    elif isinstance(value, hint):
        return value
    else:
        problem = {str: "a string", bool: "true or false", dict: "a JSON object", list: "a list"}[hint]
    raise RecordError(f"{where}: field {name!r} = {_short(value)} is not {problem}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _plain(obj: Any) -> Any:
    """Dataclasses (extra flattened in, None fields left out) and tuples as JSON-ready values."""
    if is_dataclass(obj):
        out = {}
        for f in fields(obj):
            value = getattr(obj, f.name)
            if f.name == "extra":
                out.update(value)
            elif value is not None:
                out[f.name] = _plain(value)
        return out
    if isinstance(obj, (tuple, list)):
        return [_plain(v) for v in obj]
    return obj
