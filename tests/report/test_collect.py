"""results.csv from synthetic run records: every value lands in its row, n/a stays n/a."""

from __future__ import annotations

import json
import math

import pytest
from report_cases import expected_psnr, expected_seconds, write_cell

from pvd.errors import UserError
from pvd.report.collect import COLUMNS, collect, find_metrics, grid_model, read_csv, read_row, write_csv


def test_rows_carry_the_records_values(results_tree):
    rows = collect(find_metrics(results_tree))
    assert len(rows) == 2 * 20 + 6
    by_key = {(r.dataset, r.scene, r.model): r for r in rows}
    row = by_key[("synthetic", "chair", "vm2mlp")]
    assert (row.teacher, row.student) == ("vm", "mlp")
    assert row.psnr == pytest.approx(expected_psnr(1, "vm", "mlp"))
    assert row.train_seconds == pytest.approx(expected_seconds("vm", "mlp"))
    teacher = by_key[("synthetic", "lego", "tensors")]
    assert teacher.student == "" and teacher.psnr == pytest.approx(expected_psnr(0, "tensors", ""))
    assert teacher.train_seconds == pytest.approx(expected_seconds("tensors", ""))
    fern = by_key[("llff", "fern", "hash2vm")]
    assert fern.lpips_alex is None and fern.lpips_vgg is None and fern.lpips_note == "weights missing"
    # ordered by dataset, scene, teacher, then the teacher's own row before its students
    assert [r.model for r in rows[:6]] == ["hash", "hash2hash", "hash2vm", "hash2mlp", "hash2tensors", "vm"]
    assert rows[-1].dataset == "llff"


def test_csv_round_trip_keeps_missing_values_missing(results_tree, tmp_path):
    rows = collect(find_metrics(results_tree))
    path = tmp_path / "out" / "results.csv"
    write_csv(rows, path)
    header = path.read_text().splitlines()[0].split(",")
    assert header[:9] == [
        "dataset",
        "scene",
        "teacher",
        "student",
        "psnr",
        "ssim",
        "lpips_alex",
        "lpips_vgg",
        "train_seconds",
    ]
    assert tuple(header) == COLUMNS
    fern_line = next(line for line in path.read_text().splitlines() if ",fern,hash,vm," in line)
    assert ",n/a,n/a," in fern_line
    frame = read_csv(path)
    assert len(frame) == len(rows)
    teacher_rows = frame[frame["student"] == ""]
    assert len(teacher_rows) == 2 * 4 + 2
    fern = frame[(frame["scene"] == "fern") & (frame["model"] == "vm")].iloc[0]
    assert math.isnan(fern["lpips_vgg"]) and fern["psnr"] == pytest.approx(expected_psnr(0, "vm", ""))


def test_missing_training_record_is_named(results_tree):
    (results_tree / "synthetic" / "lego" / "distill" / "hash2vm" / "record.json").unlink()
    with pytest.raises(UserError, match=r"distill/hash2vm/record.json does not exist"):
        collect(find_metrics(results_tree))


def test_bad_metrics_are_named(tmp_path):
    path = write_cell(tmp_path, "synthetic", "lego", 0, "hash", "")
    payload = json.loads(path.read_text())
    del payload["psnr"]
    path.write_text(json.dumps(payload))
    with pytest.raises(UserError, match="field 'psnr' is missing"):
        read_row(path)
    path.write_text("{not json")
    with pytest.raises(UserError, match="not readable JSON"):
        read_row(path)


def test_layout_and_names_are_checked(tmp_path):
    with pytest.raises(UserError, match="student 'nerf' is not one of"):
        grid_model("hash2nerf")
    with pytest.raises(UserError, match="the grid's teachers are hash, vm, mlp, tensors"):
        grid_model("edited2vm")
    with pytest.raises(UserError, match="eval/<model>/metrics.json"):
        read_row(tmp_path / "metrics.json")
    with pytest.raises(UserError, match="no <dataset>/<scene>/eval"):
        find_metrics(tmp_path)
    bad = tmp_path / "blender" / "lego" / "eval" / "hash" / "metrics.json"
    with pytest.raises(UserError, match="dataset folder 'blender'"):
        read_row(bad)


def test_duplicate_cells_are_rejected(results_tree):
    path = results_tree / "synthetic" / "lego" / "eval" / "hash" / "metrics.json"
    with pytest.raises(UserError, match="same model of the same scene"):
        collect([path, path])
