"""Fault catalogue, reruns: a finished result stays until its replacement is complete.

A rerun over a finished evaluation or video without ``--overwrite`` is refused (one line asking for
it); with ``--overwrite`` the replacement is built beside the result and swapped in at the end, so a
real process stopped by a real SIGINT, SIGTERM or SIGKILL leaves the old metrics, renders, video and
record as they were, and nothing that looks like a finished file (``*.tmp``, a second record).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fault_cases import snapshot, train_args

ROOT = Path(__file__).resolve().parents[2]
SIGNALS = {"SIGINT": (signal.SIGINT, 130), "SIGTERM": (signal.SIGTERM, 143), "SIGKILL": (signal.SIGKILL, -9)}


@pytest.fixture(scope="module")
def big_scene(tmp_path_factory) -> Path:
    """A demo scene with many test views, so that an evaluation of it takes a few seconds."""
    from pvd.cli import main

    out = tmp_path_factory.mktemp("rerun") / "scene"
    argv = ["data", "demo", out, "--size", "48", "--n_train", "8", "--n_val", "1", "--n_test", "60", "--spp", "1"]
    assert main([str(a) for a in argv]) == 0
    return out


@pytest.fixture(scope="module")
def big_teacher(big_scene) -> Path:
    from pvd.cli import main

    ws = big_scene.parent / "teacher"
    assert main([str(a) for a in train_args(big_scene, ws)]) == 0
    return ws / "checkpoint.pt"


def _evaluate(scene, ckpt, ws, *extra) -> list:
    return [
        "evaluate",
        scene,
        "--ckpt",
        ckpt,
        "--workspace",
        ws,
        "--no-lpips",
        "--no_progress",
        "--threads",
        "1",
        *extra,
    ]


def _render(ckpt, ws, *extra) -> list:
    return ["render", "--ckpt", ckpt, "--workspace", ws, "--format", "gif", "--no_progress", "--threads", "1", *extra]


def _spawn(argv) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "pvd.cli", *map(str, argv)]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_until_working(ws: Path, proc: subprocess.Popen, started) -> None:
    """Wait until ``proc`` holds the workspace lock and ``started()`` says the replacement is under way."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        lock = ws / ".pvd.lock"
        if lock.is_file() and f"pid {proc.pid}" in lock.read_text() and started():
            return
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    raise AssertionError("the rerun never got under way")


def _pngs_written_since(ws: Path, t0: float) -> bool:
    return any(p.stat().st_mtime > t0 for p in ws.rglob("*.png") if ".pvd-old" not in p.parts)


def _stop(proc: subprocess.Popen, name: str) -> None:
    sig, rc = SIGNALS[name]
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert proc.returncode == rc, proc.stderr.read()


def _result(ws: Path) -> dict[str, bytes]:
    """The workspace's files less a killed run's hidden leftovers (``.pvd-next``, removed by the next claim)."""
    return {k: v for k, v in snapshot(ws).items() if not k.startswith(".pvd-")}


def _visible(ws: Path) -> list[str]:
    return sorted(p.name for p in ws.iterdir() if not p.name.startswith("."))


def _no_stray_tmp(ws: Path) -> None:
    """No temporary file beside the result (a killed run's hidden stage is the next claim's to remove)."""
    stray = [p for p in ws.rglob("*.tmp") if ".pvd-next" not in p.relative_to(ws).parts]
    assert not stray, stray


def test_rerun_of_a_finished_evaluation_asks_for_overwrite(pvd, big_scene, big_teacher, tmp_path):
    ws = tmp_path / "ev"
    assert pvd(*_evaluate(big_scene, big_teacher, ws, "--save-renders")).rc == 0
    before = snapshot(ws)
    result = pvd(*_evaluate(big_scene, big_teacher, ws, "--save-renders"))
    assert result.rc == 2
    assert f"--workspace {ws} holds a finished evaluate run" in result.line and "--overwrite" in result.line
    assert snapshot(ws) == before


def test_rerun_of_a_finished_video_asks_for_overwrite(pvd, big_teacher, tmp_path):
    ws = tmp_path / "video"
    assert pvd(*_render(big_teacher, ws, "--frames", "2", "--size", "16x16")).rc == 0
    before = snapshot(ws)
    result = pvd(*_render(big_teacher, ws, "--frames", "3", "--size", "16x16"))
    assert result.rc == 2
    assert f"--workspace {ws} holds a finished render run" in result.line and "--overwrite" in result.line
    assert snapshot(ws) == before


