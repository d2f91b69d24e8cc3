"""Shared fixtures: paths to the real scenes in ../shared/data, the `cuda` marker's auto-skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import pvd  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads: torch is imported below, in functions)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PVD_SHARED_DATA", ROOT.parent / "shared" / "data"))


def pytest_collection_modifyitems(config, items):
    import torch  # not at the top: pvd must set OMP_WAIT_POLICY first (idle OpenMP threads that spin
    # made a gs training run take 499 s instead of 92 s on the shared 2-core machine)

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA GPU on this machine")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


def _shared(rel: str) -> Path:
    path = SHARED_DATA / rel
    if not path.exists():
        pytest.skip(f"real scene {path} is absent (set PVD_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def lego_dir() -> Path:
    """Synthetic-NeRF lego (Blender format), read in place."""
    return _shared("nerf_synthetic/lego")


@pytest.fixture(scope="session")
def fern_dir() -> Path:
    """LLFF fern, read in place."""
    return _shared("nerf_llff_data/fern")


@pytest.fixture(scope="session")
def nsvf_lego_dir() -> Path:
    """The NSVF-layout lego, read in place."""
    return _shared("nsvf/Lego")


@pytest.fixture(scope="session")
def demo_scene(tmp_path_factory) -> Path:
    """A small embedded demo scene (Blender format), generated once per test session."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("demo") / "scene"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pvd.cli",
            "data",
            "demo",
            str(out),
            "--size",
            "32",
            "--n_train",
            "16",
            "--n_val",
            "2",
            "--n_test",
            "3",
            "--seed",
            "0",
        ],
        check=True,
    )
    return out
