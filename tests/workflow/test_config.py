"""The config schema: both shipped configs validate; misspelt keys are rejected by name; every key
is described; the workflow's own checks name the offending config entry."""

from __future__ import annotations

import copy
import json
import re

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate
from workflow_cases import REPO, copy_checkout, snakemake, write_config

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def load(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "demo.yaml"])
def test_shipped_configs_validate(name):
    validate(load(name), str(SCHEMA))


def test_paper_config_holds_the_method_values():
    cfg = load("config.yaml")
    ds = cfg["datasets"]
    assert [len(ds[d]["scenes"]) for d in ("synthetic", "llff", "tank")] == [8, 8, 5]
    assert ds["synthetic"]["scenes"]["ficus"] == {"scale": 0.75}
    assert ds["llff"]["scenes"]["flower"] == {"bound": 10.0, "scale": 0.03, "dt_gamma": 0.005}
    assert ds["tank"]["scenes"]["Ignatius"] == {"bound": 3.0, "scale": 0.33}
    assert cfg["teacher"]["iters"] == {"hash": 40000, "vm": 30000, "mlp": 50000, "tensors": 15000}
    assert cfg["pairs"] == "all" and cfg["architectures"] == ["hash", "vm", "mlp", "tensors"]


def test_demo_config_runs_the_5x5_grid():
    """The demo: the four NeRF architectures and Gaussian splats, every pair (issue 26)."""
    cfg = load("demo.yaml")
    assert cfg["pairs"] == "all" and cfg["architectures"] == ["hash", "vm", "mlp", "tensors", "gs"]


@pytest.mark.parametrize("parent, bad", [
    ((), "datsets"),
    (("datasets", "synthetic", "scenes", "ficus"), "scael"),
    (("datasets", "llff"), "downscael"),
    (("teacher",), "iter"),
    (("distill",), "stage_iter"),
    (("resources", "teacher"), "gpus"),
    (("native",), "cudaa"),
])
def test_misspelt_key_is_rejected_by_name(parent, bad):
    cfg = load("config.yaml")
    node = cfg
    for key in parent:
        node = node[key]
    node[bad] = 1
    with pytest.raises(WorkflowError, match=rf"'{bad}' was unexpected"):
        validate(cfg, str(SCHEMA))


def test_wrong_value_is_rejected():
    cfg = load("config.yaml")
    cfg["distill"]["loss_type"] = "L3"
    with pytest.raises(WorkflowError, match="L3"):
        validate(cfg, str(SCHEMA))


def _walk(schema: dict, where: str, defs: dict):
    """Every property of every object schema, with its path."""
    for key, sub in schema.get("properties", {}).items():
        yield f"{where}.{key}", sub
        yield from _walk(sub, f"{where}.{key}", defs)
    for part in schema.get("allOf", []):
        yield from _walk(part, where, defs)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _walk(extra, f"{where}.*", defs)


def test_every_key_is_described_and_closed():
    schema = yaml.safe_load(SCHEMA.read_text())
    defs = schema["$defs"]
    seen = 0
    for where, sub in [*_walk(schema, "config", defs),
                       *((f"$defs.{k}{p}", s) for k, d in defs.items() for p, s in _walk(d, "", defs))]:
        assert sub.get("description"), f"{where} has no description"
        seen += 1
    assert seen > 60
    for name, sub in [("config", schema), *defs.items()]:
        if sub.get("type") == "object" and ("properties" in sub or "$ref" in sub):
            closed = sub.get("additionalProperties") is False or sub.get("unevaluatedProperties") is False
            assert closed, f"{name} accepts unknown keys"
    options = yaml.safe_load((SCHEMA.parent / "options.schema.yaml").read_text())["$defs"]
    assert options.pop("finite")["description"]  # the shared check of number settings
    for section, sub in options.items():  # the settings generated from the run specs: described too
        assert all(prop.get("description") for prop in sub["properties"].values()), section


