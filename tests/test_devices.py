"""GPU slot allocation (``--device auto``) with real processes and real locks, on a machine without GPUs:
``PVD_FAKE_GPU_COUNT`` stands in for the device count (read only by the allocator)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from itertools import combinations

import pytest

from pvd.devices import claim_slot, visible_gpus
from pvd.errors import SpecError, UserError

HOLDER = """
import json, sys, time
from pvd.devices import claim_slot
t0 = time.time()
claim = claim_slot(int(sys.argv[1]))
t1 = time.time()
print(json.dumps({"gpu": claim.gpu_id, "index": claim.index, "slot": claim.slot, "start": t1}), flush=True)
time.sleep(float(sys.argv[2]))
print(json.dumps({"end": time.time()}), flush=True)
"""


def _env(tmp_path, gpus: int, **extra) -> dict:
    env = {**os.environ, "PVD_GPU_LOCK_DIR": str(tmp_path / "locks"), "PVD_FAKE_GPU_COUNT": str(gpus), **extra}
    if "CUDA_VISIBLE_DEVICES" not in extra:
        env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def _holders(tmp_path, n: int, gpus: int, slots: int, hold: float) -> list[dict]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(slots), str(hold)],
            env=_env(tmp_path, gpus),
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    out = []
    for proc in procs:
        stdout, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        first, last = (json.loads(line) for line in stdout.splitlines())
        out.append({**first, **last})
    return out


def test_concurrent_jobs_never_share_a_slot_and_use_every_gpu(tmp_path):
    # 8 jobs for 3 GPUs x 2 slots: six run at once, two wait for a slot to free
    runs = _holders(tmp_path, 8, gpus=3, slots=2, hold=3.0)
    assert {r["gpu"] for r in runs} == {"0", "1", "2"}
    assert all(r["index"] == int(r["gpu"]) and r["slot"] in (0, 1) for r in runs)
    for a, b in combinations(runs, 2):
        if (a["gpu"], a["slot"]) == (b["gpu"], b["slot"]):  # the same slot: one after the other
            assert a["end"] <= b["start"] or b["end"] <= a["start"], (a, b)
    starts = sorted(r["start"] for r in runs)
    assert starts[6] - starts[0] > 2.0  # the 7th job waited for a release


def test_first_jobs_spread_over_gpus_before_sharing(tmp_path):
    claims = [claim_slot(2, gpus=["0", "1", "2"]) for _ in range(3)]
    assert sorted(c.gpu_id for c in claims) == ["0", "1", "2"] and {c.slot for c in claims} == {0}
    fourth = claim_slot(2, gpus=["0", "1", "2"])
    assert fourth.slot == 1
    for c in [*claims, fourth]:
        c.release()


@pytest.fixture(autouse=True)
def _lock_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PVD_GPU_LOCK_DIR", str(tmp_path / "locks"))


def test_a_killed_holder_frees_its_slot(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, "1", "600"], env=_env(tmp_path, 1), stdout=subprocess.PIPE, text=True
    )
    held = json.loads(proc.stdout.readline())
    assert held["slot"] == 0
    with pytest.raises(SpecError, match="^device auto: no free GPU slot"):
        claim_slot(1, gpus=["0"], timeout=0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    start = time.monotonic()
    claim = claim_slot(1, gpus=["0"], timeout=10)
    assert claim.slot == 0 and time.monotonic() - start < 5
    claim.release()


def test_visible_devices_name_the_physical_gpus(monkeypatch):
    monkeypatch.setenv("PVD_FAKE_GPU_COUNT", "2")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    assert visible_gpus() == ["5", "7"]
    claim = claim_slot(1)
    assert (claim.index, claim.gpu_id) == (0, "5") and claim.path.name == "gpu-5.slot-0"
    claim.release()
    monkeypatch.setenv("PVD_FAKE_GPU_COUNT", "0")
    assert visible_gpus() == [] and claim_slot(1) is None


def test_bad_slot_counts_are_clear_errors(monkeypatch):
    with pytest.raises(SpecError, match="^gpu_slots must be >= 1"):
        claim_slot(0, gpus=["0"])
    monkeypatch.setenv("PVD_FAKE_GPU_COUNT", "two")
    with pytest.raises(UserError, match="PVD_FAKE_GPU_COUNT"):
        visible_gpus()


def test_auto_on_a_machine_without_gpu_runs_on_the_cpu_and_records_it(demo_scene, tmp_path, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: auto claims it")
    monkeypatch.delenv("PVD_FAKE_GPU_COUNT", raising=False)
    ws = tmp_path / "ws"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pvd.cli",
            "train",
            str(demo_scene),
            "--data_type",
            "synthetic",
            "--model_type",
            "hash",
            "--workspace",
            str(ws),
            "--iters",
            "5",
            "--batch_rays",
            "64",
            "--device",
            "auto",
            "--no_progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "device auto: no CUDA GPU on this machine; running on the CPU" in proc.stdout
    record = json.loads((ws / "record.json").read_text())
    assert record["device"] == "cpu" and record["device_request"] == "auto" and record["gpu_slot"] is None
    assert record["gpu_peak_memory_mb"] is None
