"""Fixtures of the SLURM tests: where the workflow's Snakefile is (skip the test when it is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def snakefile() -> Path:
    """The benchmark's Snakefile: workflow/Snakefile (the catalog layout), else ./Snakefile."""
    for candidate in (ROOT / "workflow" / "Snakefile", ROOT / "Snakefile"):
        if candidate.is_file():
            return candidate
    pytest.skip("the workflow's Snakefile is absent")
