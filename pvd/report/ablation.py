"""The ablation table: each variant of a distilled pair against the pair's default run.

Rows of ``results.csv`` with a ``variant`` (``distill/{pair}@{variant}``, see
:mod:`pvd.report.collect`) are compared with the main cell of the same pair and scene. Per dataset,
one row per pair and variant: the variant's PSNR, SSIM and LPIPS (AlexNet, VGG) and their
differences to the default (variant - default), each a mean over the scenes where both were run;
the default's own row comes first. ``n/a`` marks an unavailable value (LPIPS without its
backbones), ``-`` a default that was not run.
"""

from __future__ import annotations

import pandas as pd

from pvd.fields import ARCHS
from pvd.names import ModelName
from pvd.report.collect import DATASET_TITLES, DATASETS, NA
from pvd.report.tables import METRICS, NOT_RUN, Table, format_value, model_label

DEFAULT = "default"


def _mean(values: pd.Series, digits: int) -> str:
    """Mean over scenes; ``n/a`` when any scene lacks the value."""
    return NA if values.isna().any() else format_value(float(values.mean()), digits)


def _delta(diffs: pd.Series, digits: int = 4) -> str:
    """Mean difference over scenes with its sign; ``n/a`` when any scene lacks the value."""
    return NA if diffs.isna().any() else f"{float(diffs.mean()):+.{digits}f}"


def _pair_order(pair: ModelName) -> tuple[int, int]:
    return ARCHS.index(pair.teacher), ARCHS.index(pair.student)


def ablation_table(frame: pd.DataFrame, dataset: str) -> Table:
    """Variants of every pair of one dataset against the default, means over scenes."""
    rows = frame[frame["dataset"] == dataset]
    variants = rows[rows["variant"] != ""]
    names = [ModelName.parse(m) for m in variants["model"]]
    pairs = sorted({n.pair for n in names}, key=_pair_order)
    body = []
    for pair in pairs:
        default = rows[(rows["model"] == str(pair)) & (rows["variant"] == "")].set_index("scene")
        cells = []
        for m in METRICS:
            cells += [_mean(default[m.key], m.digits) if len(default) else NOT_RUN, ""]
        body.append((model_label(pair), DEFAULT, str(len(default)), *cells))
        for variant in sorted({n.variant for n in names if n.pair == pair}):
            own = variants[variants["model"] == str(pair.with_variant(variant))].set_index("scene")
            common = [s for s in own.index if s in default.index]
            cells = []
            for m in METRICS:
                diff = own.loc[common, m.key] - default.loc[common, m.key]
                cells += [_mean(own[m.key], m.digits), _delta(diff, m.digits) if common else NOT_RUN]
            body.append((model_label(pair), variant, str(len(own)), *cells))
    columns = ("pair", "variant", "scenes", *(c for m in METRICS for c in (m.label, f"Δ {m.label}")))
    return Table(
        f"{DATASET_TITLES[dataset]}: ablations",
        columns,
        tuple(body),
        align="llr" + "r" * 2 * len(METRICS),
        note=f"Δ = variant - default, mean over the scenes where both ran (PSNR, SSIM: higher is better; "
        f"LPIPS: lower is better); {NA} = unavailable, {NOT_RUN} = not run",
    )


def ablation_tables(frame: pd.DataFrame) -> list[Table]:
    """One ablation table per dataset that has variant rows."""
    present = [d for d in DATASETS if ((frame["dataset"] == d) & (frame["variant"] != "")).any()]
    return [ablation_table(frame, d) for d in present]
