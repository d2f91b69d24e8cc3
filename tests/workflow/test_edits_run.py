"""A real run of the workflow's edits on a scaled-down grid, then which edit cells a change reruns.

Grid: the mini grid of workflow_cases (demo scene as ``synthetic``, teachers hash and vm, the pair
hash2vm, a dozen steps on 20-pixel images) plus two edits of the hash teacher: ``erase`` (the
striped sphere's box, with its exact ground truth from ``pvd data demo --without``) into vm, and
``move`` (the glossy ball's box, no ground truth: scored against the edited teacher's renders)
into hash. After the run, each case edits a file of the copied checkout (or the config) and reads
``snakemake -n``'s job list.
"""

from __future__ import annotations

import csv
import json

import pytest
import yaml
from workflow_cases import (
    copy_checkout,
    mini_config,
    planned_jobs,
    snakemake,
    touched,
    write_config,
)

pytestmark = pytest.mark.slow

ERASE = {"op": "erase", "min": [-0.788347, -0.628673, 0.0], "max": [-0.068347, 0.091327, 0.72]}
MOVE = {"op": "move", "min": [0.177062, -0.675281, 0.0], "max": [0.457062, -0.395281, 0.28],
        "translate": [-0.1, -0.1, 0.0]}
EDIT_RULES = {"make_edit_truth", "edit_teacher", "distill_edited", "evaluate_edit", "make_edits_table",
              "make_edit_figure"}


def edits_config() -> dict:
    config = mini_config("mini")
    config["edits"] = {
        "erase": {"scene": "demo", "teachers": ["hash"], "students": ["vm"], "operations": [ERASE],
                  "truth": {"without": ["striped_sphere"]}},
        "move": {"scene": "demo", "teachers": ["hash"], "students": ["hash"], "operations": [MOVE]},
    }
    return config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = copy_checkout(tmp_path_factory.mktemp("edits_run") / "wf")
    write_config(work / "config" / "mini.yaml", edits_config())
    snakemake(work, "--cores", "2", "--configfile", "config/mini.yaml")
    return work


def keys(work, config="config/mini.yaml") -> set[tuple]:
    """(rule, edit, teacher, student or evaluated) of every planned job of an edit rule, and
    (rule,) of every other job."""
    out = set()
    for job in planned_jobs(work, "--configfile", config):
        if job.rule in EDIT_RULES:
            out.add((job.rule, job.get("edit"), job.get("teacher"), job.get("student") or job.get("evaluated")))
        else:
            out.add((job.rule,))
    return out


def test_outputs_table_and_figures(run):
    results, reports = run / "results" / "mini", run / "reports" / "mini"
    erase, move = results / "edits" / "erase" / "hash", results / "edits" / "move" / "hash"
    for part in ("edited/checkpoint.pt", "edited/record.json", "edited/program.json", "distill/vm/record.json",
                 "eval/original/metrics.json", "eval/edited/metrics.json", "eval/vm/metrics.json"):
        assert (erase / part).is_file(), part
    assert not (move / "eval" / "edited").exists()                     # no truth: it is the reference itself
    assert (results / "edits" / "erase" / "truth" / "solids.json").is_file()
    names = {s["name"] for s in json.loads((results / "edits" / "erase" / "truth" / "solids.json").read_text())}
    assert "striped_sphere" not in names and "glossy_ball" in names
    record = json.loads((erase / "edited" / "record.json").read_text())
    assert record["program"]["operations"][0]["min"] == ERASE["min"] and record["base_type"] == "hash"
    distilled = json.loads((erase / "distill" / "vm" / "record.json").read_text())
    assert distilled["teacher_type"] == "edited" and distilled["config"]["scene_dir"].endswith("edits/erase/truth")
    moved = json.loads((move / "eval" / "hash" / "metrics.json").read_text())
    assert moved["reference"]["checkpoint"] == "results/mini/edits/move/hash/edited/checkpoint.pt"
    assert "reference" not in json.loads((erase / "eval" / "vm" / "metrics.json").read_text())

    for ext in ("md", "tex", "html"):
        assert (reports / "tables" / f"edits.{ext}").is_file()
    for edit in ("erase", "move"):
        assert (reports / "figures" / f"edit_{edit}.png").is_file() and (reports / "figures" / f"edit_{edit}.pdf").is_file()
    with open(reports / "results.csv") as fh:
        unedited = {r["model"]: float(r["psnr"]) for r in csv.DictReader(fh)}["hash2vm"]
    score = {p.parent.name: json.loads(p.read_text())["psnr"] for p in erase.glob("eval/*/metrics.json")}
    rows = [line for line in (reports / "tables" / "edits.md").read_text().splitlines()
            if line.startswith(("| erase", "| move"))]
    assert rows[0] == (f"| erase | Synthetic-NeRF / demo | hash | vm | truth | {score['vm']:.2f} | {unedited:.2f} | "
                       f"{unedited - score['vm']:+.2f} | {score['edited']:.2f} | {score['original']:.2f} |")
    assert rows[1].startswith(f"| move | Synthetic-NeRF / demo | hash | hash | edited teacher | {moved['psnr']:.2f} | - | - "
                              "| reference |")


