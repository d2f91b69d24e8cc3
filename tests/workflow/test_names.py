"""The workflow (which cannot import pvd) names architectures, presets and datasets as the package does."""

from __future__ import annotations

import re

import yaml
from workflow_cases import REPO

from pvd.data import DATA_TYPES
from pvd.data.demo import SOLID_NAMES
from pvd.edit.program import _KEYS, OPS
from pvd.fields import ARCHS
from pvd.presets import PRESET_NAMES


def _schema() -> dict:
    return yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


def test_schema_lists_the_registries():
    schema = _schema()
    assert tuple(schema["$defs"]["arch"]["enum"]) == ARCHS      # common.smk's ARCHS is read from here
    assert set(schema["$defs"]["preset"]["enum"]) == set(PRESET_NAMES)
    assert tuple(schema["properties"]["datasets"]["properties"]) == DATA_TYPES
    pair = "|".join(ARCHS)
    assert f"^({pair})2({pair})$" in (REPO / "workflow" / "schemas" / "config.schema.yaml").read_text()
    assert tuple(schema["$defs"]["solid"]["enum"]) == SOLID_NAMES          # edits' ground truth (pvd data demo)
    op = schema["$defs"]["edit_op"]
    assert tuple(op["properties"]["op"]["enum"]) == OPS
    assert set(op["properties"]) == set().union(*_KEYS.values())      # each op's own keys: common.smk OP_KEYS


def test_snakefile_dataset_wildcard_is_the_data_types():
    snakefile = (REPO / "Snakefile").read_text()
    assert f'dataset="{"|".join(DATA_TYPES)}"' in snakefile


def test_workflow_imports_nothing_from_pvd():
    files = [REPO / "Snakefile", *sorted((REPO / "workflow").rglob("*.smk"))]
    assert [f for f in files if re.search(r"^\s*(from pvd\b|import pvd\b)", f.read_text(), re.M)] == []
