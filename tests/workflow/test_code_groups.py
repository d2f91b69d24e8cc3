"""The invalidation table (workflow/code_groups.yaml) cannot drift from the checkout: every code file
is placed in exactly one group, every pattern still names a file, and the workflow refuses to plan
with a file the table does not place."""

from __future__ import annotations

from fnmatch import fnmatch

import yaml
from workflow_cases import REPO, copy_checkout, snakemake

HASHED_SUFFIXES = {".py", ".json", ".yaml", ".cu", ".cuh", ".cpp", ".cc", ".c", ".h", ".hpp"}


def _table() -> dict[str, list[str]]:
    return yaml.safe_load((REPO / "workflow" / "code_groups.yaml").read_text())


def _code_files() -> list[str]:
    return sorted(p.relative_to(REPO).as_posix() for top in ("pvd", "cuda_ext") for p in (REPO / top).rglob("*")
                  if p.is_file() and p.suffix in HASHED_SUFFIXES and "__pycache__" not in p.parts)


def test_every_code_file_is_in_exactly_one_group():
    table = _table()
    placed = {rel: [g for g, pats in table.items() if any(fnmatch(rel, p) for p in pats)] for rel in _code_files()}
    assert len(placed) > 50
    assert {rel: groups for rel, groups in placed.items() if len(groups) != 1} == {}


def test_every_pattern_names_a_file():
    files = _code_files()
    stale = [(g, p) for g, pats in _table().items() for p in pats if not any(fnmatch(f, p) for f in files)]
    assert stale == []


def test_groups_are_the_ones_the_rules_use():
    groups = set(_table())
    assert groups == {"none", "train", "distill", "evaluate", "report", "demo", "native", "edit", "export",
                      "field:hash", "field:vm", "field:mlp", "field:tensors", "field:gs"}


def test_an_unplaced_file_stops_the_workflow(tmp_path):
    work = copy_checkout(tmp_path / "wf")
    (work / "pvd" / "train" / "newcomer.py").write_text("X = 1\n")
    proc = snakemake(work, "-n", "--configfile", "config/demo.yaml", check=False)
    assert proc.returncode != 0
    assert "pvd/train/newcomer.py matches no group in workflow/code_groups.yaml" in proc.stdout + proc.stderr
