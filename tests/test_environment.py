"""environment.yml (the conda env of the project and of the workflow rules) names what pyproject.toml needs."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    """``snakemake[reports]>=9`` -> ``snakemake``."""
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()


def test_environment_installs_the_package_and_its_dependencies():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    python = next(d for d in conda if d.startswith("python="))
    major, minor = (int(v) for v in python.split("=")[1].split(".")[:2])
    lowest = tuple(int(v) for v in project["requires-python"].lstrip(">=").split("."))
    assert (major, minor) >= lowest and "pip" in conda
    assert "-e ." in pip  # this checkout, as the rules run it
    assert {_name(r) for r in project["dependencies"]} == {_name(r) for r in pip if not r.startswith("-")}
    assert sorted(pip[:-1]) == sorted(project["dependencies"])  # the same version bounds


def test_every_rule_uses_the_root_environment():
    """Every rule's `conda:` is CONDA_ENV (declared once in common.smk), which is the root environment.yml."""
    rules = sorted((ROOT / "workflow" / "rules").glob("*.smk"))
    named = [m for path in rules for m in re.findall(r"conda:\s*\n\s*(\S+)", path.read_text())]
    assert named and set(named) == {"CONDA_ENV"}, named
    common = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    (env,) = re.findall(r'^CONDA_ENV = "([^"]+)"', common, re.M)
    assert (ROOT / "workflow" / "rules" / env).resolve() == ROOT / "environment.yml"
    n_rules = sum(len(re.findall(r"^rule \w+:", path.read_text(), re.M)) for path in rules)
    assert len(named) == n_rules, "a rule without conda: CONDA_ENV"
