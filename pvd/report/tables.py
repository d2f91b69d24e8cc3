"""Per-dataset tables from ``results.csv``: teacher x student matrices and per-scene scores.

For one dataset, :func:`dataset_tables` gives

* one matrix per metric (PSNR, SSIM, LPIPS AlexNet, LPIPS VGG): teacher architectures in rows,
  the teacher's own score in the first column, then one column per student architecture; each
  cell the mean over the dataset's scenes; a ``mean`` row averages each column over teachers;
* per-scene PSNR: one row per scene plus a ``mean`` row, one column per evaluated model.

A cell is ``n/a`` where the value is unavailable for any scene of the mean (LPIPS without its
backbones) and ``-`` where the model was not run. Each table renders as Markdown, LaTeX
(``booktabs``) and HTML.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from pvd.errors import UserError
from pvd.fields import ARCHS, DISPLAY_NAMES
from pvd.names import ModelName
from pvd.records import atomic_path
from pvd.report.collect import DATASET_TITLES, NA

NOT_RUN = "-"


@dataclass(frozen=True)
class Metric:
    """A metric column of results.csv and how it is shown."""

    key: str
    label: str
    digits: int
    higher_is_better: bool


METRICS = (
    Metric("psnr", "PSNR (dB)", 2, True),
    Metric("ssim", "SSIM", 4, True),
    Metric("lpips_alex", "LPIPS (AlexNet)", 4, False),
    Metric("lpips_vgg", "LPIPS (VGG)", 4, False),
)


@dataclass(frozen=True)
class Table:
    """A titled table of already formatted cells; ``rows[i][0]`` is the row label.

    ``align``: one ``l``/``r`` per column (default: label left, values right).
    """

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""
    align: str = ""

    @property
    def alignment(self) -> str:
        return self.align or "l" + "r" * (len(self.columns) - 1)

    def to_markdown(self) -> str:
        lines = [
            f"### {self.title}",
            "",
            "| " + " | ".join(self.columns) + " |",
            "|" + "|".join("---:" if a == "r" else "---" for a in self.alignment) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines) + "\n"

    def to_latex(self) -> str:
        spec = self.alignment
        body = [" & ".join(latex_escape(c) for c in row) + r" \\" for row in self.rows]
        if len(self.rows) > 1 and self.rows[-1][0] == "mean":
            body.insert(len(body) - 1, r"\midrule")
        lines = [
            r"\begin{table}[ht]",
            r"\centering",
            r"\small",
            rf"\caption{{{latex_escape(self.title)}}}",
            r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
            rf"\begin{{tabular}}{{{spec}}}",
            r"\toprule",
            " & ".join(latex_escape(c) for c in self.columns) + r" \\",
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}}",
        ]
        if self.note:
            lines.append(rf"\par\footnotesize {latex_escape(self.note)}")
        lines.append(r"\end{table}")
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            f"<tr><th>{html.escape(row[0])}</th>" + "".join(f"<td>{html.escape(c)}</td>" for c in row[1:]) + "</tr>"
            for row in self.rows
        )
        note = f'<p class="note">{html.escape(self.note)}</p>' if self.note else ""
        return (
            f"<h3>{html.escape(self.title)}</h3>\n<table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>{note}\n"
        )


_LATEX_SPECIAL = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text).replace("->", r"$\to$")


def format_value(value: float | None, digits: int) -> str:
    """A number with ``digits`` decimals, ``n/a`` for a missing one."""
    if value is None or pd.isna(value):
        return NA
    return f"{value:.{digits}f}"


def arch_label(arch: str) -> str:
    return f"{DISPLAY_NAMES[arch]} ({arch})"


def model_label(model: str | ModelName) -> str:
    """A model's column label: ``hash2vm`` -> ``hash->vm`` (``hash2vm@l1`` -> ``hash->vm@l1``)."""
    name = model if isinstance(model, ModelName) else ModelName.parse(model)
    text = f"{name.teacher}->{name.student}" if name.student else name.teacher
    return f"{text}@{name.variant}" if name.variant else text


