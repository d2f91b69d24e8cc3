"""Collect evaluated models into one long-form table, ``results.csv``: one row per evaluated model.

Layout read (the workflow's results path scheme, see the Snakefile header)::

    <results>/<dataset>/<scene>/eval/<model>/metrics.json      written by ``pvd evaluate``
    <results>/<dataset>/<scene>/teacher/<arch>/record.json     ``pvd train`` (model = arch)
    <results>/<dataset>/<scene>/distill/<t>2<s>/record.json    ``pvd distill`` (model = t2s)
    <results>/<dataset>/<scene>/distill/<t>2<s>@<v>/record.json  an ablation variant ``v`` of a pair

Rows of ablation variants carry the variant's name in ``variant`` (empty for the main cells); the
matrices and figures use the main cells only.

Records are read as typed :class:`pvd.record_types.Record`. ``train_seconds`` is the training
record's ``seconds``: training from the images for a teacher, the distillation alone for a student.
Missing LPIPS values stay missing (``n/a`` in the CSV), never invented. Only these JSON files are
read, never logs. :mod:`pvd.report.runs` builds the same rows from workspaces in any layout.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd

from pvd.data import DATA_TYPES
from pvd.errors import SpecError, UserError
from pvd.fields import ARCHS
from pvd.names import ModelName
from pvd.record_types import Record
from pvd.records import atomic_path

DATASETS = DATA_TYPES
DATASET_TITLES = {"synthetic": "Synthetic-NeRF", "llff": "LLFF", "tank": "Tanks&Temples", "capture": "Captures"}
NA = "n/a"


@dataclass(frozen=True)
class ResultRow:
    """One evaluated model of one scene; ``student`` is ``""`` for a teacher's own row, ``variant``
    the ablation variant (``""`` for the main cells)."""

    dataset: str
    scene: str
    teacher: str
    student: str
    psnr: float
    ssim: float
    lpips_alex: float | None
    lpips_vgg: float | None
    train_seconds: float | None
    model: str
    split: str
    n_images: int
    ssim_mode: str
    render_fps: float | None
    lpips_note: str
    variant: str = ""
    teacher_source: str = "train"


COLUMNS = tuple(f.name for f in fields(ResultRow))


def grid_model(name: str) -> ModelName:
    """A model of the benchmark grid: ``"vm"``, ``"hash2vm"`` or ``"hash2vm@l1"`` (an ablation
    variant of a pair) over the architectures :data:`ARCHS` (edited models are reported by
    :mod:`pvd.report.edits`)."""
    model = ModelName.parse(name)
    if model.teacher not in ARCHS:
        raise UserError(f"model {name!r}: the grid's teachers are {', '.join(ARCHS)} (edits: pvd report edits)")
    return model


def load_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} does not exist") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} holds {type(data).__name__}, expected a JSON object")
    return data


def _number(data: dict, key: str, path: Path, required: bool = True) -> float | None:
    value = data.get(key)
    if value is None:
        if required:
            raise UserError(f"{path}: field {key!r} is missing or null")
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise UserError(f"{path}: field {key!r} = {value!r} is not a number")
    value = float(value)
    return None if math.isnan(value) else value


def training_record(metrics_path: Path) -> Path:
    """The record.json of the run that produced the model evaluated in ``metrics_path``."""
    model = metrics_path.parent.name
    stage = "teacher" if grid_model(model).is_teacher else "distill"
    return metrics_path.parent.parent.parent / stage / model / "record.json"


def cell_of(path: Path, stages: tuple[str, ...], leaf: str) -> tuple[str, str, str]:
    """(dataset, scene, model) of ``<dataset>/<scene>/<stage>/<model>/<leaf>`` with ``stage`` in
    ``stages`` (the workflow's path scheme); anything else is a :class:`UserError` naming the file."""
    parts = path.parts
    if len(parts) < 5 or parts[-1] != leaf or parts[-3] not in stages:
        stage = stages[0] if len(stages) == 1 else f"({'|'.join(stages)})"
        raise UserError(f"{path} is not at <dataset>/<scene>/{stage}/<model>/{leaf}")
    dataset, scene, model = parts[-5], parts[-4], parts[-2]
    if dataset not in DATASETS:
        raise UserError(f"{path}: dataset folder {dataset!r} is not one of {DATASETS}")
    return dataset, scene, model


def read_row(metrics_path: str | Path) -> ResultRow:
    """One row from ``<dataset>/<scene>/eval/<model>/metrics.json`` and its training record."""
    path = Path(metrics_path)
    dataset, scene, model = cell_of(path, ("eval",), "metrics.json")
    name = grid_model(model)
    teacher = path.parent.parent.parent / "teacher" / name.teacher / "record.json"
    return result_row(
        dataset,
        scene,
        name,
        path,
        Record.from_json(training_record(path)),
        Record.from_json(teacher) if teacher.is_file() else None,
    )


def result_row(
    dataset: str, scene: str, name: ModelName, metrics_path: Path, training: Record | None, teacher: Record | None
) -> ResultRow:
    """The row of model ``name`` of one scene, evaluated in ``metrics_path``: ``training`` is the
    record of the run that made it (None: unknown, no train_seconds), ``teacher`` its teacher's
    (None: unknown, taken as trained)."""
    metrics = load_json(metrics_path)
    lpips_alex = _number(metrics, "lpips_alex", metrics_path, required=False)
    lpips_vgg = _number(metrics, "lpips_vgg", metrics_path, required=False)
    note = ""
    if lpips_alex is None or lpips_vgg is None:
        note = str(metrics.get("lpips_unavailable_reason") or "LPIPS not in metrics.json")
    return ResultRow(
        dataset=dataset,
        scene=scene,
        teacher=name.teacher,
        student=name.student,
        psnr=_number(metrics, "psnr", metrics_path),
        ssim=_number(metrics, "ssim", metrics_path),
        lpips_alex=lpips_alex,
        lpips_vgg=lpips_vgg,
        train_seconds=training.seconds if training is not None else None,
        model=str(name),
        split=str(metrics.get("split", "")),
        n_images=int(metrics.get("n_images", 0)),
        ssim_mode=str(metrics.get("ssim_mode", "")),
        render_fps=_number(metrics, "fps", metrics_path, required=False),
        lpips_note=note,
        variant=name.variant,
        teacher_source=teacher_source(teacher),
    )


def teacher_source(teacher: Record | None) -> str:
    """``import`` for a teacher converted from the reference's checkpoint (``pvd import``), else ``train``."""
    return "import" if teacher is not None and teacher.kind == "import" else "train"


def find_metrics(results_dir: str | Path) -> list[Path]:
    """Every ``<dataset>/<scene>/eval/<model>/metrics.json`` under a results folder."""
    root = Path(results_dir)
    if not root.is_dir():
        raise SpecError("results", f"{root} is not a directory")
    found = sorted(root.glob("*/*/eval/*/metrics.json"))
    if not found:
        raise SpecError("results", f"{root} holds no <dataset>/<scene>/eval/<model>/metrics.json")
    return found


def row_order(row: ResultRow) -> tuple:
    """Rows by dataset, scene, teacher, then the teacher's own row before its students, then variant."""
    return (
        DATASETS.index(row.dataset),
        row.scene,
        ARCHS.index(row.teacher),
        -1 if not row.student else ARCHS.index(row.student),
        row.variant,
    )


def collect(metrics_paths: list[str | Path]) -> list[ResultRow]:
    """Rows of all given metrics files, ordered by dataset, scene, teacher, student."""
    if not metrics_paths:
        raise UserError("no metrics.json files given")
    rows = [read_row(p) for p in metrics_paths]
    seen: dict[tuple, str] = {}
    for row, path in zip(rows, metrics_paths):
        key = (row.dataset, row.scene, row.model)
        if key in seen:
            raise UserError(f"{path} and {seen[key]} are the same model of the same scene")
        seen[key] = str(path)
    return sorted(rows, key=row_order)


def write_rows(rows: list, columns: tuple[str, ...], path: str | Path) -> None:
    """Write dataclass ``rows`` as a CSV atomically to ``path`` (the ``out`` option; a folder there is
    a :class:`SpecError`); missing numbers are written as ``n/a``."""
    if Path(path).is_dir():
        raise SpecError("out", f"{path} is a folder; expected a .csv file name")
    frame = pd.DataFrame([asdict(r) for r in rows], columns=list(columns))
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, na_rep=NA, float_format="%.10g")


