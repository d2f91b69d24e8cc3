"""Distillation quality bars: the 4x4 teacher -> student matrix on the demo scene.

Trains the four ``tiny`` teachers, runs all 16 pairs, then two extra rows, and prints the student
test PSNR (vs ground truth) beside each teacher's own PSNR, the gap, and each pair's seconds:

* ``scratch`` row — every same-type pair ``X2X`` with ``--init scratch`` (the stages must do the
  work, not the copied weights);
* ``rgb_only`` row — the ablation: the ``--ablation_teacher``'s pairs with ``--stages rgb_only``
  (rendered-colour loss only, no progressive stages).

    python benchmarks/distill_matrix.py --out benchmarks/out/distill     # all of it
    python benchmarks/distill_matrix.py --out DIR --students vm --extra "--iters 800"

Every run goes through the ``pvd train`` / ``pvd distill`` CLI; numbers are read from their
``record.json``. Runs whose record exists in ``--out`` are reused (delete them to rerun).
Bars (2 CPU cores): each student within 1.0 dB of its teacher, each pair <= 60 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from pvd.fields import ARCHS

GAP_BAR_DB = 1.0
SECONDS_BAR = 60.0


def run_once(cmd: list[str], ws: Path) -> dict:
    """Run a ``pvd`` command unless ``ws/record.json`` exists; return the record."""
    record = ws / "record.json"
    if not record.exists():
        print("$ pvd " + " ".join(cmd[3:]), flush=True)
        subprocess.run(cmd, check=True)
    return json.loads(record.read_text())


def train_teacher(scene: Path, out: Path, arch: str, args) -> dict:
    ws = out / f"teacher-{arch}"
    cmd = [
        sys.executable,
        "-m",
        "pvd.cli",
        "train",
        str(scene),
        "--data_type",
        "synthetic",
        "--model_type",
        arch,
        "--workspace",
        str(ws),
        "--preset",
        "tiny",
        "--no_progress",
        "--seed",
        str(args.seed),
    ]
    return run_once(cmd, ws)


def distill_pair(scene: Path, out: Path, teacher: str, student: str, args, tag: str = "", *flags) -> dict:
    ws = out / f"{teacher}2{student}{tag}"
    cmd = [
        sys.executable,
        "-m",
        "pvd.cli",
        "distill",
        str(scene),
        "--data_type",
        "synthetic",
        "--teacher_type",
        teacher,
        "--ckpt_teacher",
        str(out / f"teacher-{teacher}" / "checkpoint.pt"),
        "--model_type",
        student,
        "--workspace",
        str(ws),
        "--preset",
        "tiny",
        "--no_progress",
        "--seed",
        str(args.seed),
        *flags,
        *args.extra.split(),
    ]
    return run_once(cmd, ws)


def cell(rec: dict | None) -> str:
    return "      -      " if rec is None else f"{rec['metrics']['psnr_test']:6.2f} {rec['seconds']:5.1f}s"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, help="keep scene and workspaces here (default: a temp dir)")
    p.add_argument("--teachers", default=",".join(ARCHS))
    p.add_argument("--students", default=",".join(ARCHS))
    p.add_argument("--ablation_teacher", default="hash")
    p.add_argument("--no_extra_rows", action="store_true", help="skip the scratch and rgb_only rows")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--extra", default="", help="extra flags for every pvd distill, space-separated")
    args = p.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="pvd-distill-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    scene = out / "demo"
    if not scene.exists():
        subprocess.run([sys.executable, "-m", "pvd.cli", "data", "demo", str(scene)], check=True)
    teachers, students = args.teachers.split(","), args.students.split(",")
    t_rec = {t: train_teacher(scene, out, t, args) for t in teachers}
    matrix = {(t, s): distill_pair(scene, out, t, s, args) for t in teachers for s in students}
    scratch, ablation = {}, {}
    if not args.no_extra_rows:
        scratch = {
            s: distill_pair(scene, out, s, s, args, "-scratch", "--init", "scratch") for s in students if s in teachers
        }
        if args.ablation_teacher in teachers:
            ablation = {
                s: distill_pair(scene, out, args.ablation_teacher, s, args, "-rgb_only", "--stages", "rgb_only")
                for s in students
            }

    header = f"{'teacher':8} {'PSNR':>6} {'secs':>6} | " + " | ".join(f"{s:^13}" for s in students)
    print(
        f"\nscene: {scene}\nstudent test PSNR (dB) and distillation seconds per pair "
        f"(rows: teacher; columns: student)\n{header}"
    )
    for t in teachers:
        tp = t_rec[t]["metrics"]["psnr_test"]
        print(f"{t:8} {tp:6.2f} {t_rec[t]['seconds']:6.1f} | " + " | ".join(cell(matrix[(t, s)]) for s in students))
    if scratch:
        print(f"{'X2X scratch':22} | " + " | ".join(cell(scratch.get(s)) for s in students))
    if ablation:
        print(f"{args.ablation_teacher + '2X rgb_only':22} | " + " | ".join(cell(ablation[s]) for s in students))

    print("\nprocessor seconds per pair (all threads; steadier than wall time on a shared CPU):")
    for t in teachers:
        print(f"{t:8} | " + " | ".join(f"{matrix[(t, s)].get('cpu_seconds', float('nan')):^13.1f}" for s in students))
    print("\ngap to teacher (student - teacher PSNR, dB):")
    failures = []
    for t in teachers:
        tp = t_rec[t]["metrics"]["psnr_test"]
        gaps = []
        for s in students:
            rec = matrix[(t, s)]
            gap = rec["metrics"]["psnr_test"] - tp
            gaps.append(f"{gap:+6.2f}")
            if gap < -GAP_BAR_DB:
                failures.append(f"{t}2{s}: {gap:+.2f} dB")
            if rec["seconds"] > SECONDS_BAR:
                failures.append(f"{t}2{s}: {rec['seconds']:.1f} s")
        print(f"{t:8} | " + " | ".join(f"{g:^13}" for g in gaps))
    for s, rec in scratch.items():
        gap = rec["metrics"]["psnr_test"] - t_rec[s]["metrics"]["psnr_test"]
        init = matrix[(s, s)]["metrics"]["psnr_test"] - t_rec[s]["metrics"]["psnr_test"]
        print(f"scratch {s}2{s}: {gap:+.2f} dB (init teacher: {init:+.2f} dB)")
    for s, rec in ablation.items():
        diff = rec["metrics"]["psnr_test"] - matrix[(args.ablation_teacher, s)]["metrics"]["psnr_test"]
        print(f"rgb_only {args.ablation_teacher}2{s}: {diff:+.2f} dB vs progressive stages")
    print(
        "\nbars (each student within 1.0 dB of its teacher, each pair <= 60 s): "
        + ("all met" if not failures else "missed: " + "; ".join(failures))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
