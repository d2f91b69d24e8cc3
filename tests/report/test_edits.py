"""The edits table and figure (pvd report edits / edit-figure) from edit records the test writes."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from pvd.cli import main
from pvd.errors import UserError
from pvd.record_types import RECORD_FORMAT
from pvd.report.collect import collect, write_csv
from pvd.report.edits import edit_cell, edits_table

VIEW = 1


def write_edit_eval(
    root: Path, edit: str, teacher: str, evaluated: str, psnr: float, reference: bool, colour: int
) -> Path:
    """metrics.json of one evaluation of an edit, with renders of view VIEW (uniform images of ``colour``)."""
    ws = root / "edits" / edit / teacher / "eval" / evaluated
    (ws / "renders").mkdir(parents=True)
    for kind, value in (("render", colour), ("gt", 255 - colour), ("error", 0)):
        iio.imwrite(ws / "renders" / f"001_r_1_{kind}.png", np.full((8, 8, 3), value, np.uint8))
    metrics = {
        "psnr": psnr,
        "per_image": [{"psnr": psnr - 1.0}, {"psnr": psnr + 1.0}],
        "renders": [
            {"view": VIEW, "file": "test/r_1.png", **{k: f"renders/001_r_1_{k}.png" for k in ("render", "gt", "error")}}
        ],
    }
    if reference:
        metrics["reference"] = {
            "checkpoint": f"{root}/edits/{edit}/{teacher}/edited/checkpoint.pt",
            "model_type": "edited",
            "kind": "teacher",
        }
    (ws / "metrics.json").write_text(json.dumps(metrics))
    return ws / "metrics.json"


def edit_record(sources: list[dict]) -> dict:
    """The record of ``pvd edit`` over ``sources`` (the first: the base checkpoint)."""
    return {
        "format": RECORD_FORMAT,
        "kind": "edit",
        "seconds": 1.0,
        "config": {},
        "metrics": {},
        "base_type": sources[0]["model_type"] if sources else "hash",
        "sources": sources,
    }


def write_edit(root: Path, edit: str, teacher: str, students: list[str], truth: bool) -> list[Path]:
    record = root / "edits" / edit / teacher / "edited" / "record.json"
    record.parent.mkdir(parents=True)
    base = f"{root}/synthetic/lego/teacher/{teacher}/checkpoint.pt"
    record.write_text(json.dumps(edit_record([{"model_type": teacher, "checkpoint": base}])))
    paths = [write_edit_eval(root, edit, teacher, "original", 20.0, not truth, 10)]
    if truth:
        paths.append(write_edit_eval(root, edit, teacher, "edited", 29.5, False, 20))
    paths += [write_edit_eval(root, edit, teacher, s, 28.0 + i, not truth, 30 + 10 * i) for i, s in enumerate(students)]
    return paths


@pytest.fixture
def edits_tree(results_tree):
    """The results tree plus an erase of lego's tensors teacher with a ground truth (students hash, vm)
    and a crop of its hash teacher without one (student mlp)."""
    erase = write_edit(results_tree, "erase", "tensors", ["vm", "hash"], truth=True)
    crop = write_edit(results_tree, "crop", "hash", ["mlp"], truth=False)
    return results_tree, erase, crop


def test_table_rows_labels_and_the_unedited_pair(edits_tree, tmp_path):
    root, erase, crop = edits_tree
    csv = tmp_path / "results.csv"
    write_csv(collect(sorted(root.glob("*/*/eval/*/metrics.json"))), csv)
    from pvd.report.collect import read_csv

    table = edits_table(erase + crop, read_csv(csv))
    rows = {(r[0], r[2], r[3]): r for r in table.rows}
    assert list(rows) == [("erase", "tensors", "hash"), ("erase", "tensors", "vm"), ("crop", "hash", "mlp")]
    hash_row = rows[("erase", "tensors", "hash")]
    unedited = 30.0 + 0.1 * 3 + 0.01 * 1  # report_cases: lego, tensors2hash
    assert hash_row[1] == "Synthetic-NeRF / lego" and hash_row[4] == "truth"
    assert hash_row[5:] == ("29.00", f"{unedited:.2f}", f"{unedited - 29.0:+.2f}", "29.50", "20.00")
    assert rows[("erase", "tensors", "vm")][5] == "28.00"
    crop_row = rows[("crop", "hash", "mlp")]
    assert crop_row[4] == "edited teacher" and crop_row[8] == "reference" and crop_row[9] == "20.00"
    assert crop_row[6] == f"{30.0 + 0.01 * 3:.2f}"  # hash2mlp of lego
    without = edits_table(erase, None)  # no results.csv: no unedited pair
    assert {r[6] for r in without.rows} == {"-"} and {r[7] for r in without.rows} == {"-"}


def test_command_writes_the_documents_and_the_figures(edits_tree, tmp_path):
    root, erase, crop = edits_tree
    csv = tmp_path / "results.csv"
    write_csv(collect(sorted(root.glob("*/*/eval/*/metrics.json"))), csv)
    out = tmp_path / "tables"
    assert main(["report", "edits", "--results", str(root), "--csv", str(csv), "--out", str(out)]) == 0
    text = (out / "edits.md").read_text()
    assert "| erase | Synthetic-NeRF / lego | tensors | hash | truth | 29.00 |" in text
    assert "edited teacher" in (out / "edits.html").read_text() and "\\toprule" in (out / "edits.tex").read_text()
    figures = tmp_path / "figures"
    for edit, paths in (("erase", erase), ("crop", crop)):
        assert main(["report", "edit-figure", *map(str, paths), "--view", str(VIEW), "--out", str(figures)]) == 0
        image = iio.imread(figures / f"edit_{edit}.png")
        assert image.shape[1] > image.shape[0] and (figures / f"edit_{edit}.pdf").is_file()


def test_bad_inputs_are_clear_errors(edits_tree, tmp_path, capsys):
    root, erase, crop = edits_tree
    with pytest.raises(UserError, match="is not at edits/<edit>/<teacher>/eval"):
        edit_cell(root / "synthetic" / "lego" / "eval" / "hash" / "metrics.json")
    assert main(["report", "edit-figure", *map(str, erase + crop), "--view", "1", "--out", str(tmp_path)]) == 2
    assert "one edit, got ['crop', 'erase']" in capsys.readouterr().err
    assert main(["report", "edit-figure", *map(str, erase), "--view", "0", "--out", str(tmp_path)]) == 2
    assert "lists no renders of view 0" in capsys.readouterr().err
    record = root / "edits" / "erase" / "tensors" / "edited" / "record.json"
    record.write_text(json.dumps(edit_record([])))
    assert main(["report", "edits", *map(str, erase), "--out", str(tmp_path)]) == 2
    assert "does not name the edited base checkpoint" in capsys.readouterr().err
    record.write_text(json.dumps({**edit_record([]), "kind": "teacher"}))
    assert main(["report", "edits", *map(str, erase), "--out", str(tmp_path)]) == 2
    assert f"{record}: unknown record kind 'teacher'" in capsys.readouterr().err
    assert main(["report", "edits", "--results", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "holds no edits/" in capsys.readouterr().err


def test_the_edits_table_finds_the_evaluations_under_a_results_folder(edits_tree, tmp_path):
    root, _, _ = edits_tree
    out = tmp_path / "reports"
    assert main(["report", "edits", "--results", str(root), "--out", str(out)]) == 0
    assert "| crop | Synthetic-NeRF / lego | hash | mlp | edited teacher |" in (out / "edits.md").read_text()
