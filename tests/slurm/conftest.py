"""Fixtures of the SLURM tests: where the workflow's Snakefile is (skip the test when it is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def snakefile() -> Path:
    """The benchmark's Snakefile, at the repository root."""
    if not (ROOT / "Snakefile").is_file():
        pytest.skip("the workflow's Snakefile is absent")
    return ROOT / "Snakefile"
