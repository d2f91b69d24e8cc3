"""The workflow's settings schema, generated from the run specs.

The options a spec marks ``workflow=True`` are the settings a workflow config may give its cells
(config ``teacher`` and ``distill``, and every ablation variant). Their JSON schema -- type, range,
choices, description -- is generated from the specs into ``workflow/schemas/options.schema.yaml``,
which the config schema references; the workflow renders each setting as the flag of the same name.
So a new option of ``distill`` reaches the CLI, the workflow's config and its schema, and the record
from its one declaration. ``python -m pvd.runs.schema`` rewrites the file (a test checks it is current).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from pvd.runs.distill import DistillSpec
from pvd.runs.spec import field_type, option_of, options
from pvd.runs.train import TrainSpec

# section -> (spec, options the config gives in a shape of its own: teacher iters are per architecture)
SECTIONS: dict[str, tuple[type, tuple[str, ...]]] = {
    "teacher": (TrainSpec, ("iters",)),
    "distill": (DistillSpec, ()),
}
SCHEMA_FILE = Path("workflow") / "schemas" / "options.schema.yaml"
HEADER = (
    "# Generated from the run specs (pvd/runs/*.py) by `python -m pvd.runs.schema`: do not edit by hand.\n"
    "# The settings of the workflow config's `teacher` and `distill` sections and of ablation variants.\n"
)
JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}
# a finite number: NaN passes every range keyword (its comparisons are all false) but fails one of
# the two `not` branches; the range keywords reject the infinities
FINITE = {
    "description": "A finite number (NaN and infinities are rejected).",
    "maximum": 1.0e308,
    "minimum": -1.0e308,
    "anyOf": [{"not": {"maximum": 0}}, {"not": {"exclusiveMinimum": 0}}],
}


def option_schema(spec_cls: type, name: str) -> dict:
    """The JSON schema of one option: its type, range and choices, described by its help."""
    ftype = field_type(spec_cls, name)
    opt = option_of(spec_cls, name)
    item: dict = {"type": JSON_TYPES[ftype.base]}
    if ftype.base is float:
        item["$ref"] = "#/$defs/finite"
    if opt.choices is not None:
        item["enum"] = list(opt.choices)
    for key, value in (("minimum", opt.minimum), ("maximum", opt.maximum), ("exclusiveMinimum", opt.above)):
        if value is not None:
            item[key] = value
    if ftype.tuple:
        item = {"type": "array", "items": item}
        if opt.nargs is not None:
            item.update(minItems=opt.nargs, maxItems=opt.nargs)
    return {"description": opt.help, **item}


def section_schema(spec_cls: type, exclude: tuple[str, ...] = ()) -> dict:
    """The schema of a config section: every workflow option of ``spec_cls`` but ``exclude``."""
    props = {
        f.name: option_schema(spec_cls, f.name) for f, o in options(spec_cls) if o.workflow and f.name not in exclude
    }
    return {"type": "object", "properties": props}


def workflow_schema() -> dict:
    """The generated schema document: one ``$defs`` entry per section."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": {
            "finite": FINITE,
            **{name: section_schema(spec, exclude) for name, (spec, exclude) in SECTIONS.items()},
        },
    }


def schema_text() -> str:
    """The file's text (stable: same specs, same text)."""
    return HEADER + yaml.safe_dump(workflow_schema(), sort_keys=False, width=110, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) ``workflow/schemas/options.schema.yaml`` under the checkout."""
    argv = sys.argv[1:] if argv is None else argv
    target = Path(__file__).resolve().parents[2] / SCHEMA_FILE
    if "--check" in argv:
        current = target.read_text() if target.is_file() else ""
        if current != schema_text():
            print(f"{target} is out of date: run python -m pvd.runs.schema", file=sys.stderr)
            return 1
        return 0
    target.write_text(schema_text())
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
