"""Helpers of the workflow tests: a copy of the checkout in a temp dir, real Snakemake runs, and the
job list of a dry run.

The copy holds the Snakefile, profiles/, pvd/, workflow/, config/ (and cuda_ext/): the workflow puts its own checkout first
on PYTHONPATH, so the rules run the copied package and the tests can edit it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[2]
COPIED = ("Snakefile", "environment.yml", "profiles", "pvd", "workflow", "config", "cuda_ext")
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def copy_checkout(dst: Path, src: Path = REPO) -> Path:
    """Copy the workflow and the package (not results, caches or tests) of ``src`` into ``dst``."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (src / name).is_dir():
            shutil.copytree(src / name, dst / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif (src / name).is_file():
            shutil.copy2(src / name, dst / name)
    return dst


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run Snakemake in ``workdir`` (PyTorch twins: no native build inside the tests)."""
    env = {**os.environ, "PVD_BACKEND": "torch"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([*SNAKEMAKE, *args], check=False, cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    return proc


@dataclass(frozen=True)
class PlannedJob:
    """One job of a dry run: its rule and wildcards."""

    rule: str
    wildcards: tuple[tuple[str, str], ...]

    def get(self, key: str) -> str | None:
        return dict(self.wildcards).get(key)


_RULE = re.compile(r"^(?:local)?rule (\w+):\s*$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")


def planned_jobs(workdir: Path, *args: str) -> list[PlannedJob]:
    """The jobs ``snakemake -n`` would run (without the ``all`` target), from its printed plan."""
    proc = snakemake(workdir, "-n", *args)
    jobs: list[PlannedJob] = []
    rule, wildcards = None, ()
    for line in proc.stdout.splitlines() + [""]:
        match = _RULE.match(line)
        if match or not line.strip():
            if rule is not None and rule != "all":
                jobs.append(PlannedJob(rule, wildcards))
            rule, wildcards = (match.group(1), ()) if match else (None, ())
            continue
        found = _WILDCARDS.match(line)
        if found and rule is not None:
            wildcards = tuple(sorted(tuple(kv.split("=", 1)) for kv in found.group(1).split(", ")))
    if not jobs and "Nothing to be done" not in proc.stdout + proc.stderr:
        raise AssertionError(f"could not read the dry run's plan:\n{proc.stdout[-4000:]}")
    return jobs


def job_keys(jobs: list[PlannedJob]) -> set[tuple]:
    """A comparable form: (rule, dataset, model-ish wildcard) per job."""
    keys = set()
    for job in jobs:
        model = job.get("model") or job.get("arch") or (
            f"{job.get('teacher')}2{job.get('student')}" if job.get("teacher") else None)
        if job.get("variant"):
            model = f"{model}@{job.get('variant')}"
        keys.add((job.rule, job.get("dataset"), model))
    return keys


def touched(work: Path, rel: str, then):
    """``then(work)`` while ``work/rel`` carries an appended comment line (a code change that alters no
    behaviour); the file is restored afterwards."""
    path = work / rel
    original = path.read_bytes()
    path.write_bytes(original + b"\n# edited by the invalidation test\n")
    try:
        return then(work)
    finally:
        path.write_bytes(original)


def write_config(path: Path, config: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def mini_config(name: str, tank_root: Path | None = None) -> dict:
    """A scaled-down demo grid: hash and vm teachers, the pair hash2vm, tiny images and schedules.

    With ``tank_root``, a second dataset (``tank``, source local) holds one scene ``demo``.
    """
    scene_defaults = {"bound": 1.0, "scale": 0.8, "dt_gamma": 0.0}
    datasets = {"synthetic": {"source": "demo", "downscale": 1, "defaults": scene_defaults,
                              "demo": {"seed": 0, "size": 20, "n_train": 6, "n_val": 1, "n_test": 2, "spp": 1},
                              "scenes": {"demo": {}}}}
    if tank_root is not None:
        datasets["tank"] = {"source": "local", "root": str(tank_root), "downscale": 1,
                            "defaults": scene_defaults, "scenes": {"demo": {}}}
    small = {"gpu": 0, "threads": 1, "mem_mb": 1000, "runtime": 5}
    return {
        "name": name, "results": "results", "reports": "reports", "device": "cpu", "seed": 0,
        "architectures": ["hash", "vm"], "pairs": ["hash2vm"],
        "native": {"build": False, "cuda": False},
        "teacher": {"preset": "tiny", "iters": {"hash": 12, "vm": 12}, "batch_rays": 128},
        "distill": {"preset": "tiny", "iters": 8, "stage_iters": [2, 4], "loss_type": "normL2",
                    "init": "teacher", "batch_rays": 128},
        "evaluate": {"split": "test", "ssim": "standard", "lpips": False, "fetch_lpips_weights": False,
                     "save_renders": False},
        "datasets": datasets,
        "resources": {stage: dict(small) for stage in ("teacher", "distill", "evaluate", "data", "build", "report")},
    }


OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


def blender_to_nsvf(blender: Path, out: Path) -> Path:
    """Write a Blender-format scene in the NSVF layout (the ``tank`` format): train views as ``0_*``,
    test views as ``1_*`` (Tanks&Temples style), OpenCV camera axes, a 3x3 intrinsics matrix."""
    (out / "rgb").mkdir(parents=True)
    (out / "pose").mkdir()
    focal = None
    for prefix, split in (("0", "train"), ("1", "test")):
        meta = json.loads((blender / f"transforms_{split}.json").read_text())
        for i, frame in enumerate(meta["frames"]):
            src = blender / (frame["file_path"] + ".png")
            stem = f"{prefix}_{i:04d}"
            shutil.copy(src, out / "rgb" / f"{stem}.png")
            c2w = np.asarray(frame["transform_matrix"], dtype=np.float64) @ OPENGL_TO_OPENCV
            np.savetxt(out / "pose" / f"{stem}.txt", c2w)
            if focal is None:
                import imageio.v3 as iio

                width = iio.imread(src).shape[1]
                focal = 0.5 * width / np.tan(0.5 * meta["camera_angle_x"])
                centre = width / 2.0
    np.savetxt(out / "intrinsics.txt", np.array([[focal, 0, centre], [0, focal, centre], [0, 0, 1]]))
    (out / "bbox.txt").write_text("-1 -1 -1 1 1 1 0.05\n")
    return out
