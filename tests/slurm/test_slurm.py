"""Workflows run through a real single-node SLURM cluster on 127.0.0.1 (opt-in: PVD_TEST_SLURM=1).

The module starts one private cluster (tests/slurm/slurm_cluster.py; installs Debian's SLURM and munge
when missing, so it needs root) and stops it afterwards. Each test runs a workflow twice in temp dirs,
once locally and once with `--executor slurm`, then checks from Snakemake's log and the cluster's
job-completion log that every non-local job was submitted to SLURM and completed there, and that
both runs produced the same results.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from slurm_cluster import LocalSlurm
from slurm_log import Submission, job_stats, local_jobs, submissions

ROOT = Path(__file__).resolve().parents[2]
TINY = Path(__file__).resolve().parent / "tiny" / "Snakefile"
METRICS = ("psnr", "ssim", "lpips_alex", "lpips_vgg")

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(
        os.environ.get("PVD_TEST_SLURM") != "1",
        reason="opt-in: PVD_TEST_SLURM=1 starts a private SLURM on 127.0.0.1 (root; may apt-get install)",
    ),
]

# No slurmdbd here: query job states with squeue (kept MinJobAge seconds by slurmctld) and skip the
# account lookup through sacctmgr. Poll 1 s after submitting (the plugin then backs off by 10 s per idle
# check and resets on every finished job, so a short job costs ~12-33 s); three jobs at a time, so that
# polling waits overlap, on the node's nominal CPUs.
TEST_CLUSTER_FLAGS = [
    "--jobs",
    "3",
    "--slurm-status-command",
    "squeue",
    "--slurm-no-account",
    "--slurm-init-seconds-before-status-checks",
    "1",
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> LocalSlurm:
    with LocalSlurm(tmp_path_factory.mktemp("cluster")) as running:
        yield running


class Snakemake:
    """`snakemake ARGS` started in `cwd` in its own process group, its output going to `cwd/snakemake.out`
    (so two can run at once); as a context manager, kills the group on exit if it still runs."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None):
        self.args, self.out = args, cwd / "snakemake.out"
        with self.out.open("w") as out:
            self.process = subprocess.Popen(
                ["snakemake", *args],
                cwd=cwd,
                env=env,
                stdout=out,
                stdin=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def __enter__(self) -> Snakemake:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def finish(self, timeout: float) -> str:
        """Wait for the run; its output, or a test failure showing the output's tail."""
        try:
            self.process.wait(timeout=timeout)
        finally:
            self.stop()
        output = self.out.read_text()
        assert self.process.returncode == 0, f"snakemake {' '.join(self.args)} failed:\n{output[-6000:]}"
        return output


def run_snakemake(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run `snakemake ARGS` in `cwd` to its end; its combined output."""
    return Snakemake(args, cwd, env).finish(timeout)


def assert_every_job_through_slurm(log: str, cluster: LocalSlurm) -> list[Submission]:
    """Check that each planned non-local job was submitted once and COMPLETED on the cluster; the submissions."""
    planned = job_stats(log)
    assert planned, f"no 'Job stats:' table in the Snakemake log:\n{log[-3000:]}"
    submitted = submissions(log)
    assert submitted, "Snakemake submitted no job to SLURM"
    assert Counter(s.rule for s in submitted) + local_jobs(log) == planned
    finished = {job["JobId"]: job for job in cluster.jobs()}
    for sub in submitted:
        job = finished.get(sub.slurm_id)
        assert job is not None, f"SLURM has no record of job {sub.slurm_id} ({sub.rule})"
        assert (job["JobState"], job["ExitCode"]) == ("COMPLETED", "0:0"), f"{sub}: {job}"
    run_names = {finished[sub.slurm_id]["Name"] for sub in submitted}
    assert len(run_names) == 1, f"jobs of one run carry several names: {run_names}"
    ran_under_name = {job_id for job_id, job in finished.items() if job["Name"] in run_names}
    assert ran_under_name == {sub.slurm_id for sub in submitted}
    return submitted


def copy_tiny(workdir: Path) -> Path:
    workdir.mkdir(parents=True)
    shutil.copy(TINY, workdir / "Snakefile")
    return workdir


def results_of(workdir: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted((workdir / "results").iterdir())}


def test_tiny_workflow_runs_each_job_as_its_own_slurm_job(cluster, tmp_path):
    local = copy_tiny(tmp_path / "local")
    run_snakemake(["--cores", "2"], cwd=local)
    remote = copy_tiny(tmp_path / "slurm")
    started = time.monotonic()
    log = run_snakemake(
        ["--executor", "slurm", "--slurm-keep-successful-logs", *TEST_CLUSTER_FLAGS], cwd=remote, env=cluster.env()
    )
    print(f"tiny workflow through SLURM: {time.monotonic() - started:.1f} s")

    submitted = assert_every_job_through_slurm(log, cluster)
    assert {s.rule for s in submitted} == {"make_seed", "shout", "summarize"}
    finished = {job["JobId"]: job for job in cluster.jobs()}
    for sub in submitted:
        job_file = remote / "jobs" / f"{sub.rule}_{sub.wildcards or 'all'}.id"
        assert job_file.read_text().strip() == sub.slurm_id, (
            f"{job_file} was not written inside SLURM job {sub.slurm_id}"
        )
        assert Path(sub.log).is_file(), f"no SLURM log {sub.log}"
        minutes = 7 if sub.rule == "shout" else 5
        assert finished[sub.slurm_id]["TimeLimit"] == str(minutes), f"rule runtime not passed to SLURM: {sub}"
    assert {p.read_text().strip() for p in (local / "jobs").iterdir()} == {"none"}
    assert results_of(remote) == results_of(local)


def scaled_down_demo(path: Path) -> Path:
    """config/demo.yaml cut to two teachers, one pair, a 32-pixel scene and a few dozen steps; CPU, no GPU."""
    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    config.update(name="slurmtest", architectures=["vm", "hash"], pairs=["vm2hash"])
    config.pop("ablations", None)  # the demo's ablation pairs need the other teachers
    config.pop("edits", None)  # and so do its edits (of the tensors teacher)
    config["teacher"]["iters"] = {"vm": 40, "hash": 40}
    config["distill"].update(iters=30, stage_iters=[5, 15])
    config["evaluate"].update(lpips=False, fetch_lpips_weights=False)
    for dataset in config["datasets"].values():
        dataset["demo"] = {**dataset.get("demo", {}), "size": 32, "n_train": 8, "n_test": 2}
    for stage in ("teacher", "distill", "evaluate"):
        config["resources"][stage]["gpu"] = 0
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def read_results(csv_path: Path) -> dict[tuple[str, ...], dict[str, str]]:
    """results.csv keyed by (dataset, scene, teacher, student)."""
    with csv_path.open(newline="") as handle:
        return {(r["dataset"], r["scene"], r["teacher"], r["student"]): r for r in csv.DictReader(handle)}


def test_demo_workflow_through_slurm_matches_a_local_run(snakefile, cluster, tmp_path):
    config = scaled_down_demo(tmp_path / "slurmtest.yaml")
    common = ["--snakefile", str(snakefile), "--configfile", str(config)]
    local, remote = tmp_path / "local", tmp_path / "slurm"
    local.mkdir()
    remote.mkdir()
    started = time.monotonic()
    local_args = [*common, "--workflow-profile", str(ROOT / "profiles/default"), "--cores", "1"]
    with Snakemake(local_args, cwd=local) as local_run:
        log = run_snakemake(
            [*common, "--workflow-profile", str(ROOT / "profiles/slurm"), *TEST_CLUSTER_FLAGS],
            cwd=remote,
            env=cluster.env(),
            timeout=900,
        )
        slurm_s = time.monotonic() - started
        local_run.finish(timeout=600)
    print(
        f"scaled-down demo, local and SLURM runs side by side: SLURM run {slurm_s:.1f} s, "
        f"both {time.monotonic() - started:.1f} s"
    )

    submitted = assert_every_job_through_slurm(log, cluster)
    assert {"train_teacher", "distill_student", "evaluate_model"} <= {s.rule for s in submitted}
    for sub in submitted:
        assert Path(sub.log).is_file(), f"the profile should keep every SLURM log; {sub.log} is missing"
    ours, theirs = (
        read_results(remote / "reports/slurmtest/results.csv"),
        read_results(local / "reports/slurmtest/results.csv"),
    )
    assert ours.keys() == theirs.keys() and len(ours) == 3
    for key, row in ours.items():
        for metric in METRICS:
            a, b = row[metric], theirs[key][metric]
            if a == b:
                continue
            assert math.isclose(float(a), float(b), rel_tol=1e-5), (
                f"{key} {metric}: SLURM {a} vs local {b} (did the code change while the runs ran?)"
            )
