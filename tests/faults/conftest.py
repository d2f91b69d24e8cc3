"""The fault catalogue's fixtures: the CLI run in-process (exit code, last stderr line), copies of the
demo scene in every format, small trained teachers, and real small or read-only file systems.

Every case of the catalogue asserts three things: the exit code, the one-line message (naming the
file or flag at fault) and what the fault leaves on disk.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fault_cases import train_args

from pvd.cli import main


@dataclass
class Outcome:
    """What one ``pvd`` call did: exit code, stdout and the last line of stderr."""

    rc: int
    out: str
    err: str

    @property
    def line(self) -> str:
        lines = [ln for ln in self.err.splitlines() if ln.strip()]
        return lines[-1] if lines else ""


@pytest.fixture
def pvd(capsys):
    """``pvd(*argv) -> Outcome``: run the CLI in this process (argparse errors included)."""

    def run(*argv) -> Outcome:
        capsys.readouterr()
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse
            rc = exc.code
        captured = capsys.readouterr()
        return Outcome(rc, captured.out, captured.err)

    return run


@pytest.fixture
def scene(demo_scene, tmp_path) -> Path:
    """A private copy of the demo scene (Blender layout) that a test may damage."""
    return Path(shutil.copytree(demo_scene, tmp_path / "scene"))


def _demo_c2w(demo_scene: Path, split: str) -> tuple[list[np.ndarray], list[Path], float]:
    doc = json.loads((demo_scene / f"transforms_{split}.json").read_text())
    mats = [np.asarray(f["transform_matrix"], dtype=np.float64) for f in doc["frames"]]
    files = [demo_scene / (f["file_path"] + ".png") for f in doc["frames"]]
    return mats, files, float(doc["camera_angle_x"])


@pytest.fixture
def nsvf_scene(demo_scene, tmp_path) -> Path:
    """The demo scene in the NSVF layout (``tank``): rgb/, pose/ (OpenCV axes), intrinsics, bbox."""
    import math

    root = tmp_path / "nsvf"
    (root / "rgb").mkdir(parents=True)
    (root / "pose").mkdir()
    focal = None
    for prefix, split in (("0_", "train"), ("1_", "val"), ("2_", "test")):
        mats, files, angle = _demo_c2w(demo_scene, split)
        for i, (m, f) in enumerate(zip(mats, files)):
            shutil.copy(f, root / "rgb" / f"{prefix}{i:03d}.png")
            np.savetxt(root / "pose" / f"{prefix}{i:03d}.txt", m @ np.diag([1.0, -1.0, -1.0, 1.0]))
        focal = 0.5 * 32 / math.tan(0.5 * angle)
    (root / "intrinsics.txt").write_text(f"{focal} 0 16 0\n0 {focal} 16 0\n0 0 1 0\n0 0 0 1\n")
    (root / "bbox.txt").write_text("-1.5 -1.5 -1.5 1.5 1.5 1.5 0.1\n")
    return root


@pytest.fixture
def llff_scene(demo_scene, tmp_path) -> Path:
    """The demo views in the LLFF layout: images_4/ and poses_bounds.npy ([n, 17])."""
    import math

    root = tmp_path / "llff"
    (root / "images_4").mkdir(parents=True)
    rows = []
    for split in ("train", "test"):
        mats, files, angle = _demo_c2w(demo_scene, split)
        for m, f in zip(mats, files):
            shutil.copy(f, root / "images_4" / f"{len(rows):03d}.png")
            focal = 0.5 * 128 / math.tan(0.5 * angle)
            pose = np.concatenate([m[:3, :4], [[128.0], [128.0], [focal]]], axis=1)
            rows.append(np.concatenate([pose.reshape(-1), [2.0, 6.0]]))
    np.save(root / "poses_bounds.npy", np.stack(rows))
    return root


@pytest.fixture(scope="session")
def teacher(demo_scene, tmp_path_factory) -> Path:
    """A finished hash teacher's workspace (a few steps: its quality does not matter here)."""
    ws = tmp_path_factory.mktemp("faults") / "teacher"
    assert main([str(a) for a in train_args(demo_scene, ws)]) == 0
    return ws


@pytest.fixture
def mount(tmp_path):
    """``mount(size_kib, read_only=False) -> Path``: a fresh real tmpfs (root only; skipped elsewhere)."""
    mounted: list[Path] = []

    def make(size_kib: int, read_only: bool = False) -> Path:
        point = tmp_path / f"fs{len(mounted)}"
        point.mkdir()
        opts = f"size={size_kib}k" + (",ro" if read_only else "")
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
        mounted.append(point)
        return point

    yield make
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)
