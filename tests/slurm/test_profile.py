"""The SLURM profile (profiles/slurm) seen through Snakemake's own dry run, without a cluster.

A dry run of the paper benchmark (one scene) with the profile prints every job's resources, which
the SLURM plugin turns into sbatch flags: gpu -> --gpus, gpu_model -> --gpus=<model>:<n>,
mem_mb -> --mem, runtime -> -t. These tests check the GPU jobs and only they ask for GPUs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml
from slurm_log import PlannedJob, planned_jobs

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "profiles" / "slurm"
GPU_RULES = {"train_teacher", "distill_student", "evaluate_model"}


def dry_run(snakefile: Path, tmp_path: Path, gpu_model: str | None) -> list[PlannedJob]:
    """The jobs SLURM would get for one scene of the paper benchmark: not local, not the target `all`."""
    env = {k: v for k, v in os.environ.items() if k != "PVD_SLURM_GPU_MODEL"}
    if gpu_model:
        env["PVD_SLURM_GPU_MODEL"] = gpu_model
    args = [
        "snakemake",
        "-n",
        "--snakefile",
        str(snakefile),
        "--directory",
        str(tmp_path),
        "--workflow-profile",
        str(PROFILE),
        "--configfile",
        str(ROOT / "config" / "config.yaml"),
        "--config",
        'select={"scenes": ["lego"]}',
    ]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    jobs = [job for job in planned_jobs(done.stdout + done.stderr) if not job.local and job.rule != "all"]
    assert jobs, "the dry run printed no job"
    return jobs


def test_profile_selects_slurm_and_leaves_partition_and_account_to_the_user():
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["rerun-incomplete"] is True and profile["retries"] >= 1
    assert "default-resources" not in profile
    assert "slurm_partition" not in str(profile) and "slurm_account" not in str(profile)


def test_gpu_jobs_and_only_they_request_gpus(snakefile, tmp_path):
    jobs = dry_run(snakefile, tmp_path, gpu_model=None)
    rules = {job.rule for job in jobs}
    assert GPU_RULES <= rules and len(rules - GPU_RULES) >= 3, rules
    for job in jobs:
        assert "mem_mb" in job.resources and "runtime" in job.resources, job
        assert "gpu_model" not in job.resources, job
        assert job.resources.get("gpu", "0") == ("1" if job.rule in GPU_RULES else "0"), job


def test_gpu_model_from_the_environment_reaches_only_gpu_jobs(snakefile, tmp_path):
    for job in dry_run(snakefile, tmp_path, gpu_model="a100"):
        assert job.resources.get("gpu_model") == ("a100" if job.rule in GPU_RULES else None), job
