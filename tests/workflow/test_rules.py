"""Near-identical rules share one definition: one rule per `pvd` verb's job, the others derived from it
with `use rule ... with:`; resources and the software environment are given once (common.smk)."""

from __future__ import annotations

import re

from workflow_cases import REPO

RULES = REPO / "workflow" / "rules"


def _text() -> str:
    return "\n".join(p.read_text() for p in sorted(RULES.glob("*.smk")))


def test_distill_and_evaluate_jobs_have_one_definition_each():
    text = _text()
    assert len(re.findall(r'^\s+"pvd distill ', text, re.M)) == 1
    assert len(re.findall(r'^\s+"pvd evaluate ', text, re.M)) == 1
    assert re.search(r"^use rule distill_student as distill_variant with:", text, re.M)
    assert re.search(r"^use rule distill_student as distill_edited with:", text, re.M)
    assert re.search(r"^use rule evaluate_model as evaluate_edit with:", text, re.M)


def test_resources_and_software_are_given_once():
    text = _text()
    assert text.count('"../../environment.yml"') == 1  # CONDA_ENV in common.smk; rules say `conda: CONDA_ENV`
    assert not re.search(r"^\s+mem_mb=", text, re.M), "resources come from stage_resources(...)"
    rules = re.findall(r"^rule (\w+):", text, re.M)
    conda = re.findall(r"^    conda:\n        CONDA_ENV$", text, re.M)
    spread = re.findall(r"^    resources:\n        \*\*stage_resources\(", text, re.M)
    assert len(conda) == len(spread) == len(rules)  # `use rule` inherits both
