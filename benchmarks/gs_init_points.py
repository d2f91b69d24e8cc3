"""gs teachers from random Gaussians vs from a point cloud, on real lego (tiny preset, CPU, 1 thread).

Lego (``nerf_synthetic/lego``, downscale 8) ships no point cloud, so this builds one the way
structure from motion would give it: a tiny ``hash`` teacher is trained from the images, ``pvd export
--format points`` gives its surface (the depth of the training views, in the world frame) thinned
to ``--points`` points, and Gaussian noise of ``--noise`` world units is added to every coordinate.
The cloud is written as nerfstudio's ``sparse_pc.ply`` into a scene folder outside the repository
that holds copies of lego's ``transforms_*.json`` (their ``file_path`` pointing at the shared
images, which are never copied) with ``ply_file_path`` set, so ``pvd train`` finds it itself
(``--init_points auto``); the same scene with ``--init_points random`` is the baseline. Each run's
record is copied to ``RESULTS/records/``; a kept record is not run again, so the script resumes. The
table (test PSNR, processor seconds of the optimisation steps, final Gaussians) comes from the records:

    nice -n 10 python benchmarks/gs_init_points.py --work /tmp/pvd-gs-init
    python benchmarks/gs_init_points.py --work /tmp/pvd-gs-init --report_only
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pvd.model import read_checkpoint

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PVD_SHARED_DATA", REPO.parent / "shared" / "data"))
LEGO = DATA / "nerf_synthetic" / "lego"
RESULTS = REPO / "benchmarks" / "results" / "gs_init_points"
BOX = ("--data_type", "synthetic", "--downscale", "8", "--bound", "1.0", "--scale", "0.8", "--dt_gamma", "0.0")
COMMON = ("--preset", "tiny", "--threads", "1", "--ckpt_every", "0", "--no_progress")
INITS = ("random", "auto")
DEFAULT_POINTS, DEFAULT_NOISE = 10000, 0.01


def pvd(*args: str, log: Path) -> float:
    """Run one ``pvd`` command (its output appended to ``log``); returns its wall seconds."""
    cmd = [sys.executable, "-m", "pvd.cli", *args]
    t0 = time.perf_counter()
    with log.open("a") as out:
        out.write(f"$ {shlex.join(cmd)}\n")
        out.flush()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {shlex.join(cmd)}; see {log}")
    return time.perf_counter() - t0


def cloud_tag(n_points: int, noise: float) -> str:
    """The name suffix of a cloud other than the default one (records, scene folder)."""
    return "" if (n_points, noise) == (DEFAULT_POINTS, DEFAULT_NOISE) else f"_pts{n_points}_noise{noise:g}"


def build_scene(work: Path, n_points: int, noise: float, log: Path) -> Path:
    """The lego scene folder with a noisy surface cloud as ``sparse_pc.ply`` (module doc)."""
    from plyfile import PlyData, PlyElement

    scene = work / f"lego_pc{cloud_tag(n_points, noise)}"
    if (scene / "sparse_pc.ply").is_file():
        return scene
    teacher = work / "hash"
    if not (teacher / "record.json").is_file():
        pvd(
            "train",
            str(LEGO),
            *BOX,
            *COMMON,
            "--model_type",
            "hash",
            "--workspace",
            str(teacher),
            "--overwrite",
            log=log,
        )
    surface = work / f"surface{n_points}.ply"
    pvd("export", "--ckpt", str(teacher / "checkpoint.pt"), "--format", "points", "--out", str(surface), "--overwrite",
        "--max_points", str(n_points), "--seed", "0", log=log)  # fmt: skip
    vertex = PlyData.read(str(surface))["vertex"].data
    xyz = np.stack([np.asarray(vertex[k], dtype=np.float64) for k in "xyz"], 1)
    xyz += np.random.default_rng(0).normal(0.0, noise, xyz.shape)
    out = np.empty(len(xyz), dtype=[(k, "f4") for k in "xyz"] + [(k, "u1") for k in ("red", "green", "blue")])
    for j, k in enumerate("xyz"):
        out[k] = xyz[:, j]
    for k in ("red", "green", "blue"):
        out[k] = vertex[k]
    scene.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):  # the shared lego has no val split
        doc = json.loads((LEGO / f"transforms_{split}.json").read_text())
        for frame in doc["frames"]:
            frame["file_path"] = str((LEGO / frame["file_path"]).resolve())
        if split == "train":
            doc["ply_file_path"] = "sparse_pc.ply"
        (scene / f"transforms_{split}.json").write_text(json.dumps(doc, indent=1))
    PlyData([PlyElement.describe(out, "vertex")]).write(str(scene / "sparse_pc.ply"))
    return scene


def run(work: Path, scene: Path, init: str, seed: int, cloud: dict, log: Path) -> dict:
    """One gs teacher (``init``: random or auto, the scene's cloud); its record, kept or new."""
    tag = cloud_tag(cloud["points"], cloud["noise"]) if init == "auto" else ""
    kept = RESULTS / "records" / f"gs_{init}_seed{seed}{tag}.json"
    if kept.is_file():
        return json.loads(kept.read_text())
    ws = work / f"gs_{init}_seed{seed}{tag}"
    wall = pvd("train", str(scene), *BOX, *COMMON, "--model_type", "gs", "--init_points", init, "--seed", str(seed),
               "--workspace", str(ws), "--overwrite", log=log)  # fmt: skip
    record = json.loads((ws / "record.json").read_text())
    record["cloud"] = cloud if init == "auto" else None
    record["final_gaussians"] = int(read_checkpoint(ws / "checkpoint.pt").field["means"].shape[0])
    record["process_wall_seconds"] = round(wall, 1)
    record["load_average"] = round(os.getloadavg()[0], 1)
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps(record, indent=1))
    return record


