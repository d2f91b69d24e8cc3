"""Time to quality: how soon a distilled model reaches the quality of the same architecture trained
from the images (the paper's efficiency claim), from the learning curves of ``curves.csv``.

For each student architecture ``s`` with a from-scratch
run, the target is the final probe PSNR ``P`` of ``s`` trained from the images, and the thresholds
are ``P``, ``0.99 P`` and ``P - 0.5 dB``. The time a curve needs to reach a threshold is read off the
curve by linear interpolation between probe points. For every teacher ``t != s`` the distilled total
is teacher time + distillation time; the best teacher is the one with the smallest mean total over
the dataset's scenes (it must reach the threshold in every scene). The speed-up is from-scratch time
/ distilled total (> 1: distillation is faster), in wall and in processor seconds.

The figure (:func:`time_to_quality_figure`) has one panel per student architecture: its from-scratch
curve against training seconds, and each distilled curve against teacher + distillation seconds,
on a log time axis (the step-0 point at 0 s is left out there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pvd.fields import ARCHS, DISPLAY_NAMES
from pvd.names import ModelName
from pvd.report.collect import DATASET_TITLES, DATASETS, NA
from pvd.report.figures import ARCH_COLORS, save_figure
from pvd.report.tables import Table

NOT_REACHED = "not reached"


def first_reach(seconds: np.ndarray, psnr: np.ndarray, target: float) -> float | None:
    """The first time a curve (points in step order) reaches ``target`` dB, linearly interpolated
    between probe points; None if it never does."""
    for i in range(len(psnr)):
        if psnr[i] >= target:
            if i == 0 or psnr[i] == psnr[i - 1]:
                return float(seconds[i])
            frac = (target - psnr[i - 1]) / (psnr[i] - psnr[i - 1])
            return float(seconds[i - 1] + frac * (seconds[i] - seconds[i - 1]))
    return None


@dataclass(frozen=True)
class Threshold:
    label: str
    value: float


def thresholds(final: float) -> tuple[Threshold, ...]:
    return (Threshold("final", final), Threshold("99 %", 0.99 * final), Threshold("-0.5 dB", final - 0.5))


@dataclass(frozen=True)
class SpeedRow:
    """Time to reach one threshold of one student architecture (means over scenes; None: not reached).

    Attributes:
        scratch_seconds / scratch_cpu: the architecture trained from the images.
        teacher: the best teacher (smallest mean total), or "" when no pair reaches the threshold.
        teacher_seconds, distill_seconds: its training time and the distillation time to the threshold.
        speedup, speedup_cpu: from-scratch time / (teacher + distillation time), wall and processor.
    """

    dataset: str
    student: str
    threshold: str
    target_psnr: float
    n_scenes: int
    scratch_seconds: float | None
    teacher: str
    teacher_seconds: float | None
    distill_seconds: float | None
    speedup: float | None
    speedup_cpu: float | None


def _curve(frame: pd.DataFrame, scene: str, model: str) -> pd.DataFrame:
    return frame[(frame["scene"] == scene) & (frame["model"] == model)].sort_values("step")


def _mean(values: list[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else float(np.mean(values))


def _pair(teacher: str, student: str) -> str:
    return str(ModelName(teacher, student))


def time_to_quality(frame: pd.DataFrame, dataset: str) -> list[SpeedRow]:
    """The speed rows of one dataset (main variant only), per student architecture and threshold."""
    rows = frame[(frame["dataset"] == dataset) & (frame["variant"] == "")]
    scenes = sorted(set(rows["scene"]))
    out = []
    for student in ARCHS:
        if not all(len(_curve(rows, sc, student)) for sc in scenes):
            continue
        teachers = [t for t in ARCHS if t != student and all(len(_curve(rows, sc, _pair(t, student))) for sc in scenes)]
        if not teachers or not scenes:
            continue
        finals = {sc: float(_curve(rows, sc, student)["psnr"].iloc[-1]) for sc in scenes}
        for k in range(3):
            per_scene = {sc: thresholds(finals[sc])[k] for sc in scenes}

            def reach(sc, model, cpu=False, per_scene=per_scene):
                c = _curve(rows, sc, model)
                return first_reach(
                    c["cpu_seconds" if cpu else "seconds"].to_numpy(float),
                    c["psnr"].to_numpy(float),
                    per_scene[sc].value,
                )

            scratch = _mean([reach(sc, student) for sc in scenes])
            scratch_cpu = _mean([reach(sc, student, cpu=True) for sc in scenes])
            best = None
            for t in teachers:
                pair = _pair(t, student)
                distill = _mean([reach(sc, pair) for sc in scenes])
                if distill is None:
                    continue
                offset = float(np.mean([_curve(rows, sc, pair)["offset_seconds"].iloc[0] for sc in scenes]))
                if best is None or offset + distill < best[1] + best[2]:
                    best = (t, offset, distill)
            speedup = speedup_cpu = None
            if best is not None:
                pair = _pair(best[0], student)
                if scratch is not None:
                    speedup = scratch / (best[1] + best[2])
                distill_cpu = _mean([reach(sc, pair, cpu=True) for sc in scenes])
                offset_cpu = float(np.mean([_curve(rows, sc, pair)["offset_cpu_seconds"].iloc[0] for sc in scenes]))
                if scratch_cpu is not None and distill_cpu is not None:
                    speedup_cpu = scratch_cpu / (offset_cpu + distill_cpu)
            out.append(
                SpeedRow(
                    dataset,
                    student,
                    per_scene[scenes[0]].label,
                    float(np.mean([per_scene[sc].value for sc in scenes])),
                    len(scenes),
                    scratch,
                    best[0] if best else "",
                    best[1] if best else None,
                    best[2] if best else None,
                    speedup,
                    speedup_cpu,
                )
            )
    return out


def _seconds(value: float | None) -> str:
    return NOT_REACHED if value is None else f"{value:.1f}"


def _ratio(value: float | None) -> str:
    return NA if value is None or not math.isfinite(value) else f"{value:.2f}x"


def speed_table(frame: pd.DataFrame, dataset: str) -> Table:
    """The time-to-quality table of one dataset."""
    rows = time_to_quality(frame, dataset)
    sub = frame[(frame["dataset"] == dataset) & (frame["variant"] == "")]
    presets = ", ".join(sorted(set(sub["preset"]))) or "?"
    devices = ", ".join(sorted(set(sub["device"]))) or "?"
    body = tuple(
        (
            f"{DISPLAY_NAMES[r.student]} ({r.student})",
            r.threshold,
            f"{r.target_psnr:.2f}",
            _seconds(r.scratch_seconds),
            r.teacher or "-",
            _seconds(r.teacher_seconds),
            _seconds(r.distill_seconds),
            _seconds(None if r.teacher_seconds is None else r.teacher_seconds + r.distill_seconds),
            _ratio(r.speedup),
            _ratio(r.speedup_cpu),
        )
        for r in rows
    )
    n_scenes = sub["scene"].nunique()
    note = (
        f"target: the final probe PSNR of the architecture trained from the images (final), 99 % of it, "
        f"0.5 dB below it; times in wall seconds of training (probes excluded), linearly interpolated "
        f"between probe points, mean over {n_scenes} scene(s); distilled = best teacher's full training + "
        f"distillation to the target; speed-up = from scratch / distilled (CPU: in processor seconds); "
        f"same-architecture pairs excluded; presets {presets}; device {devices}"
    )
    columns = (
        "student",
        "threshold",
        "target (dB)",
        "from scratch (s)",
        "best teacher",
        "teacher (s)",
        "distillation (s)",
        "distilled total (s)",
        "speed-up",
        "speed-up (CPU)",
    )
    return Table(f"{DATASET_TITLES[dataset]}: time to quality", columns, body, note=note, align="llrrlrrrrr")


def speed_tables(frame: pd.DataFrame) -> list[Table]:
    present = [d for d in DATASETS if d in set(frame["dataset"])]
    return [speed_table(frame, d) for d in present]


TEACHER_STYLES = {"hash": "--", "vm": "-.", "mlp": ":", "tensors": (0, (5, 1, 1, 1)), "gs": (0, (3, 1, 1, 1, 1, 1))}


def time_to_quality_figure(frame: pd.DataFrame, dataset: str, out_dir: str | Path) -> list[Path]:
    """``<dataset>_time_to_quality.{png,pdf}``: probe PSNR against wall seconds, one panel per student
    architecture: from the images (solid, black) and distilled from each teacher (teacher + distillation
    seconds; colour and dash = teacher), one line per scene."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    rows = frame[(frame["dataset"] == dataset) & (frame["variant"] == "")]
    if rows.empty:  # no run of the dataset recorded a curve (e.g. curves.points: 0): say so in the figure
        fig, ax = plt.subplots(figsize=(6.4, 2.0))
        ax.axis("off")
        ax.text(
            0.5,
            0.5,
            f"{DATASET_TITLES[dataset]}: no learning curves were recorded\n(the runs' record.json "
            "hold no `curve`; probes off: curves.points = 0)",
            ha="center",
            va="center",
            fontsize=10,
        )
        return save_figure(fig, Path(out_dir), f"{dataset}_time_to_quality")
    students = [a for a in ARCHS if a in set(rows["student"]) or a in set(rows.loc[rows["student"] == "", "teacher"])]
    n = max(1, len(students))
    cols = min(n, 2)
    fig, axes = plt.subplots(
        (n + cols - 1) // cols, cols, figsize=(5.2 * cols, 3.6 * ((n + cols - 1) // cols)), squeeze=False
    )
    scenes = sorted(set(rows["scene"]))
    for ax, student in zip(axes.flat, students):
        for teacher in [""] + list(ARCHS):
            model = student if not teacher else _pair(teacher, student)
            for i, scene in enumerate(scenes):
                c = rows[(rows["scene"] == scene) & (rows["model"] == model)].sort_values("step")
                if c.empty:
                    continue
                x = c["offset_seconds"].to_numpy(float) + c["seconds"].to_numpy(float)
                keep = x >= 1e-2 * x.max()  # a log axis: the untrained first probe (~0 s) would squash it
                label = (
                    None
                    if i
                    else (
                        f"{DISPLAY_NAMES[student]} from the images"
                        if not teacher
                        else f"from {DISPLAY_NAMES[teacher]} (+ its training)"
                    )
                )
                ax.plot(
                    x[keep],
                    c["psnr"].to_numpy(float)[keep],
                    label=label,
                    color="black" if not teacher else ARCH_COLORS[teacher],
                    linestyle="-" if not teacher else TEACHER_STYLES[teacher],
                    linewidth=1.6 if not teacher else 1.2,
                    marker="." if not teacher else None,
                    markersize=4,
                )
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"student {DISPLAY_NAMES[student]} ({student})", fontsize=10)
        ax.set_xlabel("wall seconds (students: teacher training + distillation)", fontsize=8)
        ax.set_ylabel("probe PSNR (dB)", fontsize=8)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(students) :]:
        ax.axis("off")
    presets = ", ".join(sorted(set(rows["preset"]))) or "?"
    devices = ", ".join(sorted(set(rows["device"]))) or "?"
    fig.suptitle(
        f"{DATASET_TITLES[dataset]}: time to quality ({len(scenes)} scene(s), presets {presets}, device {devices})",
        fontsize=11,
    )
    fig.tight_layout()
    return save_figure(fig, Path(out_dir), f"{dataset}_time_to_quality")
