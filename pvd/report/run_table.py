"""The runs table: what each training and distillation run reports about itself, and the benchmark bars.

Reads the run records of the workflow's path scheme (as :mod:`pvd.report.curves`)::

    <dataset>/<scene>/teacher/<arch>/record.json               ``pvd train``
    <dataset>/<scene>/distill/<t>2<s>[@<variant>]/record.json  ``pvd distill``

One row per run: its preset, steps, threads, wall and processor seconds and its own test PSNR
(``metrics.psnr_test``, scored by the run at its end); for a student also the gap to its teacher
(student - teacher test PSNR, the teacher's from ``metrics.teacher_psnr_test`` of the distillation,
else from the teacher's record in the same scene) and its PSNR against the teacher's renders
(``metrics.psnr_vs_teacher``). With :class:`Bars`, each student is checked against them: a gap no
worse than ``-gap_db`` and at most ``seconds`` of the time held against the bar: a single-threaded
run's processor seconds (what it takes on one quiet core; on a shared machine its wall seconds
overstate it), a multi-threaded run's wall seconds (its processor seconds sum the threads).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pvd.names import ModelName
from pvd.record_types import Record
from pvd.report.collect import DATASET_TITLES, cell_of
from pvd.report.tables import NOT_RUN, Table, format_value, write_documents

STAGES = ("teacher", "distill")


@dataclass(frozen=True)
class Bars:
    """A student's acceptance bars: its gap to the teacher at least ``-gap_db`` dB, its time held
    against the bar at most ``seconds`` (either None: not checked)."""

    gap_db: float | None = None
    seconds: float | None = None

    @property
    def active(self) -> bool:
        return self.gap_db is not None or self.seconds is not None


@dataclass(frozen=True)
class RunRow:
    """One train or distill run, from its record."""

    dataset: str
    scene: str
    model: str
    teacher: str
    student: str
    preset: str
    iterations: int | None
    threads: int | None
    seconds: float
    cpu_seconds: float | None
    psnr: float | None
    teacher_psnr: float | None
    psnr_vs_teacher: float | None

    @property
    def gap(self) -> float | None:
        """Student - teacher test PSNR (dB); None for a teacher."""
        if not self.student or self.psnr is None or self.teacher_psnr is None:
            return None
        return self.psnr - self.teacher_psnr

    @property
    def bar_seconds(self) -> float:
        """The time held against the bar (see the module doc)."""
        if (self.threads or 1) == 1 and self.cpu_seconds:
            return self.cpu_seconds
        return self.seconds

    def missed(self, bars: Bars) -> list[str]:
        """The bars a student misses (none for a teacher)."""
        if not self.student:
            return []
        out = []
        if bars.gap_db is not None and (self.gap is None or self.gap < -bars.gap_db):
            out.append("gap")
        if bars.seconds is not None and self.bar_seconds > bars.seconds:
            out.append("time")
        return out


def _float(value) -> float | None:
    return None if value is None else float(value)


def read_runs(records: list[str | Path]) -> list[RunRow]:
    """One :class:`RunRow` per record, in the order given (teachers' PSNR filled in from their records)."""
    raw = []
    for path in map(Path, records):
        dataset, scene, model = cell_of(path, STAGES, "record.json")
        name = ModelName.parse(model)
        raw.append((dataset, scene, model, name.teacher, name.student or "", Record.from_json(path)))
    teachers = {(d, s, t): r.metrics.get("psnr_test") for d, s, m, t, st, r in raw if not st}
    rows = []
    for dataset, scene, model, teacher, student, record in raw:
        metrics = record.metrics
        teacher_psnr = metrics.get("teacher_psnr_test") if student else None
        if student and teacher_psnr is None:
            teacher_psnr = teachers.get((dataset, scene, teacher))
        rows.append(
            RunRow(
                dataset,
                scene,
                model,
                teacher,
                student,
                str(record.part.preset),
                record.part.iterations,
                record.device.threads,
                float(record.seconds),
                _float(record.part.cpu_seconds),
                _float(metrics.get("psnr_test")),
                _float(teacher_psnr),
                _float(metrics.get("psnr_vs_teacher")),
            )
        )
    return rows


def runs_tables(rows: list[RunRow], bars: Bars = Bars()) -> list[Table]:
    """One table per (dataset, scene): the teachers first, then the students, in record order."""
    columns = ["model", "preset", "steps", "threads", "wall s", "processor s", "test PSNR", "gap dB", "PSNR vs teacher"]
    if bars.active:
        columns.append("bars")
    tables = []
    for dataset, scene in dict.fromkeys((r.dataset, r.scene) for r in rows):
        cell = sorted((r for r in rows if (r.dataset, r.scene) == (dataset, scene)), key=lambda r: bool(r.student))
        body = []
        for r in cell:
            values = [
                r.model,
                r.preset or NOT_RUN,
                NOT_RUN if r.iterations is None else str(r.iterations),
                NOT_RUN if r.threads is None else str(r.threads),
                format_value(r.seconds, 1),
                format_value(r.cpu_seconds, 1),
                format_value(r.psnr, 2),
                NOT_RUN if r.gap is None else f"{r.gap:+.2f}",
                format_value(r.psnr_vs_teacher, 2) if r.student else NOT_RUN,
            ]
            if bars.active:
                missed = r.missed(bars)
                values.append(NOT_RUN if not r.student else ("missed: " + ", ".join(missed) if missed else "met"))
            body.append(tuple(values))
        tables.append(
            Table(
                f"{DATASET_TITLES.get(dataset, dataset)} / {scene}: runs",
                tuple(columns),
                tuple(body),
                _note(bars),
                align="l" + "l" + "r" * (len(columns) - 2),
            )
        )
    return tables


def _note(bars: Bars) -> str:
    note = (
        "From each run's record.json: its own test PSNR at its end; gap = student - teacher test PSNR; "
        "PSNR vs teacher: against the teacher's renders of the test views."
    )
    if bars.active:
        parts = []
        if bars.gap_db is not None:
            parts.append(f"gap >= -{bars.gap_db:g} dB")
        if bars.seconds is not None:
            parts.append(
                f"<= {bars.seconds:g} s (processor seconds of a single-threaded run, wall seconds of a "
                "multi-threaded one)"
            )
        note += " Bars per student: " + "; ".join(parts) + "."
    return note


def write_runs_tables(records: list[str | Path], out_dir: str | Path, bars: Bars = Bars()) -> list[Path]:
    """``runs.md``, ``runs.tex`` and ``runs.html`` in ``out_dir`` from train and distill ``records``."""
    return write_documents(runs_tables(read_runs(records), bars), "Runs", out_dir, "runs")