def cloud_text(record: dict) -> str:
    cloud = record.get("cloud")
    return f"{cloud['points']} pts, noise {cloud['noise']:g}" if cloud else "-"


def to_random(record: dict, records: list[dict]) -> str:
    """Processor seconds until ``record``'s learning curve first reaches the final probe PSNR of the
    random-init run of the same seed (the curve's step in brackets), or ``-``."""
    seed = record["config"]["seed"]
    base = [r for r in records if r["config"]["init_points"] == "random" and r["config"]["seed"] == seed]
    if not base or not base[0].get("curve") or not record.get("curve"):
        return "-"
    goal = base[0]["curve"][-1]["psnr"]
    hit = next((c for c in record["curve"] if c["psnr"] >= goal), None)
    return f"{hit['cpu_seconds']:.0f} (step {hit['step']})" if hit else "not reached"


def report(records: list[dict]) -> str:
    rows = [
        "# gs teachers: random init vs a point cloud, lego, tiny preset, CPU, one thread "
        "(generated by benchmarks/gs_init_points.py)",
        "",
        "Cloud: the surface of a tiny hash teacher (`pvd export --format points`, 27.84 dB), thinned to that many "
        "points, Gaussian noise of that sigma (world units) on every coordinate, as nerfstudio's `sparse_pc.ply`; "
        "the tiny preset starts 4000 Gaussians (a random subset of a larger cloud; random ones top up a smaller). "
        "test PSNR: the run's end-of-run score on lego's 200 test views (100x100); probe PSNR: its learning "
        "curve's score on a few test views at reduced size (higher than the full test score), which also gives "
        "the processor s until the run first reaches the final probe PSNR of the random-init run of its seed; "
        "processor s: the run's optimisation steps (record cpu_seconds); process s: the whole `pvd` process "
        "(wall); load: 1-minute load average at the run's end (a shared 2-core box).",
        "",
        "| init | cloud | seed | Gaussians at points / random | test PSNR | probe PSNR at step ~300 | processor s "
        "| processor s to the random run's final probe PSNR | process s | final Gaussians | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(records, key=lambda r: (cloud_text(r), r["config"]["seed"])):
        init, curve = r["init"], r.get("curve") or []
        early = min(curve, key=lambda c: abs(c["step"] - 300), default=None)
        early_text = f"{early['psnr']:.2f} (step {early['step']})" if early else "-"
        rows.append(
            f"| {init['source']} | {cloud_text(r)} | {r['config']['seed']} | {init['points']} / {init['random']} | "
            f"{r['metrics']['psnr_test']:.2f} | {early_text} | {r['cpu_seconds']:.0f} | {to_random(r, records)} | "
            f"{r['process_wall_seconds']:.0f} | {r['final_gaussians']} | {r['load_average']} |"
        )
    rows.append("")
    for which in sorted({cloud_text(r) for r in records}):
        mine = [r for r in records if cloud_text(r) == which]
        psnr = np.mean([r["metrics"]["psnr_test"] for r in mine])
        cpu = np.mean([r["cpu_seconds"] for r in mine])
        name = "random init" if which == "-" else f"cloud {which}"
        rows.append(f"- {name}: mean test PSNR {psnr:.2f} dB, mean processor s {cpu:.0f} over {len(mine)} seed(s)")
    return "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/pvd-gs-init"), help="workspaces and the scene copy")
    ap.add_argument("--points", type=int, default=DEFAULT_POINTS, help="points of the cloud")
    ap.add_argument("--noise", type=float, default=DEFAULT_NOISE, help="noise sigma in world units")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--report_only", action="store_true")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.work / "log.txt"
    if not args.report_only:
        scene = build_scene(args.work, args.points, args.noise, log)
        cloud = {"points": args.points, "noise": args.noise}
        for seed in args.seeds:
            for init in INITS:
                run(args.work, scene, init, seed, cloud, log)
    records = [json.loads(p.read_text()) for p in sorted((RESULTS / "records").glob("*.json"))]
    text = report(records)
    (RESULTS.parent / "gs_init_points.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
