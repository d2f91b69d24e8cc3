"""``pvd report runs``: the report from hand-made workspaces, each identified by its own record.

The workspaces are made by real ``pvd train`` / ``pvd distill`` / ``pvd evaluate`` runs (a few steps
on the demo scene) in folders whose names say nothing; the numbers of the tables are read back from
the runs' records."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from report_cases import run_record

from pvd.cli import main
from pvd.errors import UserError
from pvd.names import ModelName
from pvd.record_types import Record
from pvd.report.runs import Runs

TEACHER = "teacher_run"
STUDENTS = {"vm": "first_student", "hash": "second_student"}
EVALUATED = {TEACHER: "eval_a", STUDENTS["vm"]: "eval_b", STUDENTS["hash"]: "eval_c"}


@pytest.fixture(scope="module")
def workspaces(demo_scene, tmp_path_factory) -> Path:
    """One hash teacher, its vm and hash students and an evaluation of each, made in ``root`` with
    paths relative to it (as a user typing in that folder would)."""
    root = tmp_path_factory.mktemp("runs")
    common = ["--data_type", "synthetic", "--no_progress"]
    training = ["--batch_rays", "256", "--curve_points", "3", "--probe_views", "1"]
    cwd = os.getcwd()
    os.chdir(root)
    try:
        train = ["train", str(demo_scene), *common, *training, "--model_type", "hash", "--iters", "20"]
        assert main([*train, "--workspace", TEACHER]) == 0
        for student, folder in STUDENTS.items():
            distill = ["distill", str(demo_scene), *common, *training, "--teacher_type", "hash"]
            distill += ["--ckpt_teacher", f"{TEACHER}/checkpoint.pt", "--model_type", student, "--iters", "12"]
            # (the stopping rule off: with it on, the curve has at least 11 points)
            assert main([*distill, "--stage_iters", "4,8", "--stop_rule", "off", "--workspace", folder]) == 0
        for model, folder in EVALUATED.items():
            evaluate = ["evaluate", str(demo_scene), *common, "--no-lpips", "--ckpt", f"{model}/checkpoint.pt"]
            assert main([*evaluate, "--workspace", folder]) == 0
    finally:
        os.chdir(cwd)
    return root


def _psnr(root: Path, model_folder: str) -> float:
    """The evaluated PSNR of a model, read from its evaluation's record."""
    return Record.from_json(root / EVALUATED[model_folder] / "record.json").metrics["psnr"]


def _matrix_row(md: str) -> list[str]:
    """The INGP row of the PSNR matrix (the first table of the dataset's Markdown)."""
    psnr_table = md.split("### ")[1]
    row = next(line for line in psnr_table.splitlines() if line.startswith("| INGP (hash) |"))
    return [c.strip() for c in row.strip("|").split("|")]