def dataset_rows(frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The main cells (no ablation variant) of one dataset."""
    rows = frame[(frame["dataset"] == dataset) & (frame["variant"] == "")]
    if rows.empty:
        raise UserError(f"results.csv has no rows of dataset {dataset!r} (it has {sorted(frame['dataset'].unique())})")
    return rows


def scene_mean(rows: pd.DataFrame, column: str) -> float | None:
    """Mean over scenes; None (n/a) when any scene lacks the value."""
    values = rows[column]
    if values.empty or values.isna().any():
        return None
    return float(values.mean())


def matrix_values(frame: pd.DataFrame, dataset: str, metric: str) -> pd.DataFrame:
    """Teacher rows x (``""`` = the teacher itself, then students) of scene means; NaN = not run/n/a."""
    rows = dataset_rows(frame, dataset)
    teachers = [a for a in ARCHS if a in set(rows["teacher"])]
    students = [a for a in ARCHS if a in set(rows["student"])]
    out = pd.DataFrame(index=teachers, columns=[""] + students, dtype=float)
    for (teacher, student), group in rows.groupby(["teacher", "student"]):
        mean = scene_mean(group, metric)
        out.loc[teacher, student] = float("nan") if mean is None else mean
    return out


def matrix_table(frame: pd.DataFrame, dataset: str, metric: Metric) -> Table:
    """The teacher x student matrix of one metric, with a mean row over teachers."""
    rows = dataset_rows(frame, dataset)
    n_scenes = rows["scene"].nunique()
    values = matrix_values(frame, dataset, metric.key)
    ran = {(t, s) for t, s in zip(rows["teacher"], rows["student"])}
    columns = ("teacher \\ student", "teacher itself", *(arch_label(s) for s in values.columns[1:]))
    body = []
    for teacher in values.index:
        cells = [
            format_value(values.loc[teacher, s], metric.digits) if (teacher, s) in ran else NOT_RUN
            for s in values.columns
        ]
        body.append((arch_label(teacher), *cells))
    means = []
    for s in values.columns:
        column = [values.loc[t, s] for t in values.index if (t, s) in ran]
        if not column:
            means.append(NOT_RUN)
        elif any(pd.isna(v) for v in column):
            means.append(NA)
        else:
            means.append(format_value(sum(column) / len(column), metric.digits))
    body.append(("mean", *means))
    better = "higher is better" if metric.higher_is_better else "lower is better"
    return Table(
        f"{DATASET_TITLES[dataset]}: {metric.label}, mean over {n_scenes} scene(s)",
        columns,
        tuple(body),
        note=f"{better}; {NA} = unavailable, {NOT_RUN} = not run",
    )


def scene_table(frame: pd.DataFrame, dataset: str, metric: Metric = METRICS[0]) -> Table:
    """Per-scene values of one metric: a row per scene and a mean row, a column per model."""
    rows = dataset_rows(frame, dataset)
    models = [m for m in _model_order() if m in set(rows["model"])]
    scenes = list(dict.fromkeys(rows["scene"]))
    body = []
    for scene in scenes:
        by_model = rows[rows["scene"] == scene].set_index("model")[metric.key]
        body.append((scene, *(format_value(by_model[m], metric.digits) if m in by_model else NOT_RUN for m in models)))
    mean_cells = []
    for m in models:
        group = rows[rows["model"] == m]
        complete = len(group) == len(scenes)
        mean_cells.append(format_value(scene_mean(group, metric.key), metric.digits) if complete else NOT_RUN)
    body.append(("mean", *mean_cells))
    columns = ("scene", *(model_label(m) for m in models))
    return Table(
        f"{DATASET_TITLES[dataset]}: {metric.label} per scene",
        columns,
        tuple(body),
        note="teacher columns are the teachers' own scores; t->s columns the students",
    )


def _model_order() -> list[str]:
    return list(ARCHS) + [str(ModelName(t, s)) for t in ARCHS for s in ARCHS]


def dataset_tables(frame: pd.DataFrame, dataset: str) -> list[Table]:
    tables = [matrix_table(frame, dataset, m) for m in METRICS] + [scene_table(frame, dataset)]
    rows = dataset_rows(frame, dataset)
    imported = sorted(
        {t for t, s in zip(rows["teacher"], rows.get("teacher_source", [])) if s == "import"}, key=ARCHS.index
    )
    if not imported:
        return tables
    mark = (
        "Imported teachers: "
        + ", ".join(arch_label(a) for a in imported)
        + " come from the reference's released checkpoints (pvd import), not from pvd train."
    )
    return [replace(t, note=f"{t.note} {mark}".strip()) for t in tables]


HTML_STYLE = (
    "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}th:first-child{text-align:left}"
    "thead th{background:#eee}.note{color:#555;font-size:90%}"
)


def html_page(title: str, tables: list[Table]) -> str:
    body = "".join(t.to_html() for t in tables)
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{HTML_STYLE}</style></head><body><h2>{html.escape(title)}</h2>\n{body}</body></html>\n"
    )


def write_documents(tables: list[Table], title: str, out_dir: str | Path, stem: str) -> list[Path]:
    """``stem.md``, ``stem.tex`` and ``stem.html`` holding ``tables``, written atomically."""
    out = Path(out_dir)
    texts = {
        "md": f"## {title}\n\n" + "\n".join(t.to_markdown() for t in tables),
        "tex": (f"% {title} (needs \\usepackage{{booktabs,graphicx}})\n" + "\n".join(t.to_latex() for t in tables)),
        "html": html_page(title, tables),
    }
    paths = []
    for ext, text in texts.items():
        path = out / f"{stem}.{ext}"
        with atomic_path(path) as tmp:
            tmp.write_text(text)
        paths.append(path)
    return paths


def write_dataset_tables(frame: pd.DataFrame, dataset: str, out_dir: str | Path) -> list[Path]:
    """``<dataset>.md / .tex / .html`` in ``out_dir``."""
    return write_documents(dataset_tables(frame, dataset), DATASET_TITLES[dataset], out_dir, dataset)
