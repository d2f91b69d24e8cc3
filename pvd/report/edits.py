"""The edits table and the figure of one edit: edit, then distil, read from the edit's records.

Layout read (the workflow's results path scheme, see the Snakefile header)::

    <results>/edits/<edit>/<teacher>/edited/record.json           ``pvd edit`` (its base checkpoint:
                                                                   <results>/<dataset>/<scene>/teacher/<teacher>/)
    <results>/edits/<edit>/<teacher>/eval/<evaluated>/metrics.json  ``pvd evaluate``; <evaluated> is
        ``original`` (the unedited teacher), ``edited`` (the edited teacher) or a student architecture

Every evaluation of an edit is scored either against the images of the edited scene's ground truth
(metrics.json has no ``reference``) or, where no ground truth exists, against the edited teacher's
renders (``pvd evaluate --reference``): the table and the figure say which. The unedited pair's PSNR
comes from ``results.csv`` (the main grid's ``{teacher}2{student}`` of the same scene, scored on
the original images), ``-`` where the grid does not run that pair. Only these files are read, and
the renders that ``pvd evaluate --render_views`` listed in metrics.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pvd.errors import UserError
from pvd.fields import ARCHS, DISPLAY_NAMES
from pvd.names import ModelName
from pvd.record_types import EditPart, Record
from pvd.report.collect import DATASET_TITLES, cell_of, load_json
from pvd.report.tables import NOT_RUN, Table, format_value

TEACHER_MODELS = ("original", "edited")
TRUTH = "truth"
EDITED_TEACHER = "edited teacher"


@dataclass(frozen=True)
class EditEval:
    """One evaluation of an edit: ``evaluated`` is ``original``, ``edited`` or a student architecture;
    ``against`` is ``truth`` (the edited ground truth's images) or the reference's kind; ``metrics``
    the whole metrics.json (its renders and per-image scores)."""

    edit: str
    teacher: str
    evaluated: str
    psnr: float
    against: str
    path: Path
    metrics: dict = field(default_factory=dict, compare=False, repr=False)


def edit_cell(metrics_path: str | Path) -> tuple[str, str, str]:
    """(edit, teacher, evaluated) of ``.../edits/<edit>/<teacher>/eval/<evaluated>/metrics.json``."""
    path = Path(metrics_path)
    parts = path.parts
    if (
        len(parts) < 6
        or parts[-1] != "metrics.json"
        or parts[-3] != "eval"
        or parts[-6] != "edits"
        or parts[-4] not in ARCHS
        or parts[-2] not in (*TEACHER_MODELS, *ARCHS)
    ):
        raise UserError(f"{path} is not at edits/<edit>/<teacher>/eval/<original|edited|student>/metrics.json")
    return parts[-5], parts[-4], parts[-2]


def read_eval(metrics_path: str | Path) -> EditEval:
    path = Path(metrics_path)
    edit, teacher, evaluated = edit_cell(path)
    metrics = load_json(path)
    psnr = metrics.get("psnr")
    if not isinstance(psnr, (int, float)) or isinstance(psnr, bool):
        raise UserError(f"{path}: field 'psnr' = {psnr!r} is not a number")
    reference = metrics.get("reference")
    if reference is None:
        against = TRUTH
    else:
        kind = reference.get("model_type") if isinstance(reference, dict) else None
        against = EDITED_TEACHER if kind == "edited" else f"{kind} renders"
    return EditEval(edit, teacher, evaluated, float(psnr), against, path, metrics)


def edited_scene(metrics_path: Path) -> tuple[str, str]:
    """(dataset, scene) of an edit's teacher, from its ``edited/record.json`` (the base checkpoint)."""
    record = Record.from_json(metrics_path.parents[2] / "edited" / "record.json")
    if not isinstance(record.part, EditPart):
        raise UserError(f"{record.where}: a {record.kind} record, not the record of pvd edit")
    sources = record.part.sources
    if not sources or sources[0].checkpoint is None:
        raise UserError(f"{record.where}: field 'sources' does not name the edited base checkpoint")
    dataset, scene, _ = cell_of(Path(sources[0].checkpoint), ("teacher",), "checkpoint.pt")
    return dataset, scene


def _arch_order(name: str) -> int:
    return ARCHS.index(name)


def edits_table(metrics_paths: list[str | Path], results: pd.DataFrame | None) -> Table:
    """One row per edit x teacher x student: the student's PSNR after the edit, the unedited pair's
    (``results``: results.csv of the main grid, or None), their gap, and the edited and unedited
    teachers' PSNR against the same reference."""
    if not metrics_paths:
        raise UserError("no edit metrics.json files given")
    evals = [read_eval(p) for p in metrics_paths]
    by_key: dict[tuple[str, str, str], EditEval] = {}
    for e in evals:
        key = (e.edit, e.teacher, e.evaluated)
        if key in by_key:
            raise UserError(f"{e.path} and {by_key[key].path} are the same evaluation of edit {e.edit!r}")
        by_key[key] = e
    edits = list(dict.fromkeys(e.edit for e in evals))
    rows = []
    for edit in edits:
        teachers = sorted({e.teacher for e in evals if e.edit == edit}, key=_arch_order)
        for teacher in teachers:
            own = {e.evaluated: e for e in evals if (e.edit, e.teacher) == (edit, teacher)}
            students = sorted((m for m in own if m not in TEACHER_MODELS), key=_arch_order)
            if not students:
                raise UserError(f"edit {edit!r}, teacher {teacher}: no student evaluation among the files given")
            dataset, scene = edited_scene(own[students[0]].path)
            edited, original = own.get("edited"), own.get("original")
            for student in students:
                e = own[student]
                unedited = _unedited_pair(results, dataset, scene, teacher, student)
                if edited is not None:
                    edited_cell = format_value(edited.psnr, 2)
                else:  # scored against the edited teacher: it is the reference
                    edited_cell = "reference" if e.against == EDITED_TEACHER else NOT_RUN
                rows.append(
                    (
                        edit,
                        f"{DATASET_TITLES[dataset]} / {scene}",
                        teacher,
                        student,
                        e.against,
                        format_value(e.psnr, 2),
                        NOT_RUN if unedited is None else format_value(unedited, 2),
                        NOT_RUN if unedited is None else f"{unedited - e.psnr:+.2f}",
                        edited_cell,
                        format_value(original.psnr, 2) if original is not None else NOT_RUN,
                    )
                )
    columns = (
        "edit",
        "scene",
        "teacher",
        "student",
        "scored against",
        "student PSNR",
        "unedited pair PSNR",
        "gap (dB)",
        "edited teacher PSNR",
        "unedited teacher PSNR",
    )
    note = (
        "PSNR in dB on the test split. Scored against 'truth': the images of the edited scene's exact ground "
        "truth; against 'edited teacher': its renders (no ground truth of the edit exists). Unedited pair: the "
        "same teacher -> student pair of the main grid on the original images (- = not run); gap = unedited "
        "pair - edited student. Unedited teacher: the teacher before the edit, against the same reference "
        "(how much the edit changes the images)."
    )
    return Table("Edit, then distil", columns, tuple(rows), note=note, align="lllll" + "r" * 5)


def _unedited_pair(results: pd.DataFrame | None, dataset: str, scene: str, teacher: str, student: str) -> float | None:
    if results is None:
        return None
    match = results[
        (results["dataset"] == dataset)
        & (results["scene"] == scene)
        & (results["model"] == str(ModelName(teacher, student)))
        & (results["variant"] == "")
    ]
    return None if match.empty or pd.isna(match["psnr"].iloc[0]) else float(match["psnr"].iloc[0])


def find_edit_metrics(results_dir: str | Path) -> list[Path]:
    """Every ``edits/<edit>/<teacher>/eval/<evaluated>/metrics.json`` under a results folder (maybe none)."""
    return sorted(Path(results_dir).glob("edits/*/*/eval/*/metrics.json"))


# ---------------------------------------------------------------- the figure of one edit


def _view_images(e: EditEval, view: int) -> dict[str, np.ndarray]:
    """The saved render and reference ("gt") images of ``view`` of one evaluation."""
    import imageio.v3 as iio

    saved = [r for r in e.metrics.get("renders", []) if r.get("view") == view]
    if not saved:
        raise UserError(f"{e.path} lists no renders of view {view}: evaluate with `render_views` {view}")
    return {k: iio.imread(e.path.parent / saved[0][k])[..., :3] for k in ("render", "gt")}


def _view_psnr(e: EditEval, view: int) -> float:
    per_image = e.metrics.get("per_image", [])
    if not 0 <= view < len(per_image):
        raise UserError(f"{e.path}: no per-image score of view {view}")
    return float(per_image[view]["psnr"])


def edit_figure(metrics_paths: list[str | Path], view: int, out_dir: str | Path) -> list[Path]:
    """``edit_<edit>.{png,pdf}``: per teacher (rows) the ground truth where there is one, the unedited
    teacher, the edited teacher and each student on test view ``view``, with each one's PSNR
    against the edit's reference (the truth, or the edited teacher's renders)."""
    import matplotlib.pyplot as plt

    from pvd.report.figures import save_figure

    evals = [read_eval(p) for p in metrics_paths]
    edits = {e.edit for e in evals}
    if len(edits) != 1:
        raise UserError(f"the figure shows one edit, got {sorted(edits)}")
    edit = edits.pop()
    teachers = sorted({e.teacher for e in evals}, key=_arch_order)
    students = sorted({e.evaluated for e in evals if e.evaluated not in TEACHER_MODELS}, key=_arch_order)
    truth = all(e.against == TRUTH for e in evals)
    columns = (
        (["truth"] if truth else [])
        + ["unedited teacher", "edited teacher"]
        + [f"-> {DISPLAY_NAMES[s]}" for s in students]
    )
    size = 1.7
    fig, axes = plt.subplots(
        len(teachers), len(columns), squeeze=False, figsize=(len(columns) * size + 0.6, len(teachers) * size + 0.9)
    )
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    dataset, scene, file = None, None, ""
    for i, teacher in enumerate(teachers):
        own = {e.evaluated: e for e in evals if e.teacher == teacher}
        if "original" not in own:
            raise UserError(
                f"edit {edit!r}, teacher {teacher}: the unedited teacher's evaluation (eval/original) "
                "is not among the files given"
            )
        dataset, scene = edited_scene(own["original"].path)
        original = _view_images(own["original"], view)
        file = Path(next(r["file"] for r in own["original"].metrics["renders"] if r["view"] == view)).name
        cells: list[tuple[np.ndarray | None, str | None]] = []
        if truth:
            cells.append((original["gt"], None))
        cells.append((original["render"], f"{_view_psnr(own['original'], view):.2f} dB"))
        if "edited" in own:
            cells.append((_view_images(own["edited"], view)["render"], f"{_view_psnr(own['edited'], view):.2f} dB"))
        else:  # no truth: the edited teacher is the reference itself
            cells.append((original["gt"], "reference"))
        for student in students:
            e = own.get(student)
            cells.append(
                (_view_images(e, view)["render"], f"{_view_psnr(e, view):.2f} dB") if e is not None else (None, None)
            )
        axes[i, 0].set_ylabel(DISPLAY_NAMES[teacher], fontsize=8)
        for j, (image, label) in enumerate(cells):
            if i == 0:
                axes[i, j].set_title(columns[j], fontsize=8)
            if image is None:
                continue
            axes[i, j].imshow(image)
            for spine in axes[i, j].spines.values():  # a frame: white renders stay visible as images
                spine.set_visible(True)
                spine.set_color("#bbbbbb")
            if label is not None:
                axes[i, j].text(
                    0.03,
                    0.04,
                    label,
                    transform=axes[i, j].transAxes,
                    fontsize=7,
                    color="white",
                    bbox={"facecolor": "black", "alpha": 0.6, "pad": 1, "linewidth": 0},
                )
    against = "the edited scene's ground truth" if truth else "the edited teacher's renders (no ground truth)"
    fig.suptitle(
        f"edit {edit}: {DATASET_TITLES[dataset]} / {scene}, test view {view} ({file})\nPSNR against {against}",
        fontsize=9,
    )
    return save_figure(fig, Path(out_dir), f"edit_{edit}")
