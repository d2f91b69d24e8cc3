"""Dry runs and lint of the shipped configs: the full grid is planned without touching anything."""

from __future__ import annotations

from collections import Counter

import pytest
from workflow_cases import COPIED, copy_checkout, planned_jobs, snakemake


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
    assert counts["train_teacher"] == 4 and counts["distill_student"] == 16
    # the small ablation: hash2mlp and tensors2hash x 3 variants, each distilled and evaluated
    variants = {(j.get("teacher"), j.get("student"), j.get("variant")) for j in jobs if j.rule == "distill_variant"}
    assert variants == {(t, s, v) for t, s in (("hash", "mlp"), ("tensors", "hash"))
                        for v in ("stages_off", "loss_l1", "init_scratch")}
    assert counts["evaluate_model"] == 20 + 6 and counts["make_ablation_table"] == 1
    assert counts["make_qualitative"] == 1 and counts["make_time_to_quality"] == 1
    # two edits of the tensors teacher, each with its ground truth, into all four students: per edit one
    # truth scene, one `pvd edit`, 4 distillations, 6 evaluations (unedited, edited, 4 students), a figure
    assert counts["make_edit_truth"] == 2 and counts["edit_teacher"] == 2 and counts["distill_edited"] == 8
    assert counts["evaluate_edit"] == 12 and counts["make_edit_figure"] == 2 and counts["make_edits_table"] == 1
    edited = {(j.get("edit"), j.get("teacher"), j.get("student")) for j in jobs if j.rule == "distill_edited"}
    assert edited == {(e, "tensors", s) for e in ("erase_sphere", "move_ball") for s in ("hash", "vm", "mlp", "tensors")}
    assert len(jobs) == 90


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
    assert counts["distill_student"] == 16 and counts["evaluate_model"] == 26 and len(jobs) == 90 - 27


def test_edits_outside_the_selection_are_not_planned(checkout):
    """An edit of a scene the selection leaves out plans nothing (the main grid's selection narrows the edits)."""
    import yaml

    config = yaml.safe_load((checkout / "config" / "config.yaml").read_text())
    config["edits"] = {"bucket": {"scene": "lego", "teachers": ["tensors"], "students": ["hash", "mlp"],
                                  "operations": [{"op": "erase", "min": [-1.25, -1.25, 0.319],
                                                  "max": [1.25, -0.005, 1.25]}]}}
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
    # no ground truth: the unedited teacher and the students are scored against the edited teacher's renders
    assert counts["edit_teacher"] == 1 and counts["distill_edited"] == 2 and counts["evaluate_edit"] == 3
    assert "make_edit_truth" not in counts and counts["make_edit_figure"] == 1


@pytest.mark.parametrize("configfile", [None, "config/demo.yaml"])
def test_lint_is_clean(checkout, configfile):
    args = ["--lint"] + (["--configfile", configfile] if configfile else [])
    proc = snakemake(checkout, *args)
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


def test_snakefile_at_the_root_applies_the_default_profile(checkout):
    """`snakemake` from the root finds ./Snakefile and its profiles/default (rerun triggers, gpu=1)."""
    proc = snakemake(checkout, "-n", "--configfile", "config/demo.yaml")
    out = proc.stdout + proc.stderr
    assert "Using workflow specific profile profiles/default" in out
    assert not (checkout / "workflow" / "Snakefile").exists()


def test_capture_config_plans_the_grid_on_a_folder_of_captures(checkout):
    """config/capture.yaml: one's own captures (here the demo scene as a capture) through the whole grid."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "pvd.cli", "data", "demo-capture", str(checkout / "captures" / "my_object"),
                    "--size", "16"], check=True, capture_output=True, timeout=300)
    jobs = planned_jobs(checkout, "--configfile", "config/capture.yaml")
    counts = Counter(j.rule for j in jobs)
    assert counts["train_teacher"] == 4 and counts["distill_student"] == 16 and counts["evaluate_model"] == 20
    assert {j.get("dataset") for j in jobs if j.rule == "train_teacher"} == {"capture"}
    assert "download_dataset" not in counts and "make_demo_scene" not in counts


def test_imported_teachers_replace_training_for_their_dataset(checkout, tmp_path):
    """teacher_source: import plans `pvd import` of the release's latest checkpoint per (scene, arch)."""
    import yaml

    config = yaml.safe_load((checkout / "config" / "config.yaml").read_text())
    root = tmp_path / "release"
    for arch in ("hash", "vm"):
        for epoch in (100, 300):
            path = root / "lego" / "checkpoints" / f"{arch}_ep{epoch:04d}.pth"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"reference checkpoint")
    config["datasets"]["synthetic"].update(teacher_source="import", teachers_root=str(root))
    (checkout / "config" / "imported.yaml").write_text(yaml.safe_dump(config))
    try:
        proc = snakemake(checkout, "-n", "-p", "--configfile", "config/imported.yaml", "--config",
                         "select={datasets: [synthetic, llff], scenes: [lego, fern]}", "architectures=[hash,vm]")
    finally:
        (checkout / "config" / "imported.yaml").unlink()
    out = proc.stdout + proc.stderr
    assert out.count("rule import_teacher:") == 2 and out.count("rule train_teacher:") == 2   # lego imported, fern trained
    assert f"pvd import {root}/lego/checkpoints/hash_ep0300.pth" in out
    assert "--data_type synthetic --model_type hash --bound 1.0" in out and "--scale 0.8" in out
