"""The workflow's side of the specs: every enum of its schema comes from a registry, and every job
command line it plans parses into the run's spec (so the config, the schema and the CLI agree)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from pvd.cli import build_parser
from pvd.commands.args import spec_from_args
from pvd.data import DATA_TYPES, SPLITS
from pvd.data.demo import SOLID_NAMES
from pvd.edit.program import OPS
from pvd.fields import ARCHS
from pvd.metrics import SSIM_MODES
from pvd.presets import PRESET_NAMES
from pvd.runs import RUN_KINDS
from pvd.runs.export import EXPORT_FORMATS
from pvd.runs.spec import option_of

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "workflow" / "schemas"
MANIFEST = json.loads((ROOT / "pvd" / "data" / "manifest.json").read_text())

# every enum of config.schema.yaml (by its path) -> the registry it must equal
REGISTRIES = {
    "$defs/arch": ARCHS,
    "$defs/preset": PRESET_NAMES,
    "$defs/evaluate/properties/split": SPLITS,
    "$defs/evaluate/properties/ssim": SSIM_MODES,
    "$defs/solid": SOLID_NAMES,
    "$defs/edit_op/properties/op": OPS,
    "$defs/edit_op/properties/checkpoint/oneOf/1/properties/dataset": DATA_TYPES,
    "$defs/edit/properties/dataset": DATA_TYPES,
    "properties/select/properties/datasets/items": tuple(MANIFEST["datasets"]),
    "properties/exports/properties/formats/items": tuple(f for f in EXPORT_FORMATS if f != "pth"),
}
# the workflow's own vocabularies (no pvd registry: how the workflow gets a dataset or a teacher)
WORKFLOW_OWN = {
    "$defs/dataset/properties/source": ("download", "local", "demo"),
    "$defs/dataset/properties/teacher_source": ("train", "import"),
    "properties/pairs/oneOf/0": ("all",),
}


def _enums(node, path=()) -> dict[str, list]:
    found = {}
    if isinstance(node, dict):
        if "enum" in node:
            found["/".join(path)] = node["enum"]
        for key, value in node.items():
            found.update(_enums(value, (*path, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.update(_enums(value, (*path, str(i))))
    return found


def test_every_schema_enum_is_a_registry():
    enums = _enums(yaml.safe_load((SCHEMAS / "config.schema.yaml").read_text()))
    assert set(enums) == set(REGISTRIES) | set(WORKFLOW_OWN), "an enum without a registry (or a stale entry here)"
    for path, values in enums.items():
        assert tuple(values) == tuple({**REGISTRIES, **WORKFLOW_OWN}[path]), path


def test_generated_options_take_their_enums_from_the_specs():
    generated = yaml.safe_load((SCHEMAS / "options.schema.yaml").read_text())
    enums = _enums(generated)
    assert enums["$defs/distill/properties/loss_type"] == list(
        option_of(RUN_KINDS["distill"].spec, "loss_type").choices
    )
    assert set(generated["$defs"]["teacher"]["properties"]) == {"preset", "batch_rays", "precision", "distortion"}


def _planned_commands(configfile: str) -> list[list[str]]:
    """argv of every `pvd <run verb>` job that a dry run of ``configfile`` plans."""
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-p", "--configfile", configfile],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    commands = []
    for line in (out.stdout + out.stderr).splitlines():
        line = line.strip().removeprefix("Shell command: ").split(" && ")[-1]  # after a program file's printf
        if line.startswith("pvd ") and line.split()[1] in RUN_KINDS:
            words = shlex.split(line.split(" > ")[0])
            commands.append(words[1:])
    return commands


def test_every_planned_job_parses_into_its_spec(tmp_path):
    commands = _planned_commands("config/demo.yaml")
    verbs = {argv[0] for argv in commands}
    assert {"train", "distill", "evaluate", "edit"} <= verbs
    parser = build_parser()
    scene_free = []
    for argv in commands:
        args = parser.parse_args(argv)
        kind = RUN_KINDS[argv[0]]
        # the demo scene does not exist before the run: give the specs an existing folder instead
        given = {"scene_dir": tmp_path} if getattr(args, "scene_dir", None) is not None else {}
        spec = spec_from_args(kind.spec, args, **given)
        scene_free.append(spec)
    variants = [s for s in scene_free if getattr(s, "stages", None) == "rgb_only"]
    assert variants, "the demo's ablation (stages: rgb_only) reaches pvd distill"
    assert any(getattr(s, "loss_type", None) == "L1" for s in scene_free)