def test_nothing_changed_nothing_to_do(run):
    assert keys(run) == set()


# the edit cells downstream of `pvd edit` (erase's unedited teacher is scored against the truth, not
# against the edited teacher, so it stays; move's is scored against the edited teacher's renders)
EDITED = {("edit_teacher", "erase", "hash", None), ("edit_teacher", "move", "hash", None),
          ("distill_edited", "erase", "hash", "vm"), ("distill_edited", "move", "hash", "hash"),
          ("evaluate_edit", "erase", "hash", "edited"), ("evaluate_edit", "erase", "hash", "vm"),
          ("evaluate_edit", "move", "hash", "original"), ("evaluate_edit", "move", "hash", "hash"),
          ("make_edits_table", None, None, None), ("make_edit_figure", "erase", None, None),
          ("make_edit_figure", "move", None, None)}


def _edit_and_plan(work, rel):
    return touched(work, rel, keys)


@pytest.mark.parametrize("rel", ["pvd/edit/program.py", "pvd/edit/apply.py", "pvd/fields/edited.py",
                                 "pvd/runs/edit.py"])
def test_edit_code_reruns_only_the_edit_cells(run, rel):
    assert _edit_and_plan(run, rel) == EDITED


def test_a_student_field_reruns_its_edit_cells_beside_the_grid(run):
    planned = _edit_and_plan(run, "pvd/fields/vm.py")
    assert {k for k in planned if k[0] in EDIT_RULES} == {
        ("distill_edited", "erase", "hash", "vm"), ("evaluate_edit", "erase", "hash", "vm"),
        ("make_edits_table", None, None, None), ("make_edit_figure", "erase", None, None)}
    assert ("train_teacher",) in planned                    # the vm teacher of the main grid


def test_adding_an_edit_runs_only_its_cells(run):
    config = edits_config()
    config["edits"]["keep"] = {"scene": "demo", "teachers": ["vm"], "students": ["hash"],
                               "operations": [{"op": "keep", "min": [-1.0, -1.0, -0.2], "max": [1.0, 1.0, 1.0]}]}
    write_config(run / "config" / "more.yaml", config)
    try:
        planned = keys(run, "config/more.yaml")
    finally:
        (run / "config" / "more.yaml").unlink()
    assert planned == {("edit_teacher", "keep", "vm", None), ("distill_edited", "keep", "vm", "hash"),
                       ("evaluate_edit", "keep", "vm", "original"), ("evaluate_edit", "keep", "vm", "hash"),
                       ("make_edits_table", None, None, None), ("make_edit_figure", "keep", None, None)}


def test_changing_one_edits_program_reruns_only_that_edit(run):
    config = yaml.safe_load((run / "config" / "mini.yaml").read_text())
    config["edits"]["move"]["operations"][0]["translate"] = [-0.1, 0.0, 0.0]
    write_config(run / "config" / "moved.yaml", config)
    try:
        planned = keys(run, "config/moved.yaml")
    finally:
        (run / "config" / "moved.yaml").unlink()
    assert planned == {k for k in EDITED if k[1] in ("move", None)}