def write_csv(rows: list[ResultRow], path: str | Path) -> None:
    """Write ``results.csv`` (see :func:`write_rows`)."""
    write_rows(rows, COLUMNS, path)


def read_rows(path: str | Path, columns: tuple[str, ...], field: str, name: str) -> pd.DataFrame:
    """Read a CSV written by :func:`write_rows` (``n/a`` -> NaN, empty ``student``/``variant`` -> "");
    errors name the option ``field`` and the file, and a missing column names the ``name`` it should have been."""
    path = Path(path)
    try:
        frame = pd.read_csv(
            path,
            na_values=[NA],
            keep_default_na=False,
            dtype={k: str for k in ("dataset", "scene", "model", "teacher", "student", "variant") if k in columns},
        )
    except FileNotFoundError:
        raise SpecError(field, f"{path} does not exist") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SpecError(field, f"{path} is not a readable CSV ({exc})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SpecError(field, f"{path} lacks the columns {missing} (expected those of {name})")
    for column in ("student", "variant"):
        frame[column] = frame[column].fillna("")
    return frame


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read ``results.csv`` back (``n/a`` -> NaN, ``student`` "" for teacher rows)."""
    frame = read_rows(path, COLUMNS, "csv", "results.csv")
    for column in ("psnr", "ssim", "lpips_alex", "lpips_vgg", "train_seconds", "render_fps"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame
