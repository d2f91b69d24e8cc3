"""Fault catalogue, sizes and names: nothing dies by a signal, nothing ends in a traceback.

Sizes that cannot fit memory (a huge ``--bound``, a capture's ``aabb_scale``, a demo scene's
``--size``) are refused up front in one line, before any allocation, so no native kernel is ever
driven out of bounds; a damaged native-kernel cache entry is rebuilt, never loaded (SIGBUS); names the
file system cannot hold, undecodable names and symlink loops are one line naming ``--workspace``, and
leave nothing behind. These run as real processes: a SIGSEGV or SIGBUS must not kill the test run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fault_cases import train_args

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv, env=None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    cmd = [sys.executable, "-m", "pvd.cli", *map(os.fsencode, map(str, argv))]
    return subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, errors="replace", timeout=600)


def _line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


@pytest.mark.parametrize("model_type", ["hash", "vm", "tensors"])
def test_a_huge_bound_is_refused_before_anything_is_allocated(demo_scene, tmp_path, model_type):
    ws = tmp_path / "ws"
    proc = _run(*train_args(demo_scene, ws, model_type, "--bound", "1e5"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert _line(proc).startswith("pvd train: error: --bound 100000: ")
    assert not ws.exists()


def test_a_bound_whose_hash_grid_would_overflow_the_kernels_index_is_refused(demo_scene, tmp_path):
    """A hash grid needs little memory at any bound, but past a finest resolution of 2^21 cells the
    kernels' dense index (``side^3``) overflows 64 bits: refused, never run."""
    ws = tmp_path / "ws"
    proc = _run(*train_args(demo_scene, ws, "hash", "--bound", "20000"))  # tiny: 384 cells per unit of bound
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert _line(proc).startswith("pvd train: error: --bound 20000: ") and "vertices per axis" in _line(proc)
    assert not ws.exists()


def test_a_captures_huge_aabb_scale_is_refused(tmp_path):
    cap = tmp_path / "cap"
    assert _run("data", "demo-capture", cap, "--size", "24").returncode == 0
    doc = json.loads((cap / "transforms.json").read_text())
    doc["aabb_scale"] = 1e9
    (cap / "transforms.json").write_text(json.dumps(doc))
    ws = tmp_path / "ws"
    proc = _run("train", cap, "--data_type", "capture", "--model_type", "hash", "--workspace", ws, "--iters", "2")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert _line(proc).startswith("pvd train: error: --bound 1e+09: ")
    assert not ws.exists()


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--size", "100000"], "--size must be at most 1024 at spp 4 "),
        (["--size", "600", "--spp", "8"], "--size must be at most 512 at spp 8 "),
        (["--size", "0"], "--size must be at least 1, got 0"),
        (["--seed", "-5"], "--seed must be >= 0, got -5"),
        (["--n_train", "-1"], "--n_train must be at least 1, got -1"),
    ],
)
def test_demo_sizes_and_seeds_are_bounded(tmp_path, extra, message):
    out = tmp_path / "demo"
    proc = _run("data", "demo", out, *extra)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert _line(proc).startswith(f"pvd data: error: {message}")
    assert not out.exists()


def test_a_truncated_native_kernel_cache_entry_is_rebuilt_not_loaded(tmp_path):
    from pvd.ops import backend

    real = backend.build_spec("cpu").directory
    if not (real / "built.json").is_file():
        pytest.skip(f"no cpu build in {real.parent} to damage a copy of")
    cache = tmp_path / "ext"
    entry = cache / real.name
    shutil.copytree(real, entry)
    library = entry / json.loads((entry / "built.json").read_text())["library"]
    with open(library, "r+b") as fh:
        fh.truncate(library.stat().st_size // 2)
    code = "from pvd.ops.backend import build; print(build('cpu').directory)"
    env = {**os.environ, "PYTHONPATH": str(ROOT), backend.CACHE_ENV: str(cache), "PVD_BACKEND": "native"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{library} is damaged" in proc.stderr and "rebuilding" in proc.stderr
    marker = json.loads((entry / "built.json").read_text())
    assert marker["size"] == library.stat().st_size and len(marker["sha256"]) == 64


def test_a_workspace_name_longer_than_the_file_system_allows(demo_scene, tmp_path):
    ws = tmp_path / ("x" * 300)
    proc = _run(*train_args(demo_scene, ws))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    name = "x" * 300
    assert _line(proc) == f"pvd train: error: --workspace {ws}: the name {name!r} is longer than the file system allows"
    assert list(tmp_path.iterdir()) == []


def test_a_workspace_name_with_undecodable_bytes_leaves_nothing_behind(demo_scene, tmp_path):
    ws = Path(os.fsdecode(os.fsencode(tmp_path) + b"/bad\xff"))
    proc = _run(*train_args(demo_scene, ws))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--workspace" in _line(proc) and "is not valid UTF-8" in _line(proc)
    assert list(tmp_path.iterdir()) == []


def test_a_workspace_that_is_a_symlink_loop(demo_scene, tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    proc = _run(*train_args(demo_scene, loop / "run"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert _line(proc) == f"pvd train: error: --workspace {loop / 'run'}: {loop} is a symbolic link loop"
    assert [p.name for p in tmp_path.iterdir()] == ["loop"]


@pytest.mark.parametrize("part", ["collect", "curves"])
def test_report_out_naming_an_existing_folder(teacher, demo_scene, tmp_path, part):
    tree = tmp_path / "results" / "synthetic" / "demo"
    (tree / "teacher" / "hash").mkdir(parents=True)
    shutil.copy(teacher / "record.json", tree / "teacher" / "hash" / "record.json")
    inputs = [tree / "teacher" / "hash" / "record.json"]
    if part == "collect":
        ev = tree / "eval" / "hash"
        argv = ["evaluate", demo_scene, "--ckpt", teacher / "checkpoint.pt", "--workspace", ev, "--no-lpips"]
        assert _run(*argv).returncode == 0
        inputs = [ev / "metrics.json"]
    out = tmp_path / "out"
    out.mkdir()
    proc = _run("report", part, *inputs, "--out", out)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert _line(proc) == f"pvd report: error: --out {out} is a folder; expected a .csv file name"
    assert list(out.iterdir()) == []


def test_disk_full_while_writing_a_gif_is_one_line(teacher, mount, tmp_path):
    fs = mount(48)
    proc = _run(
        "render", "--ckpt", teacher / "checkpoint.pt", "--workspace", fs / "v", "--format", "gif",
        "--frames", "60", "--size", "96x96", "--no_progress",
    )  # fmt: skip
    assert proc.returncode == 2
    assert "no space left on the device" in _line(proc) and "Exception ignored" not in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not [p for p in fs.rglob("*") if p.is_file() and p.name not in (".pvd.lock",)]
