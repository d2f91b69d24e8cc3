"""gs teachers from random Gaussians vs from a point cloud, on real scenes (tiny preset, CPU, 1 thread).

Lego (``nerf_synthetic/lego``) and fern (``nerf_llff_data/fern``), both at downscale 8, ship no point
cloud, so this builds one the way structure from motion would give it: a tiny ``hash`` teacher is
trained from the images, ``pvd export --format points`` gives its surface (the depth of the training
views, in the scene's world frame) thinned to ``--points`` points, and Gaussian noise of ``--noise``
world units is added to every coordinate. It is written where the scene's format keeps its cloud,
in a scene folder outside the repository (the images are read in place, never copied):

* lego: nerfstudio's ``sparse_pc.ply`` beside copies of ``transforms_*.json`` whose ``file_path``
  points at the shared images and whose train file names it (``ply_file_path``);
* fern: COLMAP's ``sparse/0/points3D.bin`` (COLMAP's frame: the world's points taken back through
  the inverse of the poses' scaling and recentring) beside a copy of ``poses_bounds.npy`` and a link
  to the shared ``images_8/``.

``pvd train`` finds the cloud itself (``--init_points auto``); the same scene with ``--init_points
random`` is the baseline. Each run's record is copied to ``RESULTS/records/``; a kept record is not
run again, so the script resumes. The table comes from the records:

    nice -n 10 python benchmarks/gs_init_points.py --work /tmp/pvd-gs-init --seeds 0 1
    nice -n 10 python benchmarks/gs_init_points.py --work /tmp/pvd-gs-init --scene fern
    nice -n 10 python benchmarks/gs_init_points.py --work /tmp/pvd-gs-init --scene fern --max_gaussians 10000
    python benchmarks/gs_init_points.py --report_only
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pvd.model import read_checkpoint

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PVD_SHARED_DATA", REPO.parent / "shared" / "data"))
LEGO = DATA / "nerf_synthetic" / "lego"
FERN = DATA / "nerf_llff_data" / "fern"
RESULTS = REPO / "benchmarks" / "results" / "gs_init_points"
BOXES = {  # the boxes of config/real-cpu.yaml
    "lego": ("--data_type", "synthetic", "--downscale", "8", "--bound", "1.0", "--scale", "0.8", "--dt_gamma", "0.0"),
    "fern": ("--data_type", "llff", "--downscale", "8", "--bound", "2.0", "--scale", "0.33", "--dt_gamma", "0.003"),
}
SOURCES = {"lego": LEGO, "fern": FERN}
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


def scene_tag(scene: str) -> str:
    """The name prefix of a scene's records (none for lego, the first one recorded)."""
    return "" if scene == "lego" else f"{scene}_"


def build_scene(name: str, work: Path, n_points: int, noise: float, log: Path) -> Path:
    """The scene folder of ``name`` with a noisy surface cloud where its format keeps one (module doc)."""
    scene = work / f"{name}_pc{cloud_tag(n_points, noise)}"
    if (scene / "done").is_file():
        return scene
    teacher = work / f"{scene_tag(name)}hash"
    if not (teacher / "record.json").is_file():
        pvd("train", str(SOURCES[name]), *BOXES[name], *COMMON, "--model_type", "hash", "--workspace", str(teacher),
            "--overwrite", log=log)  # fmt: skip
    surface = work / f"{scene_tag(name)}surface{n_points}.ply"
    pvd("export", "--ckpt", str(teacher / "checkpoint.pt"), "--format", "points", "--out", str(surface), "--overwrite",
        "--max_points", str(n_points), "--seed", "0", log=log)  # fmt: skip
    from plyfile import PlyData

    vertex = PlyData.read(str(surface))["vertex"].data
    xyz = np.stack([np.asarray(vertex[k], dtype=np.float64) for k in "xyz"], 1)
    xyz += np.random.default_rng(0).normal(0.0, noise, xyz.shape)
    rgb = np.stack([np.asarray(vertex[k]) for k in ("red", "green", "blue")], 1).astype(np.uint8)
    scene.mkdir(parents=True, exist_ok=True)
    (write_lego if name == "lego" else write_fern)(scene, xyz, rgb)
    (scene / "done").write_text("")
    return scene


