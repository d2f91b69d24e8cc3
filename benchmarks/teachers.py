"""Teacher quality bars: train each architecture and print (architecture, preset, iterations,
seconds, test PSNR).

    python benchmarks/teachers.py                       # demo scene, tiny preset, all four
    python benchmarks/teachers.py --scene ../shared/data/nerf_synthetic/lego --downscale 8 \
        --archs hash --iters 3000                        # real lego at 100x100

Each run goes through the `pvd train` CLI and its record.json; the table is read from the records.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from pvd.fields import ARCHS


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scene", type=Path, help="scene folder (default: a fresh demo scene)")
    p.add_argument("--data_type", default="synthetic")
    p.add_argument("--archs", default=",".join(ARCHS))
    p.add_argument("--preset", default="tiny")
    p.add_argument("--iters", type=int)
    p.add_argument("--downscale", type=int, default=1)
    p.add_argument("--out", type=Path, help="keep workspaces here (default: a temp dir)")
    p.add_argument("--extra", default="", help="extra flags for pvd train, space-separated")
    args = p.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="pvd-bench-"))
    scene = args.scene
    if scene is None:
        scene = out / "demo"
        if not scene.exists():
            subprocess.run([sys.executable, "-m", "pvd.cli", "data", "demo", str(scene)], check=True)
    rows = []
    for arch in args.archs.split(","):
        ws = out / f"teacher-{arch}"
        cmd = [
            sys.executable,
            "-m",
            "pvd.cli",
            "train",
            str(scene),
            "--data_type",
            args.data_type,
            "--model_type",
            arch,
            "--workspace",
            str(ws),
            "--preset",
            args.preset,
            "--downscale",
            str(args.downscale),
            "--no_progress",
            *args.extra.split(),
        ]
        if args.iters:
            cmd += ["--iters", str(args.iters)]
        subprocess.run(cmd, check=True)
        rec = json.loads((ws / "record.json").read_text())
        rows.append((arch, args.preset, rec["iterations"], rec["seconds"], rec["metrics"]["psnr_test"], rec["backend"]))
    print(f"\nscene: {scene} (downscale {args.downscale})")
    print(f"{'arch':8} {'preset':6} {'iters':>6} {'seconds':>8} {'test PSNR':>10} backend")
    for arch, preset, iters, secs, psnr, backend in rows:
        print(f"{arch:8} {preset:6} {iters:6d} {secs:8.1f} {psnr:10.2f} {backend}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
