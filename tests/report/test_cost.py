"""The cost table: device-hours and peak memory per stage and architecture, read from run records."""

from __future__ import annotations

import json

import pytest
from report_cases import ARCHS, expected_seconds, run_record

from pvd.errors import UserError
from pvd.report.cost import cost_tables, find_records, read_costs, write_cost_tables


def _eval_record(root, dataset, scene, model, seconds, device="cuda:0", peak=None):
    path = root / dataset / scene / "eval" / model / "record.json"
    record = run_record(model, seconds, "evaluate", dataset, scene, device=device, gpu_peak_memory_mb=peak)
    path.write_text(json.dumps(record))


def test_costs_per_stage_and_architecture(results_tree):
    costs = read_costs(find_records(results_tree))
    train = [c for c in costs if c.stage == "train"]
    distill = [c for c in costs if c.stage == "distill"]
    assert len(train) == 2 * 4 + 2 and len(distill) == 2 * 16 + 4
    # a distillation counts for its student's architecture
    vm_students = sorted(c.seconds for c in distill if c.arch == "vm")
    assert vm_students == sorted(
        [expected_seconds(t, "vm") for t in ARCHS for _ in range(2)]
        + [expected_seconds(t, "vm") for t in ("hash", "vm")]
    )
    (table,) = cost_tables(costs, grid_scenes=10)
    rows = {(r[0], r[1]): r for r in table.rows}
    hash_train = [expected_seconds("hash", "")] * 3
    assert rows[("train", "INGP")][2] == "3"
    assert rows[("train", "INGP")][3] == f"{sum(hash_train) / 3600:.3f}"
    # extrapolated: mean per run x 1 teacher per scene x 10 scenes
    assert rows[("train", "INGP")][6] == f"{expected_seconds('hash', '') * 10 / 3600:.2f}"
    assert rows[("all", "")][2] == str(len(costs)) and "extrapolation" in table.note
    assert "10 scenes (5 teachers, 25 distillations, 30 evaluations per scene)" in table.note  # gs included
    assert "CPU" in table.columns[3]  # the tree's runs ran on the CPU


def test_gpu_runs_report_peak_memory(results_tree):
    _eval_record(results_tree, "synthetic", "lego", "hash2vm", 12.0, peak=2048.5)
    _eval_record(results_tree, "synthetic", "chair", "vm", 8.0, peak=1024.0)
    (table,) = cost_tables(read_costs(find_records(results_tree)))
    rows = {(r[0], r[1]): r for r in table.rows}
    assert rows[("evaluate", "TensoRF")][5] == "2048"
    assert table.columns[3] == "device-hours"  # CPU and CUDA runs mixed


def test_written_documents_and_errors(results_tree, tmp_path):
    paths = write_cost_tables(find_records(results_tree), tmp_path / "tables")
    assert sorted(p.name for p in paths) == ["cost.html", "cost.md", "cost.tex"]
    assert "Cost per stage and architecture" in paths[0].read_text()
    with pytest.raises(UserError, match="holds no"):
        find_records(tmp_path / "tables")
    bad = results_tree / "synthetic" / "lego" / "teacher" / "hash" / "record.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="teacher/hash/record.json is not readable JSON"):
        read_costs(find_records(results_tree))
    bad.write_text(json.dumps(run_record("hash", "slow")))
    with pytest.raises(UserError, match="teacher/hash/record.json: field 'seconds' = 'slow' is not a number"):
        read_costs(find_records(results_tree))