@pytest.mark.parametrize("name", SIGNALS)
def test_interrupted_evaluation_overwrite_keeps_the_finished_one(pvd, big_scene, big_teacher, tmp_path, name):
    """A real ``pvd evaluate --save-renders --overwrite`` stopped by a real signal while it renders."""
    ws = tmp_path / "ev"
    assert pvd(*_evaluate(big_scene, big_teacher, ws, "--save-renders", "--split", "val")).rc == 0
    before = snapshot(ws)
    t0 = time.time()
    proc = _spawn(_evaluate(big_scene, big_teacher, ws, "--save-renders", "--overwrite"))
    try:
        _wait_until_working(ws, proc, lambda: _pngs_written_since(ws, t0))
    finally:
        _stop(proc, name)
    assert _result(ws) == before
    assert json.loads((ws / "metrics.json").read_text())["n_images"] == 1  # the val split's, not the test split's
    _no_stray_tmp(ws)
    if name != "SIGKILL":  # a caught signal cleans up; a killed run's leftovers go with the next claim
        assert not [p for p in ws.iterdir() if p.name.startswith(".pvd-")]
    result = pvd(*_evaluate(big_scene, big_teacher, ws, "--split", "val", "--overwrite"))
    assert result.rc == 0
    assert _visible(ws) == ["metrics.json", "record.json", "workspace.json"]  # renders went with the old result
    assert not [p for p in ws.iterdir() if p.name.startswith(".pvd-")]


@pytest.mark.parametrize("name", SIGNALS)
def test_interrupted_render_overwrite_keeps_the_finished_video(pvd, big_teacher, tmp_path, name):
    ws = tmp_path / "video"
    assert pvd(*_render(big_teacher, ws, "--frames", "2", "--size", "16x16")).rc == 0
    before = snapshot(ws)
    t0 = time.monotonic()
    proc = _spawn(_render(big_teacher, ws, "--frames", "100000", "--size", "64x64", "--overwrite"))
    try:
        _wait_until_working(ws, proc, lambda: time.monotonic() - t0 > 4)
    finally:
        _stop(proc, name)
    assert _result(ws) == before
    _no_stray_tmp(ws)
    if name != "SIGKILL":
        assert not [p for p in ws.iterdir() if p.name.startswith(".pvd-")]
    result = pvd(*_render(big_teacher, ws, "--frames", "3", "--size", "16x16"))  # refused, but it claims first
    assert result.rc == 2 and "--overwrite" in result.line
    assert _result(ws) == before and not (ws / ".pvd-next").exists()


def test_interrupted_training_overwrite_keeps_the_finished_teacher(pvd, big_scene, tmp_path):
    """``pvd train --overwrite`` over a finished teacher, stopped by SIGTERM mid-training."""
    ws = tmp_path / "teacher"
    assert pvd(*train_args(big_scene, ws)).rc == 0
    before = snapshot(ws)
    proc = _spawn([*train_args(big_scene, ws), "--iters", "100000", "--ckpt_every", "5", "--overwrite"])
    try:
        t0 = time.monotonic()
        _wait_until_working(ws, proc, lambda: time.monotonic() - t0 > 4)
    finally:
        _stop(proc, "SIGTERM")
    assert snapshot(ws) == before
    _no_stray_tmp(ws)
    assert not [p for p in ws.iterdir() if p.name.startswith(".pvd-")]
    assert pvd(*train_args(big_scene, ws, "hash", "--overwrite", "--seed", "3")).rc == 0
    assert json.loads((ws / "record.json").read_text())["config"]["seed"] == 3


def test_a_commit_cut_short_by_kill_9_is_rolled_back_by_the_next_run(pvd, big_scene, big_teacher, tmp_path):
    """The swap itself cut short (as a SIGKILL between two renames would): the next run restores the
    old result from ``.pvd-old`` before it looks at the workspace."""
    ws = tmp_path / "ev"
    assert pvd(*_evaluate(big_scene, big_teacher, ws, "--split", "val")).rc == 0
    before = snapshot(ws)
    old = ws / ".pvd-old"
    old.mkdir()
    (ws / "record.json").rename(old / "record.json")  # the swap's first step, then the kill
    result = pvd(*_evaluate(big_scene, big_teacher, ws, "--split", "val"))
    assert result.rc == 2 and "holds a finished evaluate run" in result.line
    assert snapshot(ws) == before and not old.exists()


def test_a_stop_swallowed_by_a_destructor_is_raised_again():
    """A SIGTERM whose exception lands in a destructor is ignored by Python ("Exception ignored in"):
    it is raised again within a second, so the process still stops (and publishes nothing)."""
    code = """
import os, signal, sys, time
from pvd.runs.staging import Terminated, stop_handlers

class Bomb:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs here: its exception is swallowed
            pass

try:
    with stop_handlers():
        Bomb()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            sum(range(1000))
except Terminated:
    sys.exit(143)
sys.exit(0)
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "Exception ignored" in proc.stderr  # the first raise was indeed swallowed
    assert proc.returncode == 143, proc.stderr
