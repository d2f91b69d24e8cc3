"""Per-dataset figures from ``results.csv``, each written as PNG and PDF (matplotlib, Agg backend).

* ``<dataset>_heatmap``: mean test PSNR, teacher architectures in rows, the teacher itself in the
  first column and the students after it (the matrix of :func:`pvd.report.tables.matrix_values`);
* ``<dataset>_bars``: per teacher -> student pair, the teacher's and the student's mean PSNR;
* ``<dataset>_scatter``: PSNR against training time (distillation time for students), one point
  per model and scene, colour = architecture of the model, marker = teacher or student.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from pvd.fields import ARCHS, DISPLAY_NAMES
from pvd.records import atomic_path
from pvd.report.collect import DATASET_TITLES
from pvd.report.tables import dataset_rows, matrix_values

COLORMAP = "viridis"
ARCH_COLORS = {"hash": "#1f77b4", "vm": "#d62728", "mlp": "#2ca02c", "tensors": "#9467bd", "gs": "#ff7f0e"}
FORMATS = ("png", "pdf")


def save_figure(fig: plt.Figure, out_dir: Path, stem: str) -> list[Path]:
    """Save ``fig`` as ``stem.png`` (150 dpi) and ``stem.pdf`` atomically, without timestamps."""
    paths = []
    for fmt in FORMATS:
        path = out_dir / f"{stem}.{fmt}"
        metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight", metadata=metadata)
        paths.append(path)
    plt.close(fig)
    return paths


def heatmap(frame: pd.DataFrame, dataset: str, out_dir: str | Path) -> list[Path]:
    """Teacher x (teacher itself, students) mean PSNR heatmap with the values written in the cells."""
    values = matrix_values(frame, dataset, "psnr")
    grid = values.to_numpy(dtype=float)
    n_scenes = dataset_rows(frame, dataset)["scene"].nunique()
    fig, ax = plt.subplots(figsize=(1.3 * grid.shape[1] + 2.2, 1.0 * grid.shape[0] + 1.6))
    masked = np.ma.masked_invalid(grid)
    image = ax.imshow(masked, cmap=COLORMAP, aspect="auto")
    finite = grid[np.isfinite(grid)]
    middle = float(finite.min() + finite.max()) / 2 if finite.size else 0.0
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            text = "-" if not np.isfinite(grid[i, j]) else f"{grid[i, j]:.2f}"
            light = np.isfinite(grid[i, j]) and grid[i, j] < middle
            ax.text(j, i, text, ha="center", va="center", color="white" if light else "black", fontsize=10)
    ax.axvline(0.5, color="white", linewidth=3)
    ax.set_xticks(range(grid.shape[1]), ["teacher"] + [DISPLAY_NAMES[s] for s in values.columns[1:]])
    ax.set_yticks(range(grid.shape[0]), [DISPLAY_NAMES[t] for t in values.index])
    ax.set_xlabel("student")
    ax.set_ylabel("teacher")
    ax.set_title(f"{DATASET_TITLES[dataset]}: test PSNR (dB), mean over {n_scenes} scene(s)")
    fig.colorbar(image, ax=ax, label="PSNR (dB)")
    return save_figure(fig, Path(out_dir), f"{dataset}_heatmap")


def bars(frame: pd.DataFrame, dataset: str, out_dir: str | Path) -> list[Path]:
    """Grouped bars: teacher PSNR and student PSNR for every distilled pair."""
    values = matrix_values(frame, dataset, "psnr")
    pairs = [(t, s) for t in values.index for s in values.columns[1:] if np.isfinite(values.loc[t, s])]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(pairs) + 1.5), 3.8))
    x = np.arange(len(pairs))
    teacher = [values.loc[t, ""] for t, _ in pairs]
    student = [values.loc[t, s] for t, s in pairs]
    ax.bar(x - 0.2, teacher, 0.4, label="teacher", color="#999999")
    ax.bar(x + 0.2, student, 0.4, label="student", color=[ARCH_COLORS[s] for _, s in pairs])
    ax.set_xticks(x, [f"{DISPLAY_NAMES[t]}\n-> {DISPLAY_NAMES[s]}" for t, s in pairs], fontsize=7)
    heights = [v for v in teacher + student if np.isfinite(v)]
    if heights:
        ax.set_ylim(max(0.0, min(heights) - 3.0), max(heights) + 1.0)
    ax.set_ylabel("test PSNR (dB)")
    ax.set_title(f"{DATASET_TITLES[dataset]}: teacher vs student (mean over scenes)")
    handles = [Patch(color="#999999", label="teacher")] + [
        Patch(color=ARCH_COLORS[a], label=f"{DISPLAY_NAMES[a]} student") for a in ARCHS if any(s == a for _, s in pairs)
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, Path(out_dir), f"{dataset}_bars")


def scatter(frame: pd.DataFrame, dataset: str, out_dir: str | Path) -> list[Path]:
    """PSNR against training (teachers) or distillation (students) seconds, log time axis."""
    rows = dataset_rows(frame, dataset)
    rows = rows[np.isfinite(rows["train_seconds"]) & np.isfinite(rows["psnr"])]
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    for arch in ARCHS:
        for is_student, marker in ((False, "o"), (True, "^")):
            own = rows["student"] == arch if is_student else (rows["teacher"] == arch) & (rows["student"] == "")
            sel = rows[own]
            if sel.empty:
                continue
            role = "students" if is_student else "teacher"
            ax.scatter(
                sel["train_seconds"],
                sel["psnr"],
                c=ARCH_COLORS[arch],
                marker=marker,
                s=36,
                alpha=0.8,
                label=f"{DISPLAY_NAMES[arch]} {role}",
                edgecolors="black",
                linewidths=0.4,
            )
    if not rows.empty and (rows["train_seconds"] > 0).all():
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training seconds (students: distillation only)")
    ax.set_ylabel("test PSNR (dB)")
    ax.set_title(f"{DATASET_TITLES[dataset]}: quality vs time")
    ax.grid(alpha=0.3)
    if not rows.empty:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return save_figure(fig, Path(out_dir), f"{dataset}_scatter")


def write_dataset_figures(frame: pd.DataFrame, dataset: str, out_dir: str | Path) -> list[Path]:
    """All figures of one dataset: heatmap, bars, scatter, each as PNG and PDF."""
    return heatmap(frame, dataset, out_dir) + bars(frame, dataset, out_dir) + scatter(frame, dataset, out_dir)
