"""The paper's efficiency claim on a real scene: a NeRF MLP distilled from an Instant-NGP teacher vs the
same MLP trained from the images for as long as teacher + distillation together take.

Runs, on lego (Synthetic-NeRF, ``--downscale``), tiny presets, CPU, into a results tree the report reads:

* ``teacher/hash``   -- the hash teacher from the images;
* ``distill/hash2mlp`` -- the mlp student distilled from it;
* ``teacher/mlp``    -- the mlp from the images, its step count set so its training time matches
  teacher + distillation (processor seconds, which a machine shared with other jobs distorts far
  less than wall time; the rate is the marginal cost of steps 300-600 of two calibration runs, past
  the first grid updates that visit every cell);

then ``pvd report curves`` and ``pvd report time-to-quality`` on that tree (learning curves from the
records; the student's curve starts after its teacher's training time) and prints both final PSNRs.

    python benchmarks/efficiency.py --out benchmarks/out/efficiency     # ~25 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

LEGO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nerf_synthetic" / "lego"


def pvd(*args: str) -> None:
    print("$ pvd " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "pvd.cli", *args], check=True)


def record(ws: Path) -> dict:
    return json.loads((ws / "record.json").read_text())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--scene", type=Path, default=LEGO)
    p.add_argument("--downscale", default="4")
    p.add_argument("--threads", default="1")
    args = p.parse_args()
    cell = args.out / "synthetic" / "lego"
    common = ["--data_type", "synthetic", "--downscale", args.downscale, "--threads", args.threads, "--no_progress"]
    hash_ws, student_ws, mlp_ws = cell / "teacher" / "hash", cell / "distill" / "hash2mlp", cell / "teacher" / "mlp"
    if not (hash_ws / "record.json").exists():
        pvd("train", str(args.scene), "--model_type", "hash", "--workspace", str(hash_ws), *common)
    if not (student_ws / "record.json").exists():
        pvd(
            "distill",
            str(args.scene),
            "--teacher_type",
            "hash",
            "--ckpt_teacher",
            str(hash_ws / "checkpoint.pt"),
            "--model_type",
            "mlp",
            "--workspace",
            str(student_ws),
            *common,
        )
    budget = record(hash_ws)["cpu_seconds"] + record(student_ws)["cpu_seconds"]
    cost = {}
    for steps in (300, 600):
        calib = args.out / f"calibration_mlp_{steps}"
        if not (calib / "record.json").exists():
            pvd(
                "train",
                str(args.scene),
                "--model_type",
                "mlp",
                "--workspace",
                str(calib),
                "--iters",
                str(steps),
                "--curve_points",
                "0",
                *common,
            )
        cost[steps] = record(calib)["cpu_seconds"]
    rate = 300 / (cost[600] - cost[300])
    iters = max(100, round(budget * rate))
    if not (mlp_ws / "record.json").exists():
        pvd("train", str(args.scene), "--model_type", "mlp", "--workspace", str(mlp_ws), "--iters", str(iters), *common)
    reports = args.out / "report"
    pvd("report", "curves", "--results", str(args.out), "--out", str(reports / "curves.csv"))
    pvd(
        "report",
        "time-to-quality",
        "--curves",
        str(reports / "curves.csv"),
        "--figures",
        str(reports),
        "--tables",
        str(reports),
    )
    h, s, m = record(hash_ws), record(student_ws), record(mlp_ws)
    print(
        f"hash teacher {h['metrics']['psnr_test']:.2f} dB in {h['cpu_seconds']:.1f} processor-s; hash2mlp "
        f"{s['metrics']['psnr_test']:.2f} dB in {s['cpu_seconds']:.1f} processor-s (total {budget:.1f}); "
        f"mlp from the images, {iters} steps ({rate:.1f} steps per processor-s): {m['metrics']['psnr_test']:.2f} dB "
        f"in {m['cpu_seconds']:.1f} processor-s ({m['seconds']:.1f} s wall)"
    )
    print((reports / "time_to_quality.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
