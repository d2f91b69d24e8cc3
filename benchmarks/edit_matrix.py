"""Edit, then distil, scored against exact ground truth (issue 13's acceptance numbers).

On the demo scene (tiny presets, CPU), for each edit and each teacher architecture:

* ``erase``: the striped sphere's ``solids.json`` box; truth ``pvd data demo --without striped_sphere``;
* ``move``: the glossy ball's box translated by ``MOVE``; truth ``--move glossy_ball``;
* ``insert``: the glossy ball of seed 1's scene, whose teacher is a ``vm``, translated by
  ``INSERT``; truth ``--insert 1:glossy_ball``;

``pvd edit`` the teacher, ``pvd distill`` the edited teacher into all four architectures on the
truth scene (so ``psnr_test`` is against the true edited images), and distil the unedited teacher
into the same students on the original scene (the reference pair). Also measured: the mean
accumulated opacity of each model on test pixels that are background in the truth and whose ray
crosses the emptied box (erase: the erased box; move: the source box), and the same for the
edited teacher. Every step runs the real CLI and is skipped when its output exists (the script
resumes). Writes ``OUT.json`` and ``OUT.md``.

    python benchmarks/edit_matrix.py --work /tmp/edit_bench --out benchmarks/results/edit_matrix \\
        --edits erase --teachers tensors,hash
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pvd.data import load_split  # noqa: E402
from pvd.data.cameras import Normalization, image_rays  # noqa: E402
from pvd.model import load_model  # noqa: E402
from pvd.ops.ray_aabb import ray_aabb_torch  # noqa: E402

ARCHS = ("hash", "vm", "mlp", "tensors")
MOVE = (-0.1, -0.1, 0.0)
INSERT = (0.30, 0.14, 0.0)
INSERT_TEACHER = "vm"
NO_OPACITY = {"all": None, "clear": None, "pixels_all": 0, "pixels_clear": 0}


def pvd(*args: str, threads: int, log: Path) -> None:
    """Run ``python -m pvd.cli ARGS`` (logged); stop the benchmark on failure."""
    cmd = [sys.executable, "-m", "pvd.cli", *args, "--threads", str(threads)]
    if args[0] == "data":
        cmd = [sys.executable, "-m", "pvd.cli", "data", "--threads", str(threads), *args[1:]]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    print(
        f"[{time.perf_counter() - t0:6.1f} s] {' '.join(args[:2])} {args[-1] if args[-1] != args[1] else ''}",
        flush=True,
    )
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}; see {log}")


def solid_box(scene: Path, name: str) -> tuple[list[float], list[float]]:
    solids = {s["name"]: s for s in json.loads((scene / "solids.json").read_text())}
    return solids[name]["bbox_min"], solids[name]["bbox_max"]


@torch.no_grad()
def emptied_opacity(ckpt: Path, truth: Path, box: tuple[list[float], list[float]]) -> dict:
    """Mean accumulated opacity over test pixels that are background in ``truth`` and whose ray
    crosses the world ``box``.

    Two pixel sets: ``all`` (every such pixel) and ``clear`` (those whose 3x3 neighbourhood is
    background too). A pixel next to a remaining solid's silhouette is partly covered by it: every
    model, edited or not, blurs a silhouette over about one pixel (measured: the edited tensors
    teacher's opacity is 0.17 on such pixels and 0.006-0.03 elsewhere), so ``clear`` measures what
    the edit left in the emptied space and ``all`` adds the neighbours' silhouettes.
    Returns {"all": mean, "clear": mean, "pixels_all": n, "pixels_clear": n}.
    """
    model = load_model(ckpt)
    split = load_split(truth, "synthetic", "test")
    aabb = torch.tensor(box[0] + box[1], dtype=torch.float32)
    sums = {"all": 0.0, "clear": 0.0}
    counts = {"all": 0, "clear": 0}
    for view in range(len(split)):
        alpha = split.images[view, ..., 3]
        near_fg = torch.nn.functional.max_pool2d((alpha > 0).float()[None, None], 3, 1, 1)[0, 0] > 0
        world = image_rays(split.cameras, view, Normalization())
        _, _, hit = ray_aabb_torch(world.origins, world.directions, aabb)
        masks = {"all": hit & (alpha.reshape(-1) == 0)}
        masks["clear"] = masks["all"] & ~near_fg.reshape(-1)
        if not masks["all"].any():
            continue
        out = model.renderer.render_image(image_rays(split.cameras, view, model.normalization), 1.0)
        for key, mask in masks.items():
            sums[key] += float(out.opacity[mask].sum())
            counts[key] += int(mask.sum())
    result = {k: (sums[k] / counts[k] if counts[k] else float("nan")) for k in sums}
    return {**result, "pixels_all": counts["all"], "pixels_clear": counts["clear"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, required=True, help="folder for scenes, checkpoints, runs")
    p.add_argument("--out", type=Path, required=True, help="results stem (writes OUT.json, OUT.md)")
    p.add_argument("--edits", default="erase,move,insert")
    p.add_argument("--teachers", default="tensors,hash")
    p.add_argument("--students", default=",".join(ARCHS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rewrite", action="store_true", help="only rewrite OUT.md from OUT.json")
    args = p.parse_args()
    if args.rewrite:
        saved = json.loads(args.out.with_suffix(".json").read_text())
        write(args.out, saved["rows"], saved["meta"])
        return 0
    meta = {
        "command": "python benchmarks/edit_matrix.py " + " ".join(sys.argv[1:]),
        "threads": args.threads,
        "preset": "tiny",
        "device": "cpu",
        "move": MOVE,
        "insert": INSERT,
        "insert_teacher": INSERT_TEACHER,
    }
    work, log = args.work, args.work / "commands.log"
    work.mkdir(parents=True, exist_ok=True)
    edits, teachers, students = (args.edits.split(","), args.teachers.split(","), args.students.split(","))

    def run(*a):
        pvd(*a, threads=args.threads, log=log)

    def scene(name: str, *flags: str) -> Path:
        path = work / "scenes" / name
        if not (path / "solids.json").exists():
            run("data", "demo", str(path), *flags)
        return path

    base = scene("base")
    truth = {
        "erase": scene("without", "--without", "striped_sphere"),
        "move": scene("move", "--move", "glossy_ball", *map(str, MOVE)),
        "insert": scene("insert", "--insert", "1:glossy_ball", *map(str, INSERT)),
    }
    truth = {k: v for k, v in truth.items() if k in edits}

    def train(scene_dir: Path, arch: str, name: str) -> Path:
        ckpt = work / "teachers" / name / "checkpoint.pt"
        if not (ckpt.parent / "record.json").exists():
            run(
                "train",
                str(scene_dir),
                "--data_type",
                "synthetic",
                "--model_type",
                arch,
                "--workspace",
                str(ckpt.parent),
                "--no_progress",
            )
        return ckpt

    def distill(teacher_ckpt: Path, teacher_type: str, student: str, scene_dir: Path, ws: Path) -> dict:
        if not (ws / "record.json").exists():
            run(
                "distill",
                str(scene_dir),
                "--data_type",
                "synthetic",
                "--teacher_type",
                teacher_type,
                "--ckpt_teacher",
                str(teacher_ckpt),
                "--model_type",
                student,
                "--workspace",
                str(ws),
                "--no_progress",
            )
        return json.loads((ws / "record.json").read_text())

    teacher_ckpts = {t: train(base, t, t) for t in teachers}
    programs: dict[str, dict] = {}
    if "erase" in edits:
        lo, hi = solid_box(base, "striped_sphere")
        programs["erase"] = {"operations": [{"op": "erase", "min": lo, "max": hi}]}
    if "move" in edits:
        lo, hi = solid_box(base, "glossy_ball")
        programs["move"] = {"operations": [{"op": "move", "min": lo, "max": hi, "translate": list(MOVE)}]}
    if "insert" in edits:
        other = scene("seed1", "--seed", "1")
        other_ckpt = train(other, INSERT_TEACHER, f"seed1_{INSERT_TEACHER}")
        lo, hi = solid_box(other, "glossy_ball")
        programs["insert"] = {
            "operations": [
                {"op": "insert", "checkpoint": str(other_ckpt), "min": lo, "max": hi, "translate": list(INSERT)}
            ]
        }
    rows = []
    for edit, program in programs.items():
        prog_path = work / "programs" / f"{edit}.json"
        prog_path.parent.mkdir(parents=True, exist_ok=True)
        prog_path.write_text(json.dumps(program, indent=2) + "\n")
        emptied = None
        if edit in ("erase", "move"):
            op = program["operations"][0]
            emptied = (op["min"], op["max"])
        for teacher in teachers:
            edited = work / "edited" / f"{edit}_{teacher}" / "checkpoint.pt"
            if not (edited.parent / "record.json").exists():
                run(
                    "edit",
                    "--ckpt",
                    str(teacher_ckpts[teacher]),
                    "--workspace",
                    str(edited.parent),
                    "--program",
                    str(prog_path),
                )
            edit_record = json.loads((edited.parent / "record.json").read_text())
            teacher_opacity = emptied_opacity(edited, truth[edit], emptied) if emptied else NO_OPACITY
            for student in students:
                ref = distill(teacher_ckpts[teacher], teacher, student, base, work / "pairs" / f"{teacher}2{student}")
                ws = work / "edited_pairs" / f"{edit}_{teacher}2{student}"
                rec = distill(edited, "edited", student, truth[edit], ws)
                opacity = emptied_opacity(ws / "checkpoint.pt", truth[edit], emptied) if emptied else NO_OPACITY
                row = {
                    "edit": edit,
                    "teacher": teacher,
                    "student": student,
                    "psnr_edited_vs_truth": rec["metrics"]["psnr_test"],
                    "psnr_unedited_pair": ref["metrics"]["psnr_test"],
                    "edited_teacher_psnr_vs_truth": rec["metrics"]["teacher_psnr_test"],
                    "student_opacity_in_emptied_box": opacity["clear"],
                    "student_opacity_all_pixels": opacity["all"],
                    "emptied_pixels": opacity["pixels_clear"],
                    "emptied_pixels_all": opacity["pixels_all"],
                    "edited_teacher_opacity_in_emptied_box": teacher_opacity["clear"],
                    "edited_teacher_opacity_all_pixels": teacher_opacity["all"],
                    "edit_grid": edit_record["metrics"],
                    "distill_seconds": rec["seconds"],
                }
                row["gap_db"] = row["psnr_unedited_pair"] - row["psnr_edited_vs_truth"]
                row["meets"] = bool(row["gap_db"] <= 1.5 and (opacity["clear"] is None or opacity["clear"] <= 0.02))
                rows.append(row)
                print(
                    json.dumps(
                        {
                            k: row[k]
                            for k in (
                                "edit",
                                "teacher",
                                "student",
                                "psnr_edited_vs_truth",
                                "psnr_unedited_pair",
                                "student_opacity_in_emptied_box",
                            )
                        }
                    ),
                    flush=True,
                )
                write(args.out, rows, meta)
    write(args.out, rows, meta)
    return 0


def write(out: Path, rows: list[dict], meta: dict) -> None:
    """``OUT.json`` (``meta`` and the rows; ``created`` kept when rewriting) and ``OUT.md``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {**meta, "created": meta.get("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))}
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [
        f"# Edit, then distil (tiny presets, CPU, demo scene)\n\n`{meta['command']}`\n",
        "Opacity: mean over test pixels that are background in the truth, are not next to a foreground "
        "pixel and whose ray crosses the emptied box (erase: its box; move: the source box); in brackets "
        "over every background pixel crossing it, and the pixel counts. Bars: gap <= 1.5 dB, opacity "
        "<= 0.02.\n",
        "| edit | teacher | student | PSNR edited vs truth | PSNR unedited pair | gap dB | "
        "edited teacher PSNR | student opacity in emptied box | teacher opacity there | pixels | meets |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def f(v, fmt):
        return "n/a" if v is None or v != v else format(v, fmt)

    for r in rows:
        lines.append(
            f"| {r['edit']} | {r['teacher']} | {r['student']} | {r['psnr_edited_vs_truth']:.2f} | "
            f"{r['psnr_unedited_pair']:.2f} | {r['gap_db']:+.2f} | {r['edited_teacher_psnr_vs_truth']:.2f} | "
            f"{f(r['student_opacity_in_emptied_box'], '.4f')} ({f(r.get('student_opacity_all_pixels'), '.4f')}) | "
            f"{f(r['edited_teacher_opacity_in_emptied_box'], '.4f')} "
            f"({f(r.get('edited_teacher_opacity_all_pixels'), '.4f')}) | "
            f"{r['emptied_pixels']} ({r.get('emptied_pixels_all', 0)}) | {'yes' if r['meets'] else 'no'} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
