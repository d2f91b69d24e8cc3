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

from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

from pvd.errors import UserError
from pvd.names import ModelName
from pvd.record_types import Record
from pvd.report.collect import DATASETS, cell_of, grid_model, read_rows, write_rows


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


def record_rows(record_path: str | Path) -> list[CurveRow]:
    """The curve rows of one ``<dataset>/<scene>/{teacher,distill}/<model>/record.json`` (none without a curve)."""
    path = Path(record_path)
    dataset, scene, model = cell_of(path, ("teacher", "distill"), "record.json")
    name = grid_model(model)
    record = Record.from_json(path)
    if not record.curve:
        return []
    teacher = None
    if not name.is_teacher:
        teacher = Record.from_json(path.parent.parent.parent / "teacher" / name.teacher / "record.json")
    return curve_rows(record, dataset, scene, name, teacher)


def curve_rows(record: Record, dataset: str, scene: str, name: ModelName, teacher: Record | None) -> list[CurveRow]:
    """The rows of ``record``'s curve, the model ``name`` of one scene; ``teacher`` is a student's
    teacher's record (its seconds are the offset), None for a teacher."""
    if not name.is_teacher and teacher is None:
        raise UserError(f"{record.where}: the curve of student {name} needs its teacher's record")
    offset = offset_cpu = 0.0
    if teacher is not None:
        offset = teacher.seconds
        offset_cpu = teacher.cpu_seconds if teacher.cpu_seconds is not None else teacher.seconds
    common = dict(
        dataset=dataset,
        scene=scene,
        model=str(name),
        teacher=name.teacher,
        student=name.student,
        variant=name.variant,
        offset_seconds=offset,
        offset_cpu_seconds=offset_cpu,
        preset=str(getattr(record.part, "preset", None) or ""),
        iterations=int(getattr(record.part, "iterations", None) or 0),
        device=str(record.device.device or ""),
    )
    return [
        CurveRow(
            step=p.step,
            seconds=p.seconds,
            cpu_seconds=p.cpu_seconds,
            psnr=p.psnr,
            psnr_vs_teacher=p.psnr_vs_teacher,
            **common,
        )
        for p in record.curve
    ]


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
    """Read ``curves.csv`` back (see :func:`pvd.report.collect.read_rows`)."""
    return read_rows(path, CURVE_COLUMNS, "curves", "curves.csv")
