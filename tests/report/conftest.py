"""Fixtures of the report tests: a results tree of synthetic run records (see report_cases)."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_cases import ARCHS, write_cell


@pytest.fixture
def results_tree(tmp_path: Path) -> Path:
    """synthetic: lego + chair, all 4 teachers and 16 pairs; llff: fern, hash and vm only, no LPIPS."""
    root = tmp_path / "results" / "run"
    for i, scene in enumerate(("lego", "chair")):
        for t in ARCHS:
            write_cell(root, "synthetic", scene, i, t, "")
            for s in ARCHS:
                write_cell(root, "synthetic", scene, i, t, s)
    for t in ("hash", "vm"):
        write_cell(root, "llff", "fern", 0, t, "", lpips=False)
        for s in ("hash", "vm"):
            write_cell(root, "llff", "fern", 0, t, s, lpips=False)
    return root
