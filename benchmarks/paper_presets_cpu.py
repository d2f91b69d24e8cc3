"""The `paper` presets against the `tiny` presets at CPU scale, on real scenes (issue 28, part 1).

A thin loop over the `pvd` command line: each architecture (hash, vm, mlp, tensors) trained as a
teacher with each preset at the same image size, rays per step and step count, then hash -> mlp,
hash -> vm and hash -> tensors distilled from the hash teacher of the same preset. Every run writes
its normal workspace and `record.json` (with its learning curve); the record is copied into
``RESULTS/records/`` as soon as the run ends, and a run whose record is there is skipped, so the
script resumes where it stopped (an unfinished workspace is started over). The tables and the
figure are built from those records only:

    nice -n 19 python benchmarks/paper_presets_cpu.py    # progress lines also go to RESULTS/log.txt
    python benchmarks/paper_presets_cpu.py --report_only     # summary.md and curves.png again

The scenes are read in place from the shared data folder. The lego test split is thinned to every
``--test_every``-th view through a folder of links under ``--work`` (200 views of 200x200 at the
paper renderer's step cost the CPU more than a run's training); fern's LLFF folder is read as is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
STUDENTS = ("vm", "tensors", "mlp")  # the run order: the costly paper mlp last
PRESETS = ("paper", "tiny")


@dataclass(frozen=True)
class Scene:
    """A scene of the benchmark: where it is, its format and its downscale factor."""

    name: str
    source: Path
    data_type: str
    downscale: int


SCENES = {
    "lego": Scene("lego", DATA / "nerf_synthetic" / "lego", "synthetic", 4),  # 200 x 200
    "fern": Scene("fern", DATA / "nerf_llff_data" / "fern", "llff", 2),  # images_8: 504 x 378
}


@dataclass(frozen=True)
class Run:
    """One `pvd` run of the grid: a teacher (``teacher is None``) or a student of a hash teacher."""

    scene: str
    preset: str
    arch: str
    teacher: str | None = None

    @property
    def name(self) -> str:
        pair = f"{self.teacher}2{self.arch}" if self.teacher else self.arch
        return f"{self.scene}_{self.preset}_{pair}"


def thinned_scene(scene: Scene, work: Path, every: int) -> Path:
    """The scene folder to read: a synthetic scene's test split thinned to every ``every``-th view
    through links to the shared files (nothing copied); other scenes as they are."""
    if scene.data_type != "synthetic" or every <= 1:
        return scene.source
    out = work / "scenes" / f"{scene.name}_test_every{every}"
    if (out / "transforms_test.json").exists():
        return out
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for entry in scene.source.iterdir():
        if entry.name != "transforms_test.json":
            (tmp / entry.name).symlink_to(entry.resolve())
    meta = json.loads((scene.source / "transforms_test.json").read_text())
    meta["frames"] = meta["frames"][::every]
    (tmp / "transforms_test.json").write_text(json.dumps(meta, indent=1))
    tmp.rename(out)
    return out


def grid(scenes: list[str]) -> list[Run]:
    """Scene by scene: the hash teachers, then per architecture its teachers and its student of the
    hash teacher (vm, tensors, then mlp, whose paper runs cost the most), each preset."""
    runs: list[Run] = []
    for s in scenes:
        runs += [Run(s, p, "hash") for p in PRESETS]
        for a in STUDENTS:
            runs += [Run(s, p, a) for p in PRESETS] + [Run(s, p, a, "hash") for p in PRESETS]
    return runs


def command(run: Run, args, scene_dir: Path) -> list[str]:
    """The `pvd` command line of ``run``."""
    scene = SCENES[run.scene]
    ws = args.work / "runs" / run.name
    common = [
        str(scene_dir),
        "--workspace",
        str(ws),
        "--overwrite",
        "--device",
        "cpu",
        "--no_progress",
        "--preset",
        run.preset,
        "--model_type",
        run.arch,
        "--threads",
        str(args.threads),
        "--batch_rays",
        str(args.batch_rays),
        "--curve_points",
        str(args.curve_points),
    ]
    if run.teacher is None:
        iters = args.teacher_iters
        return ["pvd", "train", *common, "--data_type", scene.data_type, "--downscale", str(scene.downscale),
                "--iters", str(iters), "--ckpt_every", "0"]  # fmt: skip
    teacher = args.work / "runs" / Run(run.scene, run.preset, run.teacher).name / "checkpoint.pt"
    return ["pvd", "distill", *common, "--ckpt_teacher", str(teacher), "--iters", str(args.distill_iters),
            "--ckpt_every", "0"]  # fmt: skip


def record_path(run: Run, results: Path) -> Path:
    return results / "records" / f"{run.name}.json"


def execute(run: Run, args, scene_dir: Path, log) -> bool:
    """Run ``run`` (unless its record is kept); True when its record is there afterwards."""
    kept = record_path(run, args.results)
    if kept.exists():
        log(f"skip {run.name}: {kept.relative_to(REPO)} exists")
        return True
    if run.teacher is not None and not record_path(Run(run.scene, run.preset, run.teacher), args.results).exists():
        log(f"skip {run.name}: its teacher has no record")
        return False
    cmd = command(run, args, scene_dir)
    log(f"start {run.name}: {' '.join(cmd)}")
    t0, c0 = time.perf_counter(), os.times()
    with open(args.results / "log.txt", "a") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    c1 = os.times()
    wall = time.perf_counter() - t0
    cpu = (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system)
    ws_record = args.work / "runs" / run.name / "record.json"
    if proc.returncode != 0 or not ws_record.exists():
        log(f"FAILED {run.name} (exit {proc.returncode}) after {wall:.0f} s")
        return False
    record = json.loads(ws_record.read_text())
    record["benchmark"] = {"process_wall_seconds": round(wall, 1), "process_cpu_seconds": round(cpu, 1)}
    kept.parent.mkdir(parents=True, exist_ok=True)
    tmp = kept.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(kept)
    psnr = record["metrics"].get("psnr_test", float("nan"))
    log(f"done {run.name}: {psnr:.2f} dB, process {wall:.0f} s wall / {cpu:.0f} s cpu")
    return True


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", default="lego,fern", help="comma-separated: lego, fern")
    p.add_argument("--teacher_iters", type=int, default=600)
    p.add_argument("--distill_iters", type=int, default=300)
    p.add_argument("--batch_rays", type=int, default=1024, help="rays per step of every run (both presets)")
    p.add_argument("--curve_points", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--test_every", type=int, default=20, help="keep every k-th lego test view (200 / k views)")
    p.add_argument("--only", default="", help="comma-separated substrings: run only the runs whose name has one")
    p.add_argument("--work", type=Path, default=Path("/tmp/pvd-paper-presets-cpu"), help="workspaces and link trees")
    p.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "paper_presets_cpu")
    p.add_argument("--report_only", action="store_true", help="only rebuild summary.md and curves.png")
    args = p.parse_args()
    args.results.mkdir(parents=True, exist_ok=True)

    def log(message: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        print(line, flush=True)
        with open(args.results / "log.txt", "a") as out:
            out.write(line + "\n")

    if not args.report_only:
        scenes = [s for s in args.scenes.split(",") if s]
        for s in scenes:
            if s not in SCENES:
                raise SystemExit(f"--scenes: {s!r} is not one of {sorted(SCENES)}")
        only = [o for o in args.only.split(",") if o]
        for run in grid(scenes):
            if only and not any(o in run.name for o in only):
                continue
            execute(run, args, thinned_scene(SCENES[run.scene], args.work, args.test_every), log)
            write_report(args.results)
    write_report(args.results)
    return 0


def load_records(results: Path) -> dict[str, dict]:
    """The kept records by run name; ``records/before/`` holds rows replaced after a fix (their name
    gets ``@before``)."""
    out = {f.stem: json.loads(f.read_text()) for f in sorted((results / "records").glob("*.json"))}
    out.update(
        {f"{f.stem}@before": json.loads(f.read_text()) for f in sorted((results / "records" / "before").glob("*.json"))}
    )
    return out


def psnr_at(record: dict, step: int) -> float | None:
    """The probe PSNR of ``record``'s curve at ``step`` (None when not probed there)."""
    for point in record.get("curve", []):
        if point["step"] == step:
            return point.get("psnr")
    return None


