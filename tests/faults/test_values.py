"""Fault catalogue, values: no silent acceptance, no misleading words.

NaN and strings where numbers belong are refused naming the field (the demo's ``--move``, an edit
program, the workflow config at ``snakemake -n``); an edit's statistics say what the edit changed and
what the occupancy rebuild alone changed; export's read-only destination does not suggest a
``--resume`` it does not have; ``--resume`` credits the checkpoint it replaces when it counts room.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import yaml
from fault_cases import train_args

ROOT = Path(__file__).resolve().parents[2]


def test_demo_move_by_nan_is_refused(pvd, tmp_path):
    result = pvd("data", "demo", tmp_path / "d", "--move", "disc", "nan", "0", "0")
    assert result.rc == 2
    assert result.line == "pvd data: error: --move disc: DX DY DZ must be finite numbers, got nan 0 0"
    assert not (tmp_path / "d").exists()


def test_edit_program_with_a_string_coordinate_names_the_field(pvd, teacher, tmp_path):
    program = tmp_path / "p.yaml"
    program.write_text('operations:\n  - {op: erase, min: ["0.1", 0, 0], max: [1, 1, 1]}\n')
    result = pvd("edit", "--ckpt", teacher / "checkpoint.pt", "--program", program, "--workspace", tmp_path / "e")
    assert result.rc == 2
    assert "operation 1 (erase): min must be a list of 3 numbers [x, y, z], got ['0.1', 0, 0]" in result.line
    assert not (tmp_path / "e").exists()


def _edit(pvd, ckpt, ws, box, *extra):
    result = pvd("edit", "--ckpt", ckpt, "--erase", *box, "--grid_passes", "1", "--workspace", ws, *extra)
    assert result.rc == 0, result.err
    return result, json.loads((ws / "record.json").read_text())["metrics"]


def test_a_zero_width_erase_says_the_rebuild_not_the_edit_removed_the_cells(pvd, teacher, tmp_path):
    """A 1e-9-wide box erases nothing a grid probe can find; a barely trained teacher's grid (all cells
    marked) shrinks at the rebuild anyway: the statistics put that on the rebuild."""
    result, stats = _edit(pvd, teacher / "checkpoint.pt", tmp_path / "e", ["0", "0", "0", "1e-9", "1", "1"])
    assert stats["removed"] > 0.5
    assert stats["removed_by_edit"] == 0 and stats["removed_by_rebuild"] == stats["removed"]
    assert "the edit removed 0.00 %" in result.out and "the grid rebuild alone removed" in result.out


def test_a_repeated_erase_on_a_baked_checkpoint_adds_no_cells(pvd, demo_scene, tmp_path):
    ws = tmp_path / "tensors"
    assert pvd(*train_args(demo_scene, ws, "tensors")).rc == 0
    box = ["-0.8", "-0.6", "0", "-0.1", "0.1", "0.7"]
    _edit(pvd, ws / "checkpoint.pt", tmp_path / "b1", box, "--bake")
    result, stats = _edit(pvd, tmp_path / "b1" / "checkpoint.pt", tmp_path / "b2", box, "--bake")
    assert stats["added_by_edit"] == 0 and stats["removed_by_edit"] < 0.01  # the box was empty already
    assert stats["added"] > 0 and abs(stats["added_by_rebuild"] - stats["added"]) < 0.01  # "added" was the rebuild
    assert "added 0.00 %; the grid rebuild alone removed" in result.out


def test_export_to_a_read_only_destination_does_not_suggest_resume(pvd, demo_scene, mount, tmp_path):
    paper = tmp_path / "paper"
    argv = train_args(demo_scene, paper, "tensors", "--preset", "paper", "--frame", "ngp", "--iters", "2")
    assert pvd(*argv, "--batch_rays", "64").rc == 0
    ro = mount(64, read_only=True)
    result = pvd("export", "--ckpt", paper / "checkpoint.pt", "--out", ro / "x.pth")
    assert result.rc == 2
    expected = f"cannot write {ro / 'x.pth'}: read-only file system; fix the folder or choose another --out"
    assert result.line == f"pvd export: error: {expected}"
    assert list(ro.iterdir()) == []


def test_resume_credits_the_checkpoint_it_replaces(pvd, demo_scene, mount):
    """A disk that holds the stopped run's checkpoint but not a second one beside it: ``--resume``
    replaces that checkpoint, so the room it takes counts as free."""
    from pvd.model import load_model
    from pvd.runs.workspace import checkpoint_bytes

    fs = mount(64 * 1024)
    ws = fs / "ws"
    assert pvd(*train_args(demo_scene, ws, "vm", "--stop_at", "4")).rc == 0
    ckpt = ws / "checkpoint.pt"
    need = checkpoint_bytes(load_model(ckpt))
    free = shutil.disk_usage(fs).free
    filler = free - (need - ckpt.stat().st_size // 2)  # leave less than `need`, more than need - checkpoint
    assert filler > 0
    (fs / "filler").write_bytes(b"\0" * filler)
    assert shutil.disk_usage(fs).free < need
    result = pvd(*train_args(demo_scene, ws, "vm", "--resume"))
    assert result.rc == 0, result.line
    assert json.loads((ws / "record.json").read_text())["iterations"] == 12


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("where", [("datasets", "synthetic", "scenes", "ficus", "scale"), ("distill", "weight_decay")])
def test_workflow_schema_rejects_non_finite_numbers(value, where):
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    node = cfg
    for key in where[:-1]:
        node = node.setdefault(key, {})
    node[where[-1]] = value
    with pytest.raises(WorkflowError):
        validate(cfg, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))


def test_workflow_schema_still_takes_finite_numbers():
    from snakemake.utils import validate

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["datasets"]["synthetic"]["scenes"]["ficus"]["scale"] = 0.5
    validate(cfg, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
