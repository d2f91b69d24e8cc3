"""Learning curves from run records: ``curves.csv`` (see :mod:`pvd.report.time_to_quality` for their use).

Layout read (the workflow's results path scheme)::

    <results>/<dataset>/<scene>/teacher/<arch>/record.json            ``pvd train``
    <results>/<dataset>/<scene>/distill/<t>2<s>[@<variant>]/record.json  ``pvd distill``

Each record's ``curve`` (see :mod:`pvd.train.loop`) becomes rows of ``curves.csv``, one per probe
point: the model, the point's step, training ``seconds`` and ``cpu_seconds`` (probes excluded), its
probe PSNR (and ``psnr_vs_teacher`` for students), and ``offset_seconds`` / ``offset_cpu_seconds``:
0 for a teacher, the teacher's whole training time for a student (read from the teacher's record
in the same scene). ``offset + seconds`` is the honest total a user pays for a student.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

from pvd.errors import UserError
from pvd.report.collect import DATASETS, NA, parse_model, write_rows


@dataclass(frozen=True)
class CurveRow:
    """One probe point of one run."""

    dataset: str
    scene: str
    model: str
    teacher: str
    student: str
    variant: str
    step: int
    seconds: float
    cpu_seconds: float
    psnr: float
    psnr_vs_teacher: float | None
    offset_seconds: float
    offset_cpu_seconds: float
    preset: str
    iterations: int
    device: str


CURVE_COLUMNS = tuple(f.name for f in fields(CurveRow))


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} does not exist") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not readable JSON ({exc})") from None


def record_rows(record_path: str | Path) -> list[CurveRow]:
    """The curve rows of one ``<dataset>/<scene>/{teacher,distill}/<model>/record.json`` (none without a curve)."""
    path = Path(record_path)
    parts = path.parts
    if len(parts) < 5 or parts[-1] != "record.json" or parts[-3] not in ("teacher", "distill"):
        raise UserError(f"{path} is not at <dataset>/<scene>/(teacher|distill)/<model>/record.json")
    dataset, scene, model = parts[-5], parts[-4], parts[-2]
    if dataset not in DATASETS:
        raise UserError(f"{path}: dataset folder {dataset!r} is not one of {DATASETS}")
    teacher, student, variant = parse_model(model)
    record = _load(path)
    curve = record.get("curve")
    if not curve:
        return []
    offset = offset_cpu = 0.0
    if student:
        teacher_record = _load(path.parent.parent.parent / "teacher" / teacher / "record.json")
        offset = float(teacher_record["seconds"])
        offset_cpu = float(teacher_record.get("cpu_seconds", teacher_record["seconds"]))
    common = dict(dataset=dataset, scene=scene, model=model, teacher=teacher, student=student, variant=variant,
                  offset_seconds=offset, offset_cpu_seconds=offset_cpu, preset=str(record.get("preset", "")),
                  iterations=int(record.get("iterations", 0)), device=str(record.get("device", "")))
    return [CurveRow(step=int(p["step"]), seconds=float(p["seconds"]), cpu_seconds=float(p["cpu_seconds"]),
                     psnr=float(p["psnr"]), psnr_vs_teacher=p.get("psnr_vs_teacher"), **common) for p in curve]


def collect_curves(record_paths: list[str | Path]) -> list[CurveRow]:
    """Curve rows of all given training records, ordered by dataset, scene, model, step."""
    if not record_paths:
        raise UserError("no record.json files given")
    rows = [r for p in record_paths for r in record_rows(p)]
    return sorted(rows, key=lambda r: (DATASETS.index(r.dataset), r.scene, r.model, r.step))


def write_curves(rows: list[CurveRow], path: str | Path) -> None:
    """Write ``curves.csv`` atomically."""
    write_rows(rows, CURVE_COLUMNS, path)


def read_curves(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    try:
        frame = pd.read_csv(path, na_values=[NA], keep_default_na=False,
                            dtype={"scene": str, "model": str, "teacher": str, "student": str, "variant": str})
    except FileNotFoundError:
        raise UserError(f"--curves {path} does not exist") from None
    missing = [c for c in CURVE_COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(f"--curves {path} lacks the columns {missing} (expected those of curves.csv)")
    for column in ("student", "variant"):
        frame[column] = frame[column].fillna("")
    return frame