def fmt(value, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def table(rows: list[tuple[str, dict]]) -> list[str]:
    """One Markdown table of runs (label, record): steps, seconds, final test PSNR, probe PSNR at
    the steps every run of the table probed."""
    common = sorted(set.intersection(*[{p["step"] for p in r.get("curve", [])} for _, r in rows]))
    if len(common) > 7:  # first, last and five between
        common = [common[round(i * (len(common) - 1) / 6)] for i in range(7)]
    head = ["run", "preset", "steps", "processor s", "wall s", "process cpu / wall s", "test PSNR"]
    head += [f"probe @{s}" for s in common]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, r in rows:
        bench = r.get("benchmark", {})
        cells = [
            label,
            r["config"]["preset"],
            str(r.get("iterations", "-")),
            fmt(r.get("cpu_seconds"), ".0f"),
            fmt(r.get("seconds"), ".0f"),
            f"{fmt(bench.get('process_cpu_seconds'), '.0f')} / {fmt(bench.get('process_wall_seconds'), '.0f')}",
            fmt(r["metrics"].get("psnr_test")),
        ]
        cells += [fmt(psnr_at(r, s)) for s in common]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def groups(records: dict[str, dict]) -> dict[tuple[str, str], list[tuple[str, dict]]]:
    """Runs grouped by (scene, teacher architecture or pair), presets side by side."""
    out: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    for name, r in records.items():
        scene, preset, pair = name.removesuffix("@before").split("_", 2)
        label = f"{pair} (before the fix)" if name.endswith("@before") else pair
        out.setdefault((scene, pair), []).append((label, r))
    for rows in out.values():
        rows.sort(key=lambda item: (PRESETS.index(item[1]["config"]["preset"]), item[0]))
    return out


def write_report(results: Path) -> None:
    """``summary.md`` and ``curves.png`` from ``results/records/*.json`` (written atomically)."""
    records = load_records(results)
    if not records:
        return
    grouped = groups(records)
    lines = [
        "# paper vs tiny presets at CPU scale (generated by benchmarks/paper_presets_cpu.py from records/)",
        "",
        "processor s / wall s: the run's training steps (probes and the final test excluded, from its record);",
        "process cpu / wall s: the whole `pvd` process (loading, probes, final test included).",
        "test PSNR: the run's end-of-run score on its test views; probe @N: the learning-curve probe",
        "(a few test views, downsampled) after N steps.",
    ]
    for (scene, pair), rows in grouped.items():
        lines += ["", f"## {scene}: {pair}", "", *table(rows)]
    tmp = results / "summary.md.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(results / "summary.md")
    plot(grouped, results / "curves.png")


def plot(grouped, path: Path) -> None:
    """Probe PSNR vs step and vs training processor seconds, one column pair per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(grouped)
    fig, axes = plt.subplots(len(keys), 2, figsize=(10, 2.6 * len(keys)), squeeze=False)
    for (scene, pair), (ax_step, ax_time) in zip(keys, axes):
        for label, r in grouped[(scene, pair)]:
            curve = r.get("curve", [])
            preset = r["config"]["preset"] + (" (before the fix)" if "before" in label else "")
            style = "-" if preset == "paper" else (":" if preset.startswith("paper") else "--")
            steps = [p["step"] for p in curve]
            psnr = [p["psnr"] for p in curve]
            ax_step.plot(steps, psnr, style, marker=".", label=preset)
            ax_time.plot([p["cpu_seconds"] for p in curve], psnr, style, marker=".", label=preset)
        ax_step.set_title(f"{scene} {pair}: probe PSNR vs step", fontsize=9)
        ax_time.set_title(f"{scene} {pair}: vs training processor s", fontsize=9)
        ax_step.set_ylabel("dB")
        ax_step.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(path)


if __name__ == "__main__":
    sys.exit(main())
