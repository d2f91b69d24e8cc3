"""Fixtures of the workflow tests (helpers in workflow_cases)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_cases import REPO, blender_to_nsvf


@pytest.fixture(scope="session")
def demo_tank_root(tmp_path_factory) -> Path:
    """A ``tank`` dataset root with one scene ``demo``: the demo scene in the NSVF layout."""
    base = tmp_path_factory.mktemp("tank_data")
    blender = base / "blender"
    env = {**os.environ, "PVD_BACKEND": "torch"}
    subprocess.run([sys.executable, "-m", "pvd.cli", "data", "demo", str(blender), "--seed", "1",
                    "--size", "20", "--n_train", "6", "--n_val", "1", "--n_test", "2", "--spp", "1"],
                   check=True, capture_output=True, cwd=REPO, env=env, timeout=300)
    root = base / "TanksAndTemple"
    blender_to_nsvf(blender, root / "demo")
    return root
