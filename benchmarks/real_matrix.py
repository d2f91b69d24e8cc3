"""Conversion fidelity on real scenes: the 4x4 teacher -> student matrix at CPU scale.

Like ``benchmarks/distill_matrix.py`` (the demo scene), on the real scenes of ``../shared/data``,
``tiny`` presets, CPU, images downscaled 8x:

* ``lego``  — Synthetic-NeRF lego (Blender format), 100x100, bound 1, scale 0.8, dt_gamma 0;
* ``fern``  — LLFF fern (``images_8``, 504x378), bound 2, scale 0.33, dt_gamma 0.003;
* ``nsvf``  — the same lego in the NSVF layout (``--data_type tank``), 100x100, bound 1, scale 0.8.
  Its ``rgb/*.png`` are relative symbolic links; where the shared copy stores them as small text
  files, a tree of real links is built in a temporary folder outside the repository (the shared data
  is never modified).

For each scene: trains the teachers, runs the pairs, and prints the student test PSNR (vs ground
truth), the gap to its teacher's test PSNR, the distillation seconds and the PSNR vs the teacher's
renders (``metrics.psnr_vs_teacher`` of the record).

    python benchmarks/real_matrix.py --out benchmarks/out/real                      # all of it
    python benchmarks/real_matrix.py --out DIR --scenes fern --teachers hash --students vm,mlp

Every run goes through the ``pvd train`` / ``pvd distill`` CLI (``--threads 1 --no_progress``);
numbers are read from their ``record.json``. Runs whose record exists in ``--out`` are reused
(delete them to rerun). Bars (2 CPU cores): each student within 1.0 dB of its teacher, each pair
<= 120 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pvd.data.nsvf import restore_links
from pvd.fields import ARCHS

GAP_BAR_DB = 1.0
SECONDS_BAR = 120.0
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class RealScene:
    folder: str  # under the data root
    data_type: str
    downscale: int
    bound: float
    scale: float
    dt_gamma: float


SCENES = {
    "lego": RealScene("nerf_synthetic/lego", "synthetic", 8, 1.0, 0.8, 0.0),
    "fern": RealScene("nerf_llff_data/fern", "llff", 8, 2.0, 0.33, 0.003),
    "nsvf": RealScene("nsvf/Lego", "tank", 8, 1.0, 0.8, 0.0),
}


def run_once(cmd: list[str], ws: Path) -> dict:
    """Run a ``pvd`` command unless ``ws/record.json`` exists; return the record."""
    record = ws / "record.json"
    if not record.exists():
        print("$ pvd " + " ".join(cmd[3:]), flush=True)
        ws.parent.mkdir(parents=True, exist_ok=True)
        with open(ws.parent / f"{ws.name}.log", "w") as log:
            subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
    return json.loads(record.read_text())


def common(args) -> list[str]:
    return [
        "--preset",
        "tiny",
        "--no_progress",
        "--threads",
        str(args.threads),
        "--seed",
        str(args.seed),
        "--device",
        "cpu",
    ]


def train_teacher(path: Path, sc: RealScene, out: Path, arch: str, args) -> dict:
    ws = out / f"teacher-{arch}"
    cmd = [
        sys.executable,
        "-m",
        "pvd.cli",
        "train",
        str(path),
        "--data_type",
        sc.data_type,
        "--model_type",
        arch,
        "--workspace",
        str(ws),
        "--downscale",
        str(sc.downscale),
        "--bound",
        str(sc.bound),
        "--scale",
        str(sc.scale),
        "--dt_gamma",
        str(sc.dt_gamma),
        *common(args),
        *args.teacher_extra.split(),
    ]
    return run_once(cmd, ws)


def distill_pair(path: Path, sc: RealScene, out: Path, teacher: str, student: str, args) -> dict:
    ws = out / f"{teacher}2{student}{args.tag}"
    cmd = [
        sys.executable,
        "-m",
        "pvd.cli",
        "distill",
        str(path),
        "--data_type",
        sc.data_type,
        "--teacher_type",
        teacher,
        "--ckpt_teacher",
        str(out / f"teacher-{teacher}" / "checkpoint.pt"),
        "--model_type",
        student,
        "--workspace",
        str(ws),
        *common(args),
        *args.extra.split(),
    ]
    return run_once(cmd, ws)


def pair_seconds(rec: dict) -> float:
    """The time held against the bar: for a single-threaded run its processor seconds (what it takes
    on one quiet core; its wall seconds on a shared machine overstate it), for a multi-threaded one
    (``--threads 2``: the bar's two cores) its wall seconds (its processor seconds sum the threads)."""
    if rec.get("threads", 1) == 1 and rec.get("cpu_seconds"):
        return rec["cpu_seconds"]
    return rec["seconds"]


def report(name: str, t_rec: dict, matrix: dict, teachers: list[str], students: list[str]) -> list[str]:
    """Print one scene's matrix; return the missed bars."""
    print(
        f"\nscene {name}: student test PSNR (dB) / gap to teacher (dB) / distillation seconds / "
        f"PSNR vs teacher renders (dB)\n(rows: teacher with its test PSNR and training seconds; "
        f"columns: student)"
    )
    print(f"{'teacher':8} {'PSNR':>6} {'secs':>6} | " + " | ".join(f"{s:^27}" for s in students))
    failures = []
    for t in teachers:
        tp = t_rec[t]["metrics"]["psnr_test"]
        cells = []
        for s in students:
            rec = matrix.get((t, s))
            if rec is None:
                cells.append(f"{'-':^27}")
                continue
            m = rec["metrics"]
            gap = m["psnr_test"] - tp
            cells.append(f"{m['psnr_test']:6.2f} {gap:+6.2f} {rec['seconds']:6.1f}s {m['psnr_vs_teacher']:6.2f}")
            if gap < -GAP_BAR_DB:
                failures.append(f"{name} {t}2{s}: {gap:+.2f} dB")
            if pair_seconds(rec) > SECONDS_BAR:
                failures.append(f"{name} {t}2{s}: {pair_seconds(rec):.1f} processor s")
        print(f"{t:8} {tp:6.2f} {t_rec[t]['seconds']:6.1f} | " + " | ".join(cells))
    print(
        "evaluation seconds per pair (test split, teacher and student renders): "
        + ", ".join(f"{t}2{s} {rec.get('eval_seconds', float('nan')):.1f}" for (t, s), rec in matrix.items())
    )
    return failures


def row(scene: str, teacher: str, student: str | None, rec: dict, teacher_psnr: float) -> dict:
    """One record's figures for the saved results."""
    m = rec["metrics"]
    out = {
        "scene": scene,
        "teacher": teacher,
        "student": student,
        "psnr_test": m["psnr_test"],
        "seconds": rec["seconds"],
        "cpu_seconds": rec.get("cpu_seconds"),
        "eval_seconds": rec.get("eval_seconds"),
        "code_version": rec.get("code_version"),
    }
    if student is not None:
        out.update(
            gap_db=m["psnr_test"] - teacher_psnr,
            psnr_vs_teacher=m.get("psnr_vs_teacher"),
            meets=bool(m["psnr_test"] - teacher_psnr >= -GAP_BAR_DB and pair_seconds(rec) <= SECONDS_BAR),
        )
    return out


def save(stem: Path, rows: list[dict], command: str) -> None:
    """``STEM.json`` (every row) and ``STEM.md`` (one matrix per scene)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps({"command": command, "rows": rows}, indent=1) + "\n")
    lines = [
        f"# Conversion matrix on real scenes (tiny presets, CPU)\n\n`{command}`\n",
        "Cells: student test PSNR / gap to its teacher (dB) / distillation wall s (processor s) / "
        "PSNR vs the teacher's renders. Bars: gap >= -1 dB, <= 120 s: the processor s of a "
        "single-threaded run (one quiet core; wall seconds here include other jobs sharing the 2 cores), "
        "the wall s of a multi-threaded one. **x**: a bar missed.\n",
    ]
    for scene in dict.fromkeys(r["scene"] for r in rows):
        teachers = [r for r in rows if r["scene"] == scene and r["student"] is None]
        students = list(dict.fromkeys(r["student"] for r in rows if r["scene"] == scene and r["student"]))
        lines += [
            f"\n## {scene}\n",
            "| teacher | PSNR | train s | " + " | ".join(students) + " |",
            "|---|---|---|" + "---|" * len(students),
        ]
        for t in teachers:
            cells = []
            for s in students:
                hit = [r for r in rows if r["scene"] == scene and r["teacher"] == t["teacher"] and r["student"] == s]
                if not hit:
                    cells.append("-")
                    continue
                r = hit[0]
                mark = "" if r["meets"] else " **x**"
                cells.append(
                    f"{r['psnr_test']:.2f} / {r['gap_db']:+.2f} / {r['seconds']:.0f} "
                    f"({r['cpu_seconds'] or float('nan'):.0f}) / {r['psnr_vs_teacher']:.2f}{mark}"
                )
            lines.append(f"| {t['teacher']} | {t['psnr_test']:.2f} | {t['seconds']:.0f} | " + " | ".join(cells) + " |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, help="workspaces here, one folder per scene (default: a temp dir)")
    p.add_argument("--data_root", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--scenes", default=",".join(SCENES))
    p.add_argument("--teachers", default=",".join(ARCHS))
    p.add_argument("--students", default=",".join(ARCHS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tag", default="", help="suffix of the pair workspaces (ablations)")
    p.add_argument("--extra", default="", help="extra flags for every pvd distill, space-separated")
    p.add_argument("--teacher_extra", default="", help="extra flags for every pvd train, space-separated")
    p.add_argument(
        "--save",
        type=Path,
        metavar="STEM",
        help="also write STEM.json and STEM.md (e.g. benchmarks/results/real_matrix)",
    )
    p.add_argument(
        "--prepare_nsvf",
        type=Path,
        metavar="DIR",
        help="only build the NSVF tree of real links under DIR (for config/real-cpu.yaml) and exit",
    )
    args = p.parse_args()
    if args.prepare_nsvf:
        print(restore_links(args.data_root / SCENES["nsvf"].folder, args.prepare_nsvf))
        return 0
    out_root = args.out or Path(tempfile.mkdtemp(prefix="pvd-real-bench-"))
    teachers, students = args.teachers.split(","), args.students.split(",")
    failures, rows = [], []
    for name in args.scenes.split(","):
        sc = SCENES[name]
        path = args.data_root / sc.folder
        if not path.exists():
            print(f"scene {name}: {path} is absent, skipped")
            continue
        if sc.data_type == "tank":
            path = restore_links(path, Path(tempfile.gettempdir()) / "pvd-real-nsvf")
        out = out_root / name
        t_rec = {t: train_teacher(path, sc, out, t, args) for t in teachers}
        matrix = {(t, s): distill_pair(path, sc, out, t, s, args) for t in teachers for s in students}
        failures += report(name, t_rec, matrix, teachers, students)
        rows += [row(name, t, None, t_rec[t], float("nan")) for t in teachers]
        rows += [row(name, t, s, rec, t_rec[t]["metrics"]["psnr_test"]) for (t, s), rec in matrix.items()]
        if args.save:
            save(args.save, rows, "python benchmarks/real_matrix.py " + " ".join(sys.argv[1:]))
    print(
        f"\nbars (each student within {GAP_BAR_DB} dB of its teacher, each pair <= {SECONDS_BAR:.0f} s): "
        + ("all met" if not failures else "missed: " + "; ".join(failures))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
