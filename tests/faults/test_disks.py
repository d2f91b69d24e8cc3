"""Fault catalogue, file systems: real small and read-only tmpfs mounts (root only; skipped where
mounting is not allowed). A read-only or too small workspace is refused before the first step; a disk
that fills up during a run gives one line naming the file and leaves no partial output that looks
complete (no temporary files, renders and metrics together or not at all)."""

from __future__ import annotations

import pytest
import torch
from fault_cases import train_args

from pvd.model import load_model, save_checkpoint
from pvd.records import WriteError


def test_read_only_workspace_is_refused_before_training(pvd, demo_scene, mount):
    ws = mount(1024, read_only=True)
    result = pvd(*train_args(demo_scene, ws / "run"))
    assert result.rc == 2
    assert f"--workspace {ws / 'run'} is not writable: Read-only file system" in result.line
    assert list(ws.iterdir()) == []


def test_workspace_without_room_for_the_checkpoint_is_refused_before_training(pvd, demo_scene, mount):
    ws = mount(64)
    result = pvd(*train_args(demo_scene, ws))
    assert result.rc == 2
    assert f"--workspace {ws}: " in result.line and "MiB free, but this run's checkpoints need about" in result.line
    assert list(ws.iterdir()) == []


def test_disk_full_while_saving_renders_leaves_neither_renders_nor_metrics(pvd, demo_scene, teacher, mount):
    ws = mount(24)
    result = pvd(
        "evaluate",
        demo_scene,
        "--data_type",
        "synthetic",
        "--ckpt",
        teacher / "checkpoint.pt",
        "--workspace",
        ws,
        "--save-renders",
        "--no-lpips",
        "--no_progress",
    )
    assert result.rc == 2
    assert f"cannot write {ws / '.pvd-next' / 'renders'}/" in result.line
    assert "no space left on the device" in result.line
    assert sorted(p.name for p in ws.iterdir()) == [".pvd.lock"]  # the unfinished stage went with the run


def test_disk_full_while_saving_a_checkpoint_names_it_and_leaves_no_temporary(teacher, mount):
    fs = mount(8)
    model = load_model(teacher / "checkpoint.pt")
    with pytest.raises(WriteError, match=f"cannot write {fs / 'checkpoint.pt'}: no space left on the device"):
        save_checkpoint(fs / "checkpoint.pt", model, {"engine": {"pad": torch.zeros(4096)}})
    assert list(fs.iterdir()) == []


def test_disk_full_while_writing_the_demo_scene(pvd, mount):
    fs = mount(32)
    out = fs / "scene"
    result = pvd("data", "demo", out, "--size", "32", "--n_train", "8", "--n_val", "1", "--n_test", "1")
    assert result.rc == 2
    assert f"cannot write {out}: no space left on the device" in result.line
    assert list(fs.iterdir()) == []
