"""Captures: lens distortion and the automatic scene box, measured against ground truth (issue: own captures).

Renders the demo scene as captures (``pvd data demo-capture``) and trains the same ``tiny`` teacher on:

* ``pinhole``     -- pinhole renders (the reference);
* ``distorted``   -- renders through an OPENCV lens, coefficients declared (must match ``pinhole``
                     within 0.5 dB: the images are used as captured);
* ``ignored``     -- the same distorted images with the coefficients zeroed (must score clearly worse);
* ``moved``       -- pinhole renders with every pose moved by a random similarity (rotation, translation,
                     scale 0.2x-5x): the automatic box must find the scene (within 0.5 dB of ``pinhole``).

Scores: the test PSNR of ``pvd train`` against the capture's own test images, and -- the fair
comparison, the same images for every model -- ``pvd evaluate`` of each model on the pinhole
capture's test views (the distorted and ignored models render through pinhole cameras there: a
model that learned the scene renders them right).

    python benchmarks/capture.py --out benchmarks/out/capture     # ~10 min on 2 CPU cores

A thin loop over ``pvd`` calls, not a workflow config: the captures are rendered on the fly, the
``ignored`` case is a derived copy and models are scored on another case's views. It runs every step
each time (``--out`` must be new or empty) and reads the numbers from the runs' records.
Every case is trained with each of ``--seeds`` (the tiny teacher's test PSNR moves by ~0.4 dB between
seeds on this scene) and the differences are of the means.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

LENS = ["--camera_model", "OPENCV", "--k1", "-0.25", "--k2", "0.06", "--p1", "0.004", "--p2", "-0.003"]
CASES = {"pinhole": [], "distorted": LENS, "moved": ["--similarity", "7"]}


def pvd(*args: str) -> None:
    print("$ pvd " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "pvd.cli", *args], check=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--model_type", default="hash")
    p.add_argument("--seeds", default="0,1", help="training seeds, comma-separated")
    p.add_argument("--extra", default="--threads 1", help="extra flags for pvd train")
    args = p.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"--out {args.out} is not empty: every run writes there afresh")
    args.out.mkdir(parents=True, exist_ok=True)
    for name, flags in CASES.items():
        pvd("data", "demo-capture", str(args.out / name), *flags)
    ignored = args.out / "ignored"
    ignored.mkdir()
    doc = json.loads((args.out / "distorted" / "transforms.json").read_text())
    doc.update(camera_model="PINHOLE", k1=0.0, k2=0.0, p1=0.0, p2=0.0)
    for split in ("train", "val", "test"):
        (ignored / split).symlink_to((args.out / "distorted" / split).resolve())
    (ignored / "transforms.json").write_text(json.dumps(doc))
    seeds = [int(v) for v in args.seeds.split(",")]
    psnr = {name: [] for name in ("pinhole", "distorted", "ignored", "moved")}
    common = {name: [] for name in psnr}
    for seed in seeds:
        for name in psnr:
            ws = args.out / f"ws_{name}_seed{seed}"
            pvd(
                "train",
                str(args.out / name),
                "--data_type",
                "capture",
                "--model_type",
                args.model_type,
                "--workspace",
                str(ws),
                "--seed",
                str(seed),
                "--no_progress",
                *args.extra.split(),
            )
            record = json.loads((ws / "record.json").read_text())
            psnr[name].append(record["metrics"]["psnr_test"])
            if name in ("distorted", "ignored"):
                ev = args.out / f"eval_{name}_seed{seed}_on_pinhole"
                pvd(
                    "evaluate",
                    str(args.out / "pinhole"),
                    "--data_type",
                    "capture",
                    "--ckpt",
                    str(ws / "checkpoint.pt"),
                    "--workspace",
                    str(ev),
                    "--no-lpips",
                    "--no_progress",
                    *args.extra.split(),
                )
                common[name].append(json.loads((ev / "metrics.json").read_text())["psnr"])
            else:
                common[name].append(psnr[name][-1])
            box = record.get("scene_box") or {}
            print(
                f"seed {seed} {name:10s} own test views {psnr[name][-1]:6.2f} dB, pinhole test views "
                f"{common[name][-1]:6.2f} dB, {record['seconds']:6.1f} s, box {box.get('mode')} "
                f"scale {box.get('scale', float('nan')):.4f}"
            )
    mean = {name: sum(v) / len(v) for name, v in common.items()}
    print(f"means over seeds {seeds} on the pinhole test views: " + ", ".join(f"{k} {v:.2f}" for k, v in mean.items()))
    for name, bar in (("distorted", "bar: within 0.5"), ("ignored", "clearly worse"), ("moved", "bar: within 0.5")):
        print(f"{name:9s} - pinhole: {mean[name] - mean['pinhole']:+.2f} dB ({bar})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
