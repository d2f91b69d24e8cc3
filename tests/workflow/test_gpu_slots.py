"""The default profile's `gpu` resource counts GPU slots (GPUs present x $PVD_GPU_SLOTS), and with it
Snakemake starts exactly as many GPU jobs as there are slots, each claiming its own (pvd/devices.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yte
from workflow_cases import REPO

PROFILE = REPO / "profiles" / "default"

JOBS = """
rule all:
    input: expand("done/{i}.json", i=range(6))

rule gpu_job:
    output: "done/{i}.json"
    resources: gpu=1
    shell: "PYTHON job.py {output}"
"""
JOB = """
import json, sys, time
from pvd.devices import claim_slot
claim = claim_slot(8)
start = time.time()
time.sleep(2.0)
json.dump({"gpu": claim.gpu_id, "slot": claim.slot, "start": start, "end": time.time()}, open(sys.argv[1], "w"))
"""


def _render(env: dict) -> dict:
    old = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        with open(PROFILE / "config.yaml") as handle:
            return yte.process_yaml(handle)
    finally:
        os.environ.clear()
        os.environ.update(old)


@pytest.mark.parametrize("extra, gpu", [({"CUDA_VISIBLE_DEVICES": "0,1,2"}, 3),
                                        ({"CUDA_VISIBLE_DEVICES": "0,1,2", "PVD_GPU_SLOTS": "2"}, 6),
                                        ({"CUDA_VISIBLE_DEVICES": ""}, 1),        # no GPU: one slot for cuda jobs
                                        ({"CUDA_VISIBLE_DEVICES": "GPU-5f1c", "PVD_GPU_SLOTS": "4"}, 4)])
def test_profile_counts_slots(extra, gpu):
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "PVD_GPU_SLOTS")}
    assert _render({**env, **extra})["resources"] == [f"gpu={gpu}"]


def test_snakemake_runs_one_job_per_slot_on_every_gpu(tmp_path):
    (tmp_path / "Snakefile").write_text(JOBS.replace("PYTHON", sys.executable))
    (tmp_path / "job.py").write_text(JOB)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0,1", "PVD_GPU_SLOTS": "1", "PVD_FAKE_GPU_COUNT": "2",
           "PVD_GPU_LOCK_DIR": str(tmp_path / "locks"), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "6", "--workflow-profile", str(PROFILE)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [json.loads((tmp_path / "done" / f"{i}.json").read_text()) for i in range(6)]
    assert {r["gpu"] for r in runs} == {"0", "1"} and {r["slot"] for r in runs} == {0}
    # never three GPU jobs at once (2 GPUs x 1 slot), and the two slots are used side by side
    overlapping = max(sum(r["start"] <= t < r["end"] for r in runs) for t in (r["start"] for r in runs))
    assert overlapping == 2