def test_snakemake_reports_the_misspelt_key(tmp_path):
    work = copy_checkout(tmp_path / "wf")
    cfg = load("demo.yaml")
    cfg["datasets"]["synthetic"]["downscael"] = 2
    write_config(work / "bad.yaml", cfg)
    proc = snakemake(work, "-n", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert "'downscael' was unexpected" in proc.stdout + proc.stderr


def test_pair_outside_the_architectures_is_named(tmp_path):
    work = copy_checkout(tmp_path / "wf")
    cfg = copy.deepcopy(load("demo.yaml"))
    cfg["architectures"] = ["hash", "vm"]
    cfg["pairs"] = ["hash2mlp"]
    write_config(work / "bad.yaml", cfg)
    proc = snakemake(work, "-n", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert "config pairs: 'hash2mlp' uses 'mlp'" in proc.stdout + proc.stderr


# ---------------------------------------------------------------- edits


def _demo_with_edit(**changes) -> dict:
    cfg = load("demo.yaml")
    edit = copy.deepcopy(cfg["edits"]["erase_sphere"])
    edit.update(changes)
    cfg["edits"] = {"bad_edit": {k: v for k, v in edit.items() if v is not None}}
    return cfg


@pytest.mark.parametrize("changes, message", [
    ({"students": None}, "'students' is a required property"),
    ({"teachrs": ["vm"]}, "'teachrs' was unexpected"),
    ({"teachers": ["nerf"]}, "'nerf' is not one of"),
    ({"operations": [{"op": "erasse", "min": [0, 0, 0], "max": [1, 1, 1]}]}, "'erasse' is not one of"),
    ({"operations": [{"op": "erase", "min": [0, 0], "max": [1, 1, 1]}]}, "is too short"),
    ({"operations": [{"op": "erase", "min": [0, 0, 0], "max": [1, 1, 1], "scael": 2}]}, "'scael' was unexpected"),
    ({"truth": {"without": ["striped_ball"]}}, "'striped_ball' is not one of"),
    ({"truth": {"move": [{"solid": "glossy_ball", "by": [0, 0, 0]}]}}, "'by' was unexpected"),
    ({"truth": {"move": [{"solid": "glossy_ball"}]}}, "'translate' is a required property"),
])
def test_bad_edit_entries_are_rejected_naming_the_field(changes, message):
    cfg = _demo_with_edit(**changes)
    with pytest.raises(WorkflowError, match=message) as err:
        validate(cfg, str(SCHEMA))
    assert "bad_edit" in str(err.value)                # the message shows where: edits -> bad_edit -> ...


def test_bad_edit_name_is_rejected():
    cfg = load("demo.yaml")
    cfg["edits"] = {"no spaces": cfg["edits"]["erase_sphere"]}
    with pytest.raises(WorkflowError, match="does not match"):
        validate(cfg, str(SCHEMA))


@pytest.fixture(scope="module")
def edit_checkout(tmp_path_factory):
    return copy_checkout(tmp_path_factory.mktemp("edits") / "wf")


@pytest.mark.parametrize("changes, message", [
    ({"operations": [{"op": "erase", "min": [0, 0, 0], "max": [1, 1, 1], "translate": [0, 0, 1]}]},
     r"config edits.bad_edit.operations\[0\] \(erase\): erase takes no \['translate'\]"),
    ({"operations": [{"op": "keep", "min": [0, 0.5, 0], "max": [1, 0.2, 1]}]},
     r"config edits.bad_edit.operations\[0\] \(keep\): min \[0, 0.5, 0\] must be < max \[1, 0.2, 1\] along y"),
    ({"operations": [{"op": "insert", "min": [0, 0, 0], "max": [1, 1, 1]}]},
     r"config edits.bad_edit.operations\[0\] \(insert\): lacks checkpoint"),
    ({"operations": [{"op": "insert", "min": [0, 0, 0], "max": [1, 1, 1], "checkpoint": {"scene": "lego", "arch": "vm"}}]},
     r"config edits.bad_edit.operations\[0\] \(insert\): checkpoint.scene: datasets.synthetic has no scene 'lego'"),
    ({"scene": "lego"}, r"config edits.bad_edit.scene: 'lego' is not one scene of datasets \(no dataset has it\)"),
    ({"dataset": "llff"}, r"config edits.bad_edit.scene: datasets.llff has no scene 'demo'"),
])
def test_edit_entries_the_schema_cannot_check_are_named(edit_checkout, changes, message):
    write_config(edit_checkout / "bad.yaml", _demo_with_edit(**changes))
    proc = snakemake(edit_checkout, "-n", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert re.search(message, proc.stdout + proc.stderr), (proc.stdout + proc.stderr)[-3000:]


def test_edit_teacher_outside_the_architectures_and_truth_of_a_real_scene_are_named(edit_checkout):
    cfg = _demo_with_edit()
    cfg["architectures"], cfg["pairs"] = ["hash", "vm"], "all"
    cfg.pop("ablations")
    write_config(edit_checkout / "bad.yaml", cfg)
    proc = snakemake(edit_checkout, "-n", "--configfile", "bad.yaml", check=False)
    assert "config edits.bad_edit.teachers: ['tensors'] not in architectures ['hash', 'vm']" in proc.stdout + proc.stderr
    cfg = load("config.yaml")
    cfg["edits"] = {"bucket": {"scene": "lego", "teachers": ["tensors"], "students": ["hash"],
                               "operations": [{"op": "erase", "min": [-1, -1, 0.3], "max": [1, 0, 1]}],
                               "truth": {"without": ["disc"]}}}
    write_config(edit_checkout / "bad.yaml", cfg)
    proc = snakemake(edit_checkout, "-n", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert ("config edits.bucket.truth: only demo scenes have an exact edited ground truth; datasets.synthetic has "
            "source 'download'") in proc.stdout + proc.stderr


def test_demo_edit_boxes_are_the_generated_solids(tmp_path):
    """config/demo.yaml's boxes are `pvd data demo` seed 0's solids.json boxes; the truths edit the same solids."""
    import subprocess
    import sys

    out = tmp_path / "demo"
    subprocess.run([sys.executable, "-m", "pvd.cli", "data", "demo", str(out), "--seed", "0", "--size", "8",
                    "--n_train", "1", "--n_val", "1", "--n_test", "1", "--spp", "1"], check=True, cwd=REPO,
                   capture_output=True, timeout=300)
    solids = {s["name"]: s for s in json.loads((out / "solids.json").read_text())}
    cfg = load("demo.yaml")
    assert cfg["datasets"]["synthetic"]["demo"]["seed"] == 0
    erase, move = cfg["edits"]["erase_sphere"], cfg["edits"]["move_ball"]
    (op,) = erase["operations"]
    assert (op["op"], op["min"], op["max"]) == ("erase", solids["striped_sphere"]["bbox_min"],
                                                solids["striped_sphere"]["bbox_max"])
    assert erase["truth"] == {"without": ["striped_sphere"]}
    (op,) = move["operations"]
    assert (op["op"], op["min"], op["max"]) == ("move", solids["glossy_ball"]["bbox_min"],
                                                solids["glossy_ball"]["bbox_max"])
    assert op["translate"] == [-0.1, -0.1, 0.0]
    assert move["truth"] == {"move": [{"solid": "glossy_ball", "translate": op["translate"]}]}
    for edit in (erase, move):
        assert edit["teachers"] == ["tensors"] and edit["students"] == ["hash", "vm", "mlp", "tensors"]
