"""Fault catalogue, workspaces and resume: nothing lost, nothing mixed.

A run never replaces another model's or another kind of run's results without ``--overwrite``;
evaluate/render never touch a training workspace; a second run into a busy workspace stops at once
(a real second process, and the lock is freed by a real ``kill -9``); ``--resume`` continues only the
run it records and names the first difference.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from fault_cases import edit_frames, snapshot, train_args

ROOT = Path(__file__).resolve().parents[2]


def _distill(scene, teacher_ckpt, ws, *extra):
    return [
        "distill",
        scene,
        "--data_type",
        "synthetic",
        "--teacher_type",
        "hash",
        "--ckpt_teacher",
        teacher_ckpt,
        "--model_type",
        "vm",
        "--workspace",
        ws,
        "--iters",
        "6",
        "--batch_rays",
        "128",
        "--poses_per_epoch",
        "2",
        "--no_progress",
        "--threads",
        "1",
        *extra,
    ]


@pytest.fixture
def teacher_copy(teacher, tmp_path) -> Path:
    """A private copy of the finished teacher workspace."""
    return Path(shutil.copytree(teacher, tmp_path / "teacher"))


@pytest.fixture
def partial(pvd, demo_scene, tmp_path) -> Path:
    """An unfinished teacher run: stopped at step 4 of 12 with a resumable checkpoint."""
    ws = tmp_path / "partial"
    assert pvd(*train_args(demo_scene, ws, "hash", "--stop_at", "4", "--seed", "1")).rc == 0
    return ws


def test_distill_into_the_teachers_workspace_is_refused(pvd, demo_scene, teacher_copy):
    before = snapshot(teacher_copy)
    result = pvd(*_distill(demo_scene, teacher_copy / "checkpoint.pt", teacher_copy))
    assert result.rc == 2
    assert f"--workspace {teacher_copy} holds the teacher --ckpt_teacher" in result.line
    assert snapshot(teacher_copy) == before


def test_distill_into_the_teachers_workspace_is_refused_even_with_overwrite(pvd, demo_scene, teacher_copy):
    before = snapshot(teacher_copy)
    result = pvd(*_distill(demo_scene, teacher_copy / "checkpoint.pt", teacher_copy, "--overwrite"))
    assert result.rc == 2 and "holds the teacher --ckpt_teacher" in result.line
    assert snapshot(teacher_copy) == before


def test_distill_into_another_teachers_workspace_is_refused(pvd, demo_scene, teacher, teacher_copy):
    before = snapshot(teacher_copy)
    result = pvd(*_distill(demo_scene, teacher / "checkpoint.pt", teacher_copy))
    assert result.rc == 2
    assert f"--workspace {teacher_copy} holds a train run of hash, not a distill run of hash2vm" in result.line
    assert "--overwrite" in result.line
    assert snapshot(teacher_copy) == before


def test_train_of_another_model_into_a_teacher_workspace_is_refused(pvd, demo_scene, teacher_copy):
    before = snapshot(teacher_copy)
    result = pvd(*train_args(demo_scene, teacher_copy, "vm"))
    assert result.rc == 2
    assert "holds a train run of hash, not a train run of vm" in result.line
    assert snapshot(teacher_copy) == before


def test_rerun_over_a_finished_run_is_refused(pvd, demo_scene, teacher_copy):
    before = snapshot(teacher_copy)
    result = pvd(*train_args(demo_scene, teacher_copy, "hash"))
    assert result.rc == 2
    assert "holds a finished train run" in result.line and "--overwrite to replace it" in result.line
    assert snapshot(teacher_copy) == before


def test_fresh_run_over_an_unfinished_one_asks_for_resume_or_overwrite(pvd, demo_scene, partial):
    before = snapshot(partial)
    result = pvd(*train_args(demo_scene, partial, "hash", "--seed", "1"))
    assert result.rc == 2
    assert "holds an unfinished train run" in result.line and "step 4" in result.line
    assert "continue it with --resume, or start again with --overwrite" in result.line
    assert snapshot(partial) == before


def test_overwrite_starts_an_unfinished_run_again(pvd, demo_scene, partial):
    result = pvd(*train_args(demo_scene, partial, "hash", "--overwrite"))
    assert result.rc == 0
    record = json.loads((partial / "record.json").read_text())
    assert record["kind"] == "train" and record["iterations"] == 12
    assert json.loads((partial / "workspace.json").read_text())["command"] == "train"


def test_overwrite_replaces_another_models_run(pvd, demo_scene, teacher_copy):
    assert pvd(*train_args(demo_scene, teacher_copy, "vm", "--overwrite")).rc == 0
    record = json.loads((teacher_copy / "record.json").read_text())
    assert record["model_type"] == "vm"
    assert json.loads((teacher_copy / "workspace.json").read_text())["model"] == "vm"


@pytest.mark.parametrize("verb", ["evaluate", "render"])
@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_evaluate_and_render_never_write_into_a_training_workspace(pvd, demo_scene, teacher_copy, verb, overwrite):
    before = snapshot(teacher_copy)
    extra = ["--frames", "2", "--format", "gif"] if verb == "render" else ["--no-lpips"]
    result = pvd(
        verb,
        demo_scene,
        "--data_type",
        "synthetic",
        "--ckpt",
        teacher_copy / "checkpoint.pt",
        "--workspace",
        teacher_copy,
        "--no_progress",
        *extra,
        *(["--overwrite"] if overwrite else []),
    )
    assert result.rc == 2
    assert f"--workspace {teacher_copy} holds a train run of hash" in result.line
    assert f"pvd {verb} writes into a --workspace of its own" in result.line
    assert snapshot(teacher_copy) == before


def test_evaluate_of_another_checkpoint_into_an_evaluation_workspace(pvd, demo_scene, teacher, teacher_copy, tmp_path):
    ws = tmp_path / "eval"
    common = ["evaluate", demo_scene, "--data_type", "synthetic", "--workspace", ws, "--no-lpips", "--no_progress"]
    assert pvd(*common, "--ckpt", teacher / "checkpoint.pt").rc == 0
    before = snapshot(ws)
    result = pvd(*common, "--ckpt", teacher_copy / "checkpoint.pt")
    assert result.rc == 2
    assert f"holds an evaluate run of hash (of {(teacher / 'checkpoint.pt').resolve()})" in result.line
    assert snapshot(ws) == before
    assert pvd(*common, "--ckpt", teacher_copy / "checkpoint.pt", "--overwrite").rc == 0
    metrics = json.loads((ws / "metrics.json").read_text())
    assert metrics["checkpoint"] == str(teacher_copy / "checkpoint.pt")


def test_workspace_that_is_a_file(pvd, demo_scene, tmp_path):
    ws = tmp_path / "ws"
    ws.write_text("a file\n")
    result = pvd(*train_args(demo_scene, ws))
    assert result.rc == 2 and f"--workspace {ws} is a file; expected a folder" in result.line
    assert ws.read_text() == "a file\n"


def test_damaged_workspace_identity_is_named(pvd, demo_scene, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "workspace.json").write_text("{not json")
    result = pvd(*train_args(demo_scene, ws))
    assert result.rc == 2 and f"{ws / 'workspace.json'} is not a pvd workspace identity" in result.line
    assert sorted(p.name for p in ws.iterdir()) == [".pvd.lock", "workspace.json"]


# ---- resume: only the run the checkpoint records ----

RESUME_CHANGES = [
    (["--lr", "0.02"], "--lr was"),
    (["--seed", "2"], "--seed was 1, now 2"),
    (["--iters", "20"], "--iters was 12, now 20"),
    (["--batch_rays", "64"], "--batch_rays was 128, now 64"),
    (["--preset", "paper"], "preset was 'tiny', now 'paper'"),
    (["--precision", "bf16"], "--precision was 'auto', now 'bf16'"),
]


def test_a_checkpoint_from_before_precision_resumes_as_auto(pvd, demo_scene, partial):
    ckpt = partial / "checkpoint.pt"
    payload = torch.load(ckpt, weights_only=True)
    del payload["meta"]["train_config"]["precision"]  # as written before --precision existed
    torch.save(payload, ckpt)
    assert pvd(*train_args(demo_scene, partial, "hash", "--seed", "1", "--resume")).rc == 0
    assert (partial / "record.json").exists()


@pytest.mark.parametrize("extra,message", RESUME_CHANGES, ids=[" ".join(e) for e, _ in RESUME_CHANGES])
def test_resume_with_other_settings_names_the_first_difference(pvd, demo_scene, partial, extra, message):
    before = snapshot(partial)
    result = pvd(*train_args(demo_scene, partial, "hash", "--seed", "1", "--resume"), *extra)  # last flag wins
    assert result.rc == 2
    assert f"--resume {partial / 'checkpoint.pt'} continues another run: {message}" in result.line
    assert snapshot(partial) == before


def test_resume_on_another_scene_names_the_scene(pvd, scene, tmp_path):
    ws = tmp_path / "ws"
    assert pvd(*train_args(scene, ws, "hash", "--stop_at", "4")).rc == 0
    before = snapshot(ws)
    edit_frames(scene, "train", lambda doc: doc["frames"].pop())  # one training view less
    result = pvd(*train_args(scene, ws, "hash", "--resume"))
    assert result.rc == 2
    assert "continues another run: scene (the train split's camera poses and image list) was" in result.line
    assert snapshot(ws) == before


def test_resume_of_a_finished_run_has_nothing_to_resume(pvd, demo_scene, teacher_copy):
    before = snapshot(teacher_copy)
    result = pvd(*train_args(demo_scene, teacher_copy, "hash", "--resume"))
    assert result.rc == 2 and "is a finished run (12 steps), nothing to resume" in result.line
    assert snapshot(teacher_copy) == before


def test_resume_after_the_teacher_changed_names_the_teacher(pvd, demo_scene, teacher, tmp_path):
    teacher_ckpt = tmp_path / "t" / "checkpoint.pt"
    teacher_ckpt.parent.mkdir()
    shutil.copy(teacher / "checkpoint.pt", teacher_ckpt)
    ws = tmp_path / "student"
    assert pvd(*_distill(demo_scene, teacher_ckpt, ws, "--stop_at", "2")).rc == 0
    before = snapshot(ws)
    assert pvd(*train_args(demo_scene, teacher_ckpt.parent, "hash", "--seed", "5", "--overwrite")).rc == 0
    result = pvd(*_distill(demo_scene, teacher_ckpt, ws, "--resume"))
    assert result.rc == 2
    assert "continues another run: --ckpt_teacher contents was" in result.line
    assert snapshot(ws) == before


def test_resume_continues_a_matching_run(pvd, demo_scene, partial):
    result = pvd(*train_args(demo_scene, partial, "hash", "--seed", "1", "--resume"))
    assert result.rc == 0
    assert json.loads((partial / "record.json").read_text())["iterations"] == 12


# ---- the lock: real processes, real kill -9 ----


def _spawn_train(scene, ws) -> subprocess.Popen:
    argv = [
        sys.executable,
        "-m",
        "pvd.cli",
        *map(str, train_args(scene, ws, "hash")),
        "--iters",
        "100000",
        "--ckpt_every",
        "0",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for_lock(ws: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        lock = ws / ".pvd.lock"
        if lock.is_file() and f"pid {proc.pid}" in lock.read_text():
            return
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.2)
    raise AssertionError("the first run never took the workspace lock")


def test_second_run_into_a_busy_workspace_stops_and_kill_9_frees_it(pvd, demo_scene, tmp_path):
    ws = tmp_path / "ws"
    first = _spawn_train(demo_scene, ws)
    try:
        _wait_for_lock(ws, first)
        result = pvd(*train_args(demo_scene, ws, "hash", "--overwrite"))
        assert result.rc == 2
        assert f"--workspace {ws} is in use by another pvd run (pid {first.pid}: pvd train" in result.line
        assert not (ws / "checkpoint.pt").exists() and not (ws / "record.json").exists()
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL
    assert pvd(*train_args(demo_scene, ws, "hash")).rc == 0  # the OS released the lock
    assert json.loads((ws / "record.json").read_text())["iterations"] == 12


def test_edit_into_a_distillation_workspace_is_refused(demo_scene, teacher, tmp_path):
    """A real `pvd edit` process aimed at a finished distillation: refused, nothing changed; a second
    edit into its own finished workspace asks for --overwrite."""
    student = tmp_path / "hash2vm"
    run = lambda *argv: subprocess.run(
        [sys.executable, "-m", "pvd.cli", *map(str, argv)], capture_output=True, text=True
    )  # noqa: E731
    assert run(*_distill(demo_scene, teacher / "checkpoint.pt", student)).returncode == 0
    before = snapshot(student)
    edit = [
        "edit",
        "--ckpt",
        teacher / "checkpoint.pt",
        "--erase",
        "-0.8",
        "-0.6",
        "0",
        "-0.1",
        "0.1",
        "0.7",
        "--grid_passes",
        "1",
        "--workspace",
    ]
    out = run(*edit, student)
    assert out.returncode == 2
    assert f"--workspace {student} holds a distill run of hash2vm, not an edit run" in out.stderr
    assert snapshot(student) == before
    assert run(*edit, tmp_path / "erased").returncode == 0
    again = run(*edit, tmp_path / "erased")
    assert again.returncode == 2 and "holds a finished edit run" in again.stderr and "--overwrite" in again.stderr
    assert json.loads((tmp_path / "erased" / "workspace.json").read_text())["command"] == "edit"


def test_distill_from_a_teacher_of_another_scene_is_refused(pvd, demo_scene, teacher, tmp_path):
    other = tmp_path / "other"
    assert (
        pvd("data", "demo", other, "--seed", "3", "--size", "32", "--n_train", "16", "--n_val", "2", "--n_test", "4").rc
        == 0
    )
    ws = tmp_path / "s"
    result = pvd(*_distill(other, teacher / "checkpoint.pt", ws))
    assert result.rc == 2
    assert f"checkpoint {teacher / 'checkpoint.pt'}: its training cameras differ from the train split" in result.line
    assert not ws.exists()
    assert pvd(*_distill(other, teacher / "checkpoint.pt", ws, "--allow_other_scene")).rc == 0
    assert json.loads((ws / "record.json").read_text())["other_scene"] is True


def test_a_checkpoint_being_trained_is_not_read_as_it_is(pvd, demo_scene, tmp_path):
    """A real training process writes periodic checkpoints: evaluating one while it runs is refused;
    asked for, it is read and recorded as unfinished and in progress, with its sha256 and step."""
    ws = tmp_path / "ws"
    argv = [
        sys.executable,
        "-m",
        "pvd.cli",
        *map(str, train_args(demo_scene, ws, "hash")),
        "--iters",
        "100000",
        "--ckpt_every",
        "3",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ckpt = ws / "checkpoint.pt"
    try:
        _wait_for_lock(ws, proc)
        deadline = time.monotonic() + 120
        while not ckpt.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        ev = ["evaluate", demo_scene, "--ckpt", ckpt, "--no_lpips", "--no_progress", "--workspace"]
        result = pvd(*ev, tmp_path / "ev")
        assert result.rc == 2
        assert f"--ckpt {ckpt} is being written by a running pvd process" in result.line
        assert "--allow_unfinished" in result.line and not (tmp_path / "ev").exists()
        assert pvd(*ev, tmp_path / "ev2", "--allow_unfinished").rc == 0
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (source,) = json.loads((tmp_path / "ev2" / "record.json").read_text())["inputs"]
    assert source["unfinished"] and source["in_progress"] and source["step"] >= 3 and len(source["sha256"]) == 64


def test_an_unfinished_checkpoint_is_refused_unless_asked(pvd, demo_scene, partial, tmp_path):
    ckpt = partial / "checkpoint.pt"
    result = pvd("render", "--ckpt", ckpt, "--workspace", tmp_path / "r", "--frames", "2", "--no_progress")
    assert result.rc == 2 and f"--ckpt {ckpt} is unfinished (step 4)" in result.line
    result = pvd("distill", demo_scene, "--ckpt_teacher", ckpt, "--model_type", "vm", "--workspace", tmp_path / "d")
    assert result.rc == 2 and "--ckpt_teacher" in result.line and "is unfinished" in result.line
    assert not (tmp_path / "r").exists() and not (tmp_path / "d").exists()