def write_lego(scene: Path, xyz: np.ndarray, rgb: np.ndarray) -> None:
    """nerfstudio's sparse_pc.ply and the json copies naming it."""
    from plyfile import PlyData, PlyElement

    out = np.empty(len(xyz), dtype=[(k, "f4") for k in "xyz"] + [(k, "u1") for k in ("red", "green", "blue")])
    for j, k in enumerate("xyz"):
        out[k] = xyz[:, j]
    for j, k in enumerate(("red", "green", "blue")):
        out[k] = rgb[:, j]
    for split in ("train", "test"):  # the shared lego has no val split
        doc = json.loads((LEGO / f"transforms_{split}.json").read_text())
        for frame in doc["frames"]:
            frame["file_path"] = str((LEGO / frame["file_path"]).resolve())
        if split == "train":
            doc["ply_file_path"] = "sparse_pc.ply"
        (scene / f"transforms_{split}.json").write_text(json.dumps(doc, indent=1))
    PlyData([PlyElement.describe(out, "vertex")]).write(str(scene / "sparse_pc.ply"))


def write_fern(scene: Path, xyz: np.ndarray, rgb: np.ndarray) -> None:
    """COLMAP's points3D.bin in COLMAP's frame, a copy of poses_bounds.npy, a link to images_8/."""
    from pvd.data.llff import source_to_world

    (scene / "poses_bounds.npy").write_bytes((FERN / "poses_bounds.npy").read_bytes())
    if not (scene / "images_8").exists():
        (scene / "images_8").symlink_to((FERN / "images_8").resolve())
    world_to_colmap = np.linalg.inv(source_to_world(FERN))
    colmap = xyz @ world_to_colmap[:3, :3].T + world_to_colmap[:3, 3]
    head = struct.Struct("<Q3d3BdQ")  # id, x y z, r g b, error, track length (no track entries)
    data = [struct.pack("<Q", len(colmap))]
    data += [head.pack(i, *map(float, p), *map(int, c), 1.0, 0) for i, (p, c) in enumerate(zip(colmap, rgb))]
    (scene / "sparse" / "0").mkdir(parents=True, exist_ok=True)
    (scene / "sparse" / "0" / "points3D.bin").write_bytes(b"".join(data))


def run(name: str, work: Path, scene: Path, init: str, seed: int, cloud: dict, log: Path) -> dict:
    """One gs teacher (``init``: random or auto, the scene's cloud; ``cloud["max_gaussians"]``: a cap
    on densification, or None); its record, kept or new."""
    cap = cloud.get("max_gaussians")
    tag = (cloud_tag(cloud["points"], cloud["noise"]) + (f"_cap{cap}" if cap else "")) if init == "auto" else ""
    kept = RESULTS / "records" / f"{scene_tag(name)}gs_{init}_seed{seed}{tag}.json"
    if kept.is_file():
        return json.loads(kept.read_text())
    ws = work / f"{scene_tag(name)}gs_{init}_seed{seed}{tag}"
    capping = ("--max_gaussians", str(cap)) if cap else ()
    wall = pvd("train", str(scene), *BOXES[name], *COMMON, "--model_type", "gs", "--init_points", init,
               "--seed", str(seed), "--workspace", str(ws), "--overwrite", *capping, log=log)  # fmt: skip
    record = json.loads((ws / "record.json").read_text())
    record["cloud"] = cloud if init == "auto" else None
    record["scene"] = name
    record["final_gaussians"] = int(read_checkpoint(ws / "checkpoint.pt").field["means"].shape[0])
    record["process_wall_seconds"] = round(wall, 1)
    record["load_average"] = round(os.getloadavg()[0], 1)
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps(record, indent=1))
    return record


def scene_of(record: dict) -> str:
    return record.get("scene", "lego")


def cloud_text(record: dict) -> str:
    cloud = record.get("cloud")
    if not cloud:
        return "-"
    cap = f", at most {cloud['max_gaussians']} Gaussians" if cloud.get("max_gaussians") else ""
    return f"{cloud['points']} pts, noise {cloud['noise']:g}{cap}"


def to_random(record: dict, records: list[dict]) -> str:
    """Processor seconds until ``record``'s learning curve first reaches the final probe PSNR of the
    random-init run of the same seed (the curve's step in brackets), or ``-``."""
    seed, scene = record["config"]["seed"], scene_of(record)
    base = [
        r
        for r in records
        if r["config"]["init_points"] == "random" and r["config"]["seed"] == seed and scene_of(r) == scene
    ]
    if not base or not base[0].get("curve") or not record.get("curve"):
        return "-"
    goal = base[0]["curve"][-1]["psnr"]
    hit = next((c for c in record["curve"] if c["psnr"] >= goal), None)
    return f"{hit['cpu_seconds']:.0f} (step {hit['step']})" if hit else "not reached"


