"""What the benchmark costs: device time and peak GPU memory per stage and architecture, from records.

Reads every ``record.json`` of a results folder (the workflow's path scheme)::

    <dataset>/<scene>/teacher/<arch>/record.json     stage "train", architecture = the teacher
    <dataset>/<scene>/distill/<t>2<s>/record.json    stage "distill", architecture = the student
    <dataset>/<scene>/eval/<model>/record.json       stage "evaluate", architecture = the model's

or any records given: the stage is the record's kind (``train`` and ``import``: train, ``distill``,
``evaluate``), the architecture its ``model_type`` (the student's, for a distillation).

Device-seconds are a run's ``seconds`` on its device (GPU-seconds for CUDA runs: one job per GPU
slot; wall seconds for CPU runs). The extrapolation multiplies each (stage, architecture) mean by the
number of such jobs in a grid of ``grid_scenes`` scenes (every architecture of ``ARCHS`` as a teacher
and every pair: 5 teachers, 25 pairs, 30 evaluations per scene) -- an estimate for the same presets
and devices, not a measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pvd.errors import SpecError, UserError
from pvd.fields import ARCHS, DISPLAY_NAMES
from pvd.record_types import Record
from pvd.report.tables import Table, format_value, write_documents

STAGES = {"teacher": "train", "distill": "distill", "eval": "evaluate"}
# a run's stage by its record's kind (an imported teacher stands where a trained one would)
KIND_STAGES = {"train": "train", "import": "train", "distill": "distill", "evaluate": "evaluate"}
JOBS_PER_SCENE = {"train": len(ARCHS), "distill": len(ARCHS) ** 2, "evaluate": len(ARCHS) + len(ARCHS) ** 2}
PAPER_SCENES = 21


@dataclass(frozen=True)
class RunCost:
    """One run: its stage, architecture, device kind, seconds and peak GPU memory (MiB, None on the CPU)."""

    stage: str
    arch: str
    device: str
    seconds: float
    peak_mb: float | None


def find_records(results_dir: str | Path, stages: tuple[str, ...] = tuple(STAGES)) -> list[Path]:
    """Every ``<dataset>/<scene>/<stage>/<model>/record.json`` under a results folder, for ``stages``
    (folder names: ``teacher``, ``distill``, ``eval``)."""
    root = Path(results_dir)
    if not root.is_dir():
        raise SpecError("results", f"{root} is not a directory")
    found = [p for p in sorted(root.glob("*/*/*/*/record.json")) if p.parent.parent.name in stages]
    if not found:
        raise SpecError("results", f"{root} holds no <dataset>/<scene>/({'|'.join(stages)})/<model>/record.json")
    return found


def run_cost(record: Record) -> RunCost:
    """The cost of one train, import, distill or evaluate run (see module doc)."""
    if record.kind not in KIND_STAGES:
        raise UserError(f"{record.where}: a {record.kind} run is not a stage of the cost table")
    device = "cuda" if record.device.is_cuda else "cpu"
    return RunCost(
        KIND_STAGES[record.kind], record.part.model_type, device, record.seconds, record.device.gpu_peak_memory_mb
    )


def read_costs(records: list[Path]) -> list[RunCost]:
    """The cost of each run record (see module doc)."""
    return [run_cost(Record.from_json(path)) for path in records]


def cost_tables(costs: list[RunCost], grid_scenes: int = PAPER_SCENES) -> list[Table]:
    """Measured totals per (stage, architecture), and the extrapolated total of a full grid."""
    devices = sorted({c.device for c in costs})
    unit = "GPU" if devices == ["cuda"] else "CPU" if devices == ["cpu"] else "device"
    rows, grid_hours = [], 0.0
    for stage in ("train", "distill", "evaluate"):
        for arch in ARCHS:
            runs = [c for c in costs if c.stage == stage and c.arch == arch]
            if not runs:
                continue
            total = sum(c.seconds for c in runs)
            peaks = [c.peak_mb for c in runs if c.peak_mb is not None]
            share = JOBS_PER_SCENE[stage] / len(ARCHS)  # jobs of this stage and arch per scene
            grid = total / len(runs) * share * grid_scenes / 3600
            grid_hours += grid
            rows.append(
                (
                    stage,
                    DISPLAY_NAMES[arch],
                    str(len(runs)),
                    format_value(total / 3600, 3),
                    format_value(total / len(runs), 1),
                    format_value(max(peaks), 0) if peaks else "n/a",
                    format_value(grid, 2),
                )
            )
    total_hours = sum(c.seconds for c in costs) / 3600
    rows.append(("all", "", str(len(costs)), format_value(total_hours, 3), "", "", format_value(grid_hours, 2)))
    columns = (
        "stage",
        "architecture",
        "runs",
        f"{unit}-hours",
        "s / run",
        "peak GPU MiB",
        f"{unit}-hours, {grid_scenes}-scene grid (extrapolated)",
    )
    note = (
        f"Measured on {', '.join(devices)} from the runs' record.json files. The last column is an "
        f"extrapolation, not a measurement: each row's mean seconds per run times its jobs in a grid of "
        f"{grid_scenes} scenes ({JOBS_PER_SCENE['train']} teachers, {JOBS_PER_SCENE['distill']} distillations, "
        f"{JOBS_PER_SCENE['evaluate']} evaluations per scene), same presets and devices."
    )
    return [Table("Cost per stage and architecture", columns, tuple(rows), note, align="llrrrrr")]


def write_cost_tables(records: list[Path], out_dir: str | Path, grid_scenes: int = PAPER_SCENES) -> list[Path]:
    """``cost.md``, ``cost.tex`` and ``cost.html`` in ``out_dir`` from run ``records``."""
    return write_documents(cost_tables(read_costs(records), grid_scenes), "Benchmark cost", out_dir, "cost")
