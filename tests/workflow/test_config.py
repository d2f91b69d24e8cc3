"""The config schema: both shipped configs validate; misspelt keys are rejected by name; every key
is described; the workflow's own checks name the offending config entry."""

from __future__ import annotations

import copy

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
        if sub.get("type") == "object" and "properties" in sub:
            assert sub.get("additionalProperties") is False, f"{name} accepts unknown keys"


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