def report(records: list[dict]) -> str:
    rows = [
        "# gs teachers: random init vs a point cloud, tiny preset, CPU, one thread "
        "(generated by benchmarks/gs_init_points.py)",
        "",
        "Cloud: the surface of a tiny hash teacher of the scene (`pvd export --format points`), thinned to that "
        "many points, Gaussian noise of that sigma (world units) on every coordinate, where the format keeps a "
        "cloud (lego: nerfstudio's `sparse_pc.ply`; fern: COLMAP's `sparse/0/points3D.bin`, in COLMAP's frame); "
        "the tiny preset starts 4000 Gaussians (a random subset of a larger cloud; random ones top up a smaller). "
        "Such a cloud covers the surfaces more evenly than SfM's keypoints, so a real COLMAP cloud may gain less. "
        "test PSNR: the run's end-of-run score on the test views; probe PSNR: its learning "
        "curve's score on a few test views at reduced size (higher than the full test score), which also gives "
        "the processor s until the run first reaches the final probe PSNR of the random-init run of its seed; "
        "processor s: the run's optimisation steps (record cpu_seconds); process s: the whole `pvd` process "
        "(wall); load: 1-minute load average at the run's end (a shared 2-core box).",
    ]
    for scene in sorted({scene_of(r) for r in records}, key=list(BOXES).index):
        mine = [r for r in records if scene_of(r) == scene]
        rows += [
            "",
            f"## {scene} (`{SOURCES[scene].relative_to(DATA)}`, `{' '.join(BOXES[scene])}`)",
            "",
            "| init | cloud | seed | Gaussians at points / random | test PSNR | probe PSNR at step ~300 "
            "| processor s | processor s to the random run's final probe PSNR | process s | final Gaussians | load |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in sorted(mine, key=lambda r: (cloud_text(r), r["config"]["seed"])):
            init, curve = r["init"], r.get("curve") or []
            early = min(curve, key=lambda c: abs(c["step"] - 300), default=None)
            early_text = f"{early['psnr']:.2f} (step {early['step']})" if early else "-"
            rows.append(
                f"| {init['source']} | {cloud_text(r)} | {r['config']['seed']} | {init['points']} / "
                f"{init['random']} | {r['metrics']['psnr_test']:.2f} | {early_text} | {r['cpu_seconds']:.0f} | "
                f"{to_random(r, records)} | {r['process_wall_seconds']:.0f} | {r['final_gaussians']} | "
                f"{r['load_average']} |"
            )
        rows.append("")
        for which in sorted({cloud_text(r) for r in mine}):
            same = [r for r in mine if cloud_text(r) == which]
            psnr = np.mean([r["metrics"]["psnr_test"] for r in same])
            cpu = np.mean([r["cpu_seconds"] for r in same])
            name = "random init" if which == "-" else f"cloud {which}"
            rows.append(f"- {name}: mean test PSNR {psnr:.2f} dB, mean processor s {cpu:.0f} over {len(same)} seed(s)")
    return "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/pvd-gs-init"), help="workspaces and the scene copy")
    ap.add_argument("--points", type=int, default=DEFAULT_POINTS, help="points of the cloud")
    ap.add_argument("--noise", type=float, default=DEFAULT_NOISE, help="noise sigma in world units")
    ap.add_argument("--scene", choices=tuple(BOXES), default="lego")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--max_gaussians", type=int, help="cap the point-init runs' densification (random runs: skipped)")
    ap.add_argument("--report_only", action="store_true")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.work / "log.txt"
    if not args.report_only:
        scene = build_scene(args.scene, args.work, args.points, args.noise, log)
        cloud = {"points": args.points, "noise": args.noise, "max_gaussians": args.max_gaussians}
        for seed in args.seeds:
            for init in INITS if args.max_gaussians is None else ("auto",):
                run(args.scene, args.work, scene, init, seed, cloud, log)
    records = [json.loads(p.read_text()) for p in sorted((RESULTS / "records").glob("*.json"))]
    text = report(records)
    (RESULTS.parent / "gs_init_points.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
