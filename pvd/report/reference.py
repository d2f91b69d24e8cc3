"""Reference numbers (docs/method.md, "Reference results") and the comparison of a run against them.

Each :class:`Reference` is a mean test PSNR of one model over a set of scenes: the PVD authors'
own runs of the reference implementation, or a published single-architecture result. A run is
compared where it covers the same scenes: a dataset mean needs every scene of the paper's list
(docs/method.md, "Datasets"); a per-scene number needs that scene. Elsewhere "ours" is ``n/a`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pvd.fields import DISPLAY_NAMES
from pvd.names import ModelName
from pvd.report.collect import DATASET_TITLES, NA
from pvd.report.tables import Table, format_value

PAPER_SCENES = {
    "synthetic": ("chair", "drums", "ficus", "hotdog", "lego", "materials", "mic", "ship"),
    "llff": ("fern", "flower", "fortress", "horns", "leaves", "orchids", "room", "trex"),
    "tank": ("Barn", "Caterpillar", "Family", "Ignatius", "Truck"),
}

AUTHORS = "PVD authors' runs"
PUBLISHED = "published"


@dataclass(frozen=True)
class Reference:
    """A reference mean PSNR (dB) of ``model`` (``vm`` or ``hash2mlp``) on ``scope``.

    ``scope``: ``"mean"`` (all :data:`PAPER_SCENES` of the dataset) or one scene name.
    ``minutes``: their training (or distillation) time per scene where stated.
    """

    dataset: str
    model: str
    scope: str
    psnr: float
    source: str
    minutes: float | None = None
    note: str = ""


REFERENCES = (
    Reference("synthetic", "hash", "mean", 32.60, AUTHORS),
    Reference("synthetic", "vm", "mean", 31.52, AUTHORS, minutes=23.0),
    Reference("synthetic", "mlp", "mean", 30.78, AUTHORS, minutes=42.0),
    Reference("synthetic", "tensors", "mean", 27.49, AUTHORS, minutes=8.5),
    Reference("synthetic", "hash", "lego", 35.70, AUTHORS),
    Reference("synthetic", "vm", "lego", 34.72, AUTHORS),
    Reference("synthetic", "mlp", "lego", 33.64, AUTHORS),
    Reference("synthetic", "tensors", "lego", 27.90, AUTHORS),
    Reference(
        "synthetic",
        "hash2mlp",
        "mean",
        30.49,
        AUTHORS,
        minutes=24.0,
        note="theirs: 7 unnamed scenes (their hash teachers 32.15 there); ours: all 8",
    ),
    Reference("llff", "hash", "mean", 26.70, AUTHORS),
    Reference("tank", "hash", "mean", 29.26, AUTHORS),
    Reference("synthetic", "mlp", "mean", 31.01, PUBLISHED, note="NeRF paper"),
    Reference("synthetic", "tensors", "mean", 31.71, PUBLISHED, note="Plenoxels paper"),
    Reference("synthetic", "vm", "mean", 33.14, PUBLISHED, note="TensoRF paper (VM)"),
    Reference("synthetic", "hash", "mean", 33.18, PUBLISHED, note="Instant-NGP paper"),
)


@dataclass(frozen=True)
class Comparison:
    """One reference next to our value over the same scenes (``ours`` None: not covered)."""

    reference: Reference
    ours: float | None
    ours_minutes: float | None
    why_missing: str

    @property
    def difference(self) -> float | None:
        return None if self.ours is None else self.ours - self.reference.psnr


def _model_rows(frame: pd.DataFrame, ref: Reference) -> pd.DataFrame:
    return frame[(frame["dataset"] == ref.dataset) & (frame["model"] == ref.model)]


def compare_one(frame: pd.DataFrame, ref: Reference) -> Comparison:
    """Our mean PSNR and minutes over the reference's scenes, or why there is none."""
    rows = _model_rows(frame, ref)
    wanted = PAPER_SCENES[ref.dataset] if ref.scope == "mean" else (ref.scope,)
    present = set(rows["scene"])
    missing = [s for s in wanted if s not in present]
    if missing:
        have = len(wanted) - len(missing)
        return Comparison(ref, None, None, f"needs {len(wanted)} scene(s), this run has {have}")
    rows = rows[rows["scene"].isin(wanted)]
    seconds = rows["train_seconds"]
    minutes = None if seconds.isna().any() else float(seconds.mean()) / 60.0
    return Comparison(ref, float(rows["psnr"].mean()), minutes, "")


def compare(frame: pd.DataFrame) -> list[Comparison]:
    return [compare_one(frame, ref) for ref in REFERENCES]


def _model_label(model: str) -> str:
    name = ModelName.parse(model)
    if name.student:
        return f"{DISPLAY_NAMES[name.teacher]} -> {DISPLAY_NAMES[name.student]} ({model})"
    return f"{DISPLAY_NAMES[name.teacher]} ({model})"


def comparison_table(comparisons: list[Comparison]) -> Table:
    """Ours, theirs and the difference (ours - theirs), in dB; minutes per scene where known."""
    columns = (
        "dataset",
        "model",
        "scenes",
        "source",
        "ours",
        "theirs",
        "difference",
        "ours minutes",
        "theirs minutes",
        "note",
    )
    rows = []
    for c in comparisons:
        ref = c.reference
        diff = c.difference
        note = "; ".join(n for n in (ref.note, c.why_missing) if n)
        rows.append(
            (
                DATASET_TITLES[ref.dataset],
                _model_label(ref.model),
                "all" if ref.scope == "mean" else ref.scope,
                ref.source,
                format_value(c.ours, 2),
                f"{ref.psnr:.2f}",
                NA if diff is None else f"{diff:+.2f}",
                format_value(c.ours_minutes, 1),
                format_value(ref.minutes, 1),
                note or "",
            )
        )
    return Table(
        "Test PSNR (dB) against the reference numbers (docs/method.md)",
        columns,
        tuple(rows),
        note=f"difference = ours - theirs; minutes per scene; {NA} where this run does not cover the scenes",
        align="llll" + "r" * 5 + "l",
    )
