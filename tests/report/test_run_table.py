"""The runs table: each run's own figures from its record, the students' gaps and the bars."""

from __future__ import annotations

import json
from pathlib import Path

from report_cases import run_record

from pvd.cli import main
from pvd.report.run_table import Bars, read_runs, runs_tables


def _record(root: Path, stage: str, model: str, seconds: float, **fields) -> Path:
    path = root / "synthetic" / "lego" / stage / model / "record.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run_record(model, seconds, **fields)))
    return path


def _tree(root: Path) -> list[Path]:
    return [
        _record(root, "teacher", "hash", seconds=20.0, cpu_seconds=19.0, threads=1, iterations=600,
                metrics={"psnr_test": 27.85}),
        # one thread: its 100 processor seconds are held against the bar, not its 150 wall seconds
        _record(root, "distill", "hash2vm", seconds=150.0, cpu_seconds=100.0, threads=1, iterations=800,
                metrics={"psnr_test": 27.71, "teacher_psnr_test": 27.85, "psnr_vs_teacher": 37.6}),
        # two threads: its 130 wall seconds are held against the bar; the teacher's PSNR from its record
        _record(root, "distill", "hash2mlp", seconds=130.0, cpu_seconds=250.0, threads=2, iterations=800,
                metrics={"psnr_test": 26.5, "psnr_vs_teacher": 32.5}),
    ]  # fmt: skip


def test_rows_gaps_and_bars(tmp_path):
    rows = {r.model: r for r in read_runs(_tree(tmp_path / "run"))}
    assert rows["hash"].gap is None and rows["hash"].missed(Bars(1.0, 120.0)) == []
    assert abs(rows["hash2vm"].gap - (27.71 - 27.85)) < 1e-9 and rows["hash2vm"].bar_seconds == 100.0
    assert abs(rows["hash2mlp"].gap - (26.5 - 27.85)) < 1e-9 and rows["hash2mlp"].bar_seconds == 130.0
    assert rows["hash2vm"].missed(Bars(1.0, 120.0)) == []
    assert rows["hash2mlp"].missed(Bars(1.0, 120.0)) == ["gap", "time"]
    assert rows["hash2mlp"].missed(Bars(1.5, None)) == []
    (table,) = runs_tables(list(rows.values()), Bars(1.0, 120.0))
    assert table.columns[-1] == "bars" and "gap >= -1 dB" in table.note
    assert table.rows[0][:3] == ("hash", "tiny", "600") and table.rows[0][-1] == "-"
    assert table.rows[1] == ("hash2vm", "tiny", "800", "1", "150.0", "100.0", "27.71", "-0.14", "37.60", "met")
    assert table.rows[2][-3:] == ("-1.35", "32.50", "missed: gap, time")
    (plain,) = runs_tables(list(rows.values()))
    assert "bars" not in plain.columns and "Bars" not in plain.note


def test_command(tmp_path):
    _tree(tmp_path / "run")
    out = tmp_path / "tables"
    assert main(["report", "run-table", "--results", str(tmp_path / "run"), "--out", str(out), "--gap_bar", "1"]) == 0
    text = (out / "runs.md").read_text()
    assert "| hash2mlp | tiny | 800 | 2 | 130.0 | 250.0 | 26.50 | -1.35 | 32.50 | missed: gap |" in text
    assert sorted(p.name for p in out.iterdir()) == ["runs.html", "runs.md", "runs.tex"]
