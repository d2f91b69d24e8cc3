"""Comparison with the reference results (docs/method.md): ours over exactly the reference's scenes,
or n/a with the reason."""

from __future__ import annotations

import pandas as pd
import pytest

from pvd.report.reference import PAPER_SCENES, REFERENCES, Reference, compare, compare_one, comparison_table


def frame_of(rows):
    base = {"lpips_alex": None, "lpips_vgg": None, "ssim": 0.9}
    return pd.DataFrame([{**base, **r} for r in rows])


def synthetic_hash_rows(scenes):
    return [
        {
            "dataset": "synthetic",
            "scene": s,
            "model": "hash",
            "teacher": "hash",
            "student": "",
            "psnr": 30.0 + i,
            "train_seconds": 60.0 * (i + 1),
        }
        for i, s in enumerate(scenes)
    ]


def test_dataset_mean_needs_every_paper_scene():
    ref = Reference("synthetic", "hash", "mean", 32.60, "x")
    full = frame_of(synthetic_hash_rows(PAPER_SCENES["synthetic"]))
    c = compare_one(full, ref)
    assert c.ours == pytest.approx(30.0 + 3.5) and c.difference == pytest.approx(33.5 - 32.60)
    assert c.ours_minutes == pytest.approx(4.5)
    partial = frame_of(synthetic_hash_rows(PAPER_SCENES["synthetic"][:5]))
    c = compare_one(partial, ref)
    assert c.ours is None and c.difference is None and "this run has 5" in c.why_missing


def test_per_scene_reference_uses_that_scene_only():
    ref = next(r for r in REFERENCES if r.scope == "lego" and r.model == "vm")
    rows = [
        {
            "dataset": "synthetic",
            "scene": s,
            "model": "vm",
            "teacher": "vm",
            "student": "",
            "psnr": p,
            "train_seconds": 10.0,
        }
        for s, p in (("lego", 34.0), ("chair", 20.0))
    ]
    c = compare_one(frame_of(rows), ref)
    assert c.ours == pytest.approx(34.0) and c.difference == pytest.approx(34.0 - 34.72)


def test_table_lists_every_reference_with_ours_theirs_difference():
    frame = frame_of(synthetic_hash_rows(PAPER_SCENES["synthetic"]))
    table = comparison_table(compare(frame))
    assert len(table.rows) == len(REFERENCES)
    assert table.columns[4:7] == ("ours", "theirs", "difference")
    hash_mean = next(r for r in table.rows if r[1] == "INGP (hash)" and r[2] == "all" and r[5] == "32.60")
    assert hash_mean[4] == "33.50" and hash_mean[6] == "+0.90"
    llff = next(r for r in table.rows if r[0] == "LLFF")
    assert llff[4] == "n/a" and llff[6] == "n/a" and "this run has 0" in llff[-1]