@pytest.mark.parametrize("where", ["in the runs' folder", "elsewhere"])
def test_report_of_hand_made_workspaces(workspaces, tmp_path, capsys, where, monkeypatch):
    """From the runs' folder the evaluations' relative checkpoint paths find their training runs;
    from elsewhere the one training run of the same model, dataset and scene is taken."""
    out = tmp_path / "report"
    if where == "elsewhere":
        monkeypatch.chdir(tmp_path)
        folders = [str(p) for p in sorted(workspaces.iterdir())]
    else:
        monkeypatch.chdir(workspaces)
        folders = sorted(p.name for p in workspaces.iterdir())
    assert main(["report", "runs", *folders, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "left out" not in printed and "no results.csv" not in printed

    md = (out / "tables" / "synthetic.md").read_text()
    assert "mean over 1 scene(s)" in md
    teacher, hash_student, vm_student = (_psnr(workspaces, f) for f in (TEACHER, STUDENTS["hash"], STUDENTS["vm"]))
    assert _matrix_row(md) == ["INGP (hash)", f"{teacher:.2f}", f"{hash_student:.2f}", f"{vm_student:.2f}"]
    assert "| teacher \\ student | teacher itself | INGP (hash) | TensoRF (vm) |" in md

    frame = pd.read_csv(out / "results.csv", keep_default_na=False)
    assert sorted(frame["model"]) == ["hash", "hash2hash", "hash2vm"]
    assert set(frame["scene"]) == {"scene"} and set(frame["dataset"]) == {"synthetic"}  # the demo's folder name
    for model, folder in (("hash", TEACHER), ("hash2vm", STUDENTS["vm"]), ("hash2hash", STUDENTS["hash"])):
        row = frame[frame["model"] == model].iloc[0]
        assert row["psnr"] == pytest.approx(_psnr(workspaces, folder))
        assert row["train_seconds"] == pytest.approx(Record.from_json(workspaces / folder / "record.json").seconds)

    curves = pd.read_csv(out / "curves.csv", keep_default_na=False)
    teacher_seconds = Record.from_json(workspaces / TEACHER / "record.json").seconds
    assert set(curves["model"]) == {"hash", "hash2hash", "hash2vm"}
    offsets = curves.loc[curves["student"] != "", "offset_seconds"]
    assert len(offsets) == 6 and all(v == pytest.approx(teacher_seconds) for v in offsets)
    for name in (
        "figures/synthetic_heatmap.png",
        "figures/synthetic_time_to_quality.pdf",
        "tables/time_to_quality.md",
        "tables/reference.md",
        "tables/ablation.md",
        "tables/cost.md",
    ):
        assert (out / name).is_file(), name
    cost = (out / "tables" / "cost.md").read_text()
    assert "| evaluate | INGP | 2 |" in cost and "| distill | TensoRF | 1 |" in cost


def test_training_runs_alone_say_why_there_is_no_matrix(workspaces, tmp_path, capsys):
    folders = [str(workspaces / f) for f in (TEACHER, *STUDENTS.values())] + [str(tmp_path)]
    assert main(["report", "runs", *folders, "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert f"left out {tmp_path}: no record.json (not a pvd run workspace)" in printed
    assert (
        "no results.csv, tables or figures: no evaluation of a teacher or student among the 4 run(s) given: "
        "run pvd evaluate on their checkpoints and add those workspaces" in printed
    )
    assert (tmp_path / "out" / "curves.csv").is_file() and not (tmp_path / "out" / "results.csv").exists()


def test_no_runs_at_all_is_one_line(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    assert main(["report", "runs", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "none of the 2 folder(s) given holds the record.json of a pvd train, import, distill or evaluate run"
    )
    assert "\n" not in err


def _workspace(root: Path, folder: str, record: dict, psnr: float | None = None) -> Path:
    ws = root / folder
    ws.mkdir(parents=True)
    (ws / "record.json").write_text(json.dumps(record))
    if psnr is not None:
        (ws / "metrics.json").write_text(json.dumps({"psnr": psnr, "ssim": 0.9, "split": "test", "n_images": 3}))
    return ws


def test_records_say_who_is_who(tmp_path):
    """Variant from a pair's folder name; an evaluation's model and a student's teacher through their
    checkpoint paths; an evaluation of an edited model and a curve without its teacher are named."""
    curve = [{"step": 0, "seconds": 0.0, "cpu_seconds": 0.0, "psnr": 10.0}]
    teacher = _workspace(tmp_path, "t", run_record("vm", 50.0, kind="import", scene="fern", dataset="llff"))
    variant = _workspace(
        tmp_path,
        "vm2mlp@l1",
        run_record("vm2mlp", 7.0, scene="fern", dataset="llff", teacher_checkpoint=str(teacher / "checkpoint.pt")),
    )
    # the same models again: only the checkpoint paths tell which run made what
    other_teacher = _workspace(tmp_path, "t2", run_record("vm", 60.0, scene="fern", dataset="llff"))
    other_pair = _workspace(tmp_path, "vm2mlp", run_record("vm2mlp", 9.0, scene="fern", dataset="llff"))
    orphan = _workspace(tmp_path, "x", run_record("mlp2vm", 3.0, scene="fern", dataset="llff", curve=curve))
    evaluation = run_record("vm2mlp", 1.0, kind="evaluate", scene="fern", dataset="llff")
    evaluated = _workspace(tmp_path, "e", {**evaluation, "checkpoint": str(variant / "checkpoint.pt")}, 25.5)
    edited = run_record("vm", 1.0, kind="evaluate", scene="fern", model_type="edited")
    other = _workspace(tmp_path, "f", edited, 20.0)
    render = _workspace(tmp_path, "video", run_record("vm", 2.0, kind="render"))
    runs = Runs.read([teacher, other_teacher, variant, other_pair, render, orphan, evaluated, other])
    assert [r.name for r in runs.runs] == [
        ModelName("vm"),
        ModelName("vm"),
        ModelName("vm", "mlp", "l1"),
        ModelName("vm", "mlp"),
        ModelName("mlp", "vm"),
        ModelName("vm", "mlp"),
        None,
    ]
    (row,) = runs.results()
    assert (row.model, row.variant, row.dataset, row.scene, row.psnr) == ("vm2mlp@l1", "l1", "llff", "fern", 25.5)
    assert row.train_seconds == 7.0 and row.teacher_source == "import"
    assert runs.curves() == []
    assert runs.notes == [
        f"left out {render}: a render run (the report reads train, distill and evaluate runs)",
        f"left out {other}: an evaluation of no model of the grid",
        f"left out the curve of {orphan} (distill of mlp2vm): its teacher's record is neither among the runs "
        "given nor beside its teacher_checkpoint",
    ]
    bad = _workspace(tmp_path, "bad", run_record("vm", 1.0, model_type="nerf"))
    with pytest.raises(UserError, match=f"^{bad / 'record.json'}: model name 'nerf': teacher 'nerf' is not one of"):
        Runs.read([bad])
    twice = _workspace(tmp_path, "e2", {**evaluation, "checkpoint": str(variant / "checkpoint.pt")}, 25.0)
    with pytest.raises(UserError, match=f"{twice} and {evaluated} are evaluations of the same model"):
        Runs.read([variant, evaluated, twice]).results()
