"""Dry runs and lint of the shipped configs: the full grid is planned without touching anything."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml
from workflow_cases import COPIED, copy_checkout, planned_jobs, snakemake, write_config


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    return copy_checkout(tmp_path_factory.mktemp("plan") / "wf")


def test_full_benchmark_plan(checkout):
    jobs = planned_jobs(checkout)
    counts = Counter(j.rule for j in jobs)
    assert counts["train_teacher"] == 84
    assert counts["distill_student"] == 336
    assert counts["evaluate_model"] == 420
    assert counts["download_dataset"] == 3
    assert counts["build_ext"] == 1 and counts["fetch_lpips_weights"] == 1
    assert counts["collect_results"] == 1 and counts["compare_reference"] == 1
    assert counts["make_tables"] == 3 and counts["make_figures"] == 3
    assert counts["collect_curves"] == 1 and counts["make_time_to_quality"] == 1
    assert counts["make_qualitative"] == 21 and "distill_variant" not in counts and "make_ablation_table" not in counts
    assert not {"edit_teacher", "distill_edited", "evaluate_edit", "make_edits_table"} & set(counts)   # no edits
    pairs = {(j.get("teacher"), j.get("student")) for j in jobs if j.rule == "distill_student"}
    assert len(pairs) == 16
    scenes = {(j.get("dataset"), j.get("scene")) for j in jobs if j.rule == "train_teacher"}
    assert len(scenes) == 21 and ("tank", "Ignatius") in scenes
    # a dry run downloads, builds and writes nothing but Snakemake's own bookkeeping
    assert {p.name for p in checkout.iterdir()} <= {".snakemake", "captures", *COPIED}


def test_selection_narrows_the_grid(checkout):
    jobs = planned_jobs(checkout, "--config", "select={datasets: [synthetic], scenes: [lego]}",
                        "architectures=[hash,vm]")
    counts = Counter(j.rule for j in jobs)
    assert counts["train_teacher"] == 2 and counts["distill_student"] == 4 and counts["evaluate_model"] == 6
    assert counts["download_dataset"] == 1


def test_demo_plan(checkout):
    jobs = planned_jobs(checkout, "--configfile", "config/demo.yaml")
    counts = Counter(j.rule for j in jobs)
    assert counts["make_demo_scene"] == 1 and "download_dataset" not in counts
    # the 5x5 grid: the four NeRF architectures and Gaussian splats, every pair
    assert counts["train_teacher"] == 5 and counts["distill_student"] == 25
    arches = ("hash", "vm", "mlp", "tensors", "gs")
    pairs = {(j.get("teacher"), j.get("student")) for j in jobs if j.rule == "distill_student"}
    assert pairs == {(t, s) for t in arches for s in arches}
    # the small ablation: hash2mlp and tensors2hash x 3 variants, each distilled and evaluated
    variants = {(j.get("teacher"), j.get("student"), j.get("variant")) for j in jobs if j.rule == "distill_variant"}
    assert variants == {(t, s, v) for t, s in (("hash", "mlp"), ("tensors", "hash"))
                        for v in ("stages_off", "loss_l1", "init_scratch")}
    assert counts["evaluate_model"] == 30 + 6 and counts["make_ablation_table"] == 1
    assert counts["make_qualitative"] == 1 and counts["make_time_to_quality"] == 1
    # two edits of the tensors teacher, each with its ground truth, into all four students: per edit one
    # truth scene, one `pvd edit`, 4 distillations, 6 evaluations (unedited, edited, 4 students), a figure
    assert counts["make_edit_truth"] == 2 and counts["edit_teacher"] == 2 and counts["distill_edited"] == 8
    assert counts["evaluate_edit"] == 12 and counts["make_edit_figure"] == 2 and counts["make_edits_table"] == 1
    edited = {(j.get("edit"), j.get("teacher"), j.get("student")) for j in jobs if j.rule == "distill_edited"}
    assert edited == {(e, "tensors", s) for e in ("erase_sphere", "move_ball") for s in ("hash", "vm", "mlp", "tensors")}
    assert counts["make_runs_table"] == 1 and len(jobs) == 111


def test_demo_plan_without_edits_is_the_grid_and_ablation_alone(checkout):
    import yaml

    config = yaml.safe_load((checkout / "config" / "demo.yaml").read_text())
    del config["edits"]
    (checkout / "config" / "no_edits.yaml").write_text(yaml.safe_dump(config))
    try:
        jobs = planned_jobs(checkout, "--configfile", "config/no_edits.yaml")
    finally:
        (checkout / "config" / "no_edits.yaml").unlink()
    counts = Counter(j.rule for j in jobs)
    assert not {"make_edit_truth", "edit_teacher", "distill_edited", "evaluate_edit", "make_edits_table",
                "make_edit_figure"} & set(counts)
    assert counts["distill_student"] == 25 and counts["evaluate_model"] == 36 and len(jobs) == 111 - 27


def _plan_counts(checkout, name: str, tmp_path: Path | None = None) -> Counter:
    """The planned jobs per rule of ``config/<name>.yaml``; with ``tmp_path``, local datasets read empty
    scene folders there (the shared data is not beside the test's copy)."""
    import yaml

    config = yaml.safe_load((checkout / "config" / f"{name}.yaml").read_text())
    if tmp_path is not None:
        for key, ds in config["datasets"].items():
            if ds["source"] == "local":
                ds["root"] = str(tmp_path / key)
                for scene in ds["scenes"]:
                    (tmp_path / key / scene).mkdir(parents=True, exist_ok=True)
    (checkout / "config" / "_planned.yaml").write_text(yaml.safe_dump(config))
    try:
        return Counter(j.rule for j in planned_jobs(checkout, "--configfile", "config/_planned.yaml"))
    finally:
        (checkout / "config" / "_planned.yaml").unlink()


def test_the_benchmark_configs_plan_the_benchmarks_grids(checkout, tmp_path):
    """Each former benchmark script is a config (benchmarks/README.md): its grid and its report tables."""
    distill = _plan_counts(checkout, "bench-distill-demo")
    assert distill["train_teacher"] == 4 and distill["distill_student"] == 16 and distill["distill_variant"] == 14
    assert distill["make_runs_table"] == 1 and distill["make_ablation_table"] == 1 and "make_qualitative" not in distill
    edits = _plan_counts(checkout, "bench-edits-demo")
    assert edits["train_teacher"] == 5 and edits["distill_student"] == 8   # + demo1's vm, the inserted ball
    assert edits["make_edit_truth"] == 3 and edits["edit_teacher"] == 6 and edits["distill_edited"] == 24
    assert edits["evaluate_edit"] == 36 and edits["make_edits_table"] == 1
    efficiency = _plan_counts(checkout, "bench-efficiency-lego", tmp_path)
    assert efficiency["train_teacher"] == 2 and efficiency["distill_student"] == 1
    assert efficiency["make_time_to_quality"] == 1 and efficiency["make_runs_table"] == 1
    real = _plan_counts(checkout, "real-cpu", tmp_path)
    assert real["train_teacher"] == 12 and real["distill_student"] == 48 and real["make_runs_table"] == 1


def commented_edits(path) -> dict:
    """The commented-out `edits:` example of a config file, uncommented."""
    lines = path.read_text().splitlines()
    start = lines.index("# edits:")
    block = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        block.append(line[2:])
    import yaml

    return yaml.safe_load("\n".join(block))


def test_the_paper_configs_lego_bucket_example_plans_and_follows_the_selection(checkout):
    """config/config.yaml's commented lego bucket erase, uncommented: planned for lego only; without a ground
    truth, the unedited teacher and the students are scored against the edited teacher's renders."""
    import yaml

    config = yaml.safe_load((checkout / "config" / "config.yaml").read_text())
    config.update(commented_edits(checkout / "config" / "config.yaml"))
    assert config["edits"]["lego_bucket"]["operations"] == [
        {"op": "erase", "min": [-1.25, -1.25, 0.319], "max": [1.25, -0.005, 1.25]}]
    (checkout / "config" / "bucket.yaml").write_text(yaml.safe_dump(config))
    try:
        chair = Counter(j.rule for j in planned_jobs(checkout, "--configfile", "config/bucket.yaml", "--config",
                                                     "select={datasets: [synthetic], scenes: [chair]}"))
        lego = planned_jobs(checkout, "--configfile", "config/bucket.yaml", "--config",
                            "select={datasets: [synthetic], scenes: [lego]}")
    finally:
        (checkout / "config" / "bucket.yaml").unlink()
    assert "edit_teacher" not in chair and "make_edits_table" not in chair
    counts = Counter(j.rule for j in lego)
    assert counts["edit_teacher"] == 1 and counts["distill_edited"] == 4 and counts["evaluate_edit"] == 5
    assert "make_edit_truth" not in counts and counts["make_edit_figure"] == 1 and counts["make_edits_table"] == 1


def test_insert_from_another_scenes_teacher_plans_that_teacher_and_a_relative_path(checkout):
    """`checkpoint: {scene, arch}` names a teacher of the workflow: it is trained first, and the program
    that `pvd edit` reads names it relative to the program's folder (resolved there by pvd)."""
    import json
    import shlex

    import yaml

    config = yaml.safe_load((checkout / "config" / "demo.yaml").read_text())
    config["datasets"]["synthetic"]["scenes"]["demo1"] = {"demo": {"seed": 1}}
    config["select"] = {"scenes": ["demo"]}
    box = {"min": [0.158519, -0.641926, 0.0], "max": [0.438519, -0.361926, 0.28]}   # seed 1's glossy_ball
    config["edits"] = {"insert_ball": {
        "scene": "demo", "teachers": ["vm"], "students": ["mlp"],
        "operations": [{"op": "insert", "checkpoint": {"scene": "demo1", "arch": "hash"}, **box,
                        "translate": [0.2, 1.05, 0.0]}],
        "truth": {"insert": [{"seed": 1, "solid": "glossy_ball", "translate": [0.2, 1.05, 0.0]}]}}}
    (checkout / "config" / "insert.yaml").write_text(yaml.safe_dump(config))
    try:
        proc = snakemake(checkout, "-n", "-p", "--configfile", "config/insert.yaml")
        jobs = planned_jobs(checkout, "--configfile", "config/insert.yaml")
    finally:
        (checkout / "config" / "insert.yaml").unlink()
    out = proc.stdout + proc.stderr
    assert ("train_teacher", "demo1", "hash") in {(j.rule, j.get("scene"), j.get("arch")) for j in jobs}
    assert "pvd data demo results/demo/edits/insert_ball/truth --seed 0 --insert 1:glossy_ball 0.2 1.05 0.0" in out
    line = next(x for x in out.splitlines() if "printf" in x and "insert_ball" in x)
    program = json.loads(shlex.split(line.split("printf", 1)[1])[1])
    assert program["operations"][0]["checkpoint"] == "../../../../synthetic/demo1/teacher/hash/checkpoint.pt"
    assert program["operations"][0]["translate"] == [0.2, 1.05, 0.0]


def test_the_repository_tracks_no_workflow_outputs():
    """``results/`` and ``reports/`` are what the workflow writes: a tracked file there is an
    existing output in every fresh clone, and Snakemake then skips the jobs upstream of it (with a
    tracked ``reports/demo``, the README's demo command only redrew the figures)."""
    repo = Path(__file__).resolve().parents[2]
    if not (repo / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "-C", str(repo), "ls-files", "--", "results", "reports"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert listed == [], f"tracked workflow outputs: {listed[:5]}"



def test_exports_plan(checkout):
    """Config `exports`: one `pvd export` job per listed model and format in every cell; a model that is
    not in the grid is named."""
    config = yaml.safe_load((checkout / "config" / "demo.yaml").read_text())
    config["exports"] = {"models": ["hash", "hash2vm"], "formats": ["mesh", "points"], "resolution": 64}
    write_config(checkout / "exports.yaml", config)
    proc = snakemake(checkout, "-n", "-p", "--configfile", "exports.yaml")
    jobs = planned_jobs(checkout, "--configfile", "exports.yaml")
    exports = {(j.get("model"), j.get("format")) for j in jobs if j.rule == "export_model"}
    assert exports == {(m, f) for m in ("hash", "hash2vm") for f in ("mesh", "points")}
    commands = [line.split("Shell command: ")[-1] for line in proc.stdout.splitlines() if "pvd export " in line]
    mesh = next(c for c in commands if "export/hash2vm/mesh.ply" in c)
    assert "--format mesh --resolution 64" in mesh and "distill/hash2vm/checkpoint.pt" in mesh
    assert all("--resolution" not in c for c in commands if "--format points" in c)
    config["exports"]["models"] = ["hash2mlp"]
    config["pairs"] = ["hash2vm"]
    write_config(checkout / "bad_exports.yaml", config)
    bad = snakemake(checkout, "-n", "--configfile", "bad_exports.yaml", check=False)
    assert bad.returncode != 0 and "config exports: model 'hash2mlp' is not in the grid" in bad.stdout + bad.stderr
