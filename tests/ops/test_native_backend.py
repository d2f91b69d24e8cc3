"""The lazy native backend: cache keys, PVD_BACKEND, fallback after a failed build, `pvd build-ext`,
and (without a GPU) a compile-and-link check of the CUDA sources so a CUDA build error fails CI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import warnings
import zipfile

import pytest
import torch
from filelock import FileLock

from pvd.cli import main
from pvd.errors import SpecError, UserError
from pvd.ops import backend
from pvd.ops.hash_grid import hash_grid, hash_grid_torch, make_layout


@pytest.fixture()
def fresh_backend(monkeypatch, tmp_path):
    """An empty cache and no extension loaded or failed yet (restored afterwards)."""
    monkeypatch.setenv(backend.CACHE_ENV, str(tmp_path / "ext"))
    monkeypatch.setattr(backend, "_loaded", {})
    monkeypatch.setattr(backend, "_failed", {})
    return tmp_path / "ext"


def _small_grid():
    layout = make_layout(2, 2, 10, 4, 8)
    table = torch.rand(layout.n_entries, 2, requires_grad=True)
    return torch.rand(50, 3), table, torch.tensor(layout.offsets), torch.tensor(layout.resolutions)


def test_backend_setting_is_validated(monkeypatch):
    monkeypatch.setenv(backend.BACKEND_ENV, "fast")
    with pytest.raises(UserError, match="PVD_BACKEND='fast': expected one of auto, torch, native"):
        backend.requested_backend()
    monkeypatch.setenv(backend.BACKEND_ENV, "torch")
    assert backend.active_backend("cpu") == "torch"
    monkeypatch.delenv(backend.BACKEND_ENV)
    assert backend.active_backend("cpu") == "native-cpu"
    assert backend.active_backend("meta") == "torch"


def test_cache_key_follows_sources_flags_and_arch(monkeypatch, tmp_path):
    monkeypatch.setenv(backend.CACHE_ENV, str(tmp_path))
    cpu = backend.build_spec("cpu")
    assert cpu.directory.parent == tmp_path and cpu.directory.name.startswith("cpu-")
    assert cpu.digest == backend.build_spec("cpu").digest
    a, b = backend.build_spec("cuda", "9.0"), backend.build_spec("cuda", "8.0;9.0")
    assert len({cpu.digest, a.digest, b.digest}) == 3
    assert all(p.suffix == ".cu" for p in set(a.sources) - set(cpu.sources))
    assert "-DPVD_WITH_CUDA" in a.cflags and "-DPVD_WITH_CUDA" not in cpu.cflags
    copy = tmp_path / "src"
    copy.mkdir()
    for path in backend.SOURCE_DIR.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(backend, "SOURCE_DIR", copy)
    assert backend.build_spec("cpu").digest == cpu.digest
    (copy / "sh.h").write_text((copy / "sh.h").read_text() + "\n// changed\n")
    assert backend.build_spec("cpu").digest != cpu.digest


def test_arch_list_normalisation():
    assert backend.normalize_arch_list("8.0, 9.0") == "8.0;9.0"
    assert backend.normalize_arch_list("9.0a;9.0a") == "9.0a"
    assert backend.normalize_arch_list("8.6+PTX") == "8.6+PTX"
    with pytest.raises(SpecError, match="^arch 'sm_90': expected compute capabilities"):
        backend.normalize_arch_list("sm_90")


def test_failed_build_warns_once_then_uses_the_twin(fresh_backend, monkeypatch):
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    x, table, offsets, resolutions = _small_grid()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = hash_grid(x, table, offsets, resolutions)
        again = hash_grid(x, table, offsets, resolutions)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "using the PyTorch twins for cpu tensors" in messages[0]
    assert "/nonexistent/c++" in messages[0] or "failed" in messages[0]
    torch.testing.assert_close(out, hash_grid_torch(x, table, offsets, resolutions))
    torch.testing.assert_close(again, out)
    assert backend.active_backend("cpu") == "torch"
    monkeypatch.setenv(backend.BACKEND_ENV, "native")
    with pytest.raises(UserError, match="PVD_BACKEND=native but building the cpu kernels"):
        hash_grid(x, table, offsets, resolutions)


def test_build_ext_reports_the_cpu_build(capsys):
    assert main(["build-ext"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("cpu: ") and str(backend.build_spec("cpu").directory) in line
    assert backend.build_spec("cpu").library.exists()


def test_build_ext_rejects_arch_without_cuda(capsys):
    assert main(["build-ext", "--arch", "9.0"]) == 2
    assert "--arch only applies to the CUDA build" in capsys.readouterr().err


needs_toolkit = pytest.mark.skipif(
    torch.version.cuda is None or backend.cuda_home() is None,
    reason="torch without CUDA or no nvcc: nothing to compile against",
)


@needs_toolkit
def test_cuda_sources_compile_and_link():
    """Compile and link the CUDA build for sm_90 (cached by source hash; ~1-2 min when sources change)."""
    start = time.perf_counter()
    result = backend.build("cuda", arch_list="9.0")
    assert result.module.with_cuda and result.arch_list == "9.0"
    assert result.directory.name.startswith("cuda-") and (result.directory / "pvd_native_cuda.so").exists()
    print(f"cuda build: {'compiled' if result.compiled else 'cached'} in {time.perf_counter() - start:.1f} s")
    # the CUDA build carries the CPU launchers as well
    d = torch.nn.functional.normalize(torch.randn(10, 3), dim=-1)
    torch.testing.assert_close(result.module.sh_encode_fwd(d, 4), backend.build("cpu").module.sh_encode_fwd(d, 4))


@pytest.mark.cuda
def test_cpu_only_build_refuses_cuda_tensors_clearly():
    ext = backend.build("cpu").module
    assert ext.with_cuda is False
    with pytest.raises(RuntimeError, match="CPU-only"):
        ext.sh_encode_fwd(torch.zeros(2, 3, device="cuda"), 2)


def test_prune_cache_keeps_the_most_recently_used_and_locked_builds(fresh_backend):
    fresh_backend.mkdir(parents=True)
    dirs = []
    for i in range(5):
        d = fresh_backend / f"cpu-{i:016x}"
        d.mkdir()
        (d / "pvd_native_cpu.so").write_bytes(b"x")
        (fresh_backend / f"{d.name}.lock").touch()
        os.utime(d, (1000 + i, 1000 + i))
        dirs.append(d)
    other = fresh_backend / "cuda-0000000000000000"
    other.mkdir()
    os.utime(other, (1, 1))
    with FileLock(str(dirs[0]) + ".lock"):  # oldest, but held by a (pretend) concurrent build
        removed = backend.prune_cache("cpu", keep=2)
    assert sorted(removed) == sorted(dirs[1:3])
    assert [d.exists() for d in dirs] == [True, False, False, True, True]
    assert not (fresh_backend / f"{dirs[1].name}.lock").exists()
    assert other.exists(), "builds of another kind are not touched"


def test_wheel_ships_kernel_sources_and_backend_finds_them(tmp_path):
    """A non-editable install gets cuda_ext/ under <prefix>/share/pvd/cuda_ext, where the backend
    looks when it does not run from a checkout."""
    root, src = backend.SOURCE_DIR.parent, tmp_path / "src"  # build a copy: setuptools writes build/
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, src / name)
    for name in ("pvd", "cuda_ext"):
        shutil.copytree(root / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(src),
        ],
        check=True,
    )
    wheel = next(tmp_path.glob("pvd-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {n.rsplit("/", 1)[-1] for n in names if "/data/share/pvd/cuda_ext/" in n}
    wanted = {p.name for p in backend.SOURCE_DIR.glob("*") if p.suffix in {".h", ".cpp", ".cu"}}
    assert wanted and shipped == wanted
    # unpack the wheel as pip would (package into site, data into the prefix) and ask the backend
    site, prefix = tmp_path / "site", tmp_path / "prefix"
    with zipfile.ZipFile(wheel) as z:
        for n in names:
            if ".data/data/" in n:
                target = prefix / n.split(".data/data/", 1)[1]
            elif n.startswith("pvd/"):
                target = site / n
            else:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(n))
    code = (
        "import sys; sys.prefix = sys.argv[1]; from pvd.ops import backend; "
        "print(backend.SOURCE_DIR); print(backend.build_spec('cpu').digest)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(prefix)],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
    ).stdout.split()
    assert out[0] == str(prefix / "share" / "pvd" / "cuda_ext")
    assert out[1] == backend.build_spec("cpu").digest, "same sources, same build key"


def test_two_checkouts_share_one_build_and_the_second_is_a_cache_hit(fresh_backend, monkeypatch, tmp_path, capfd):
    """Two copies of the sources at different paths (a user's clone and CI's) alternate on one cache:
    the first builds, every later load is a cache hit that compiles nothing and leaves the library
    file as it was (same inode and mtime); an interrupted build (no built.json) is built again."""
    checkouts = []
    for name in ("a", "b"):
        src = tmp_path / name / "cuda_ext"
        shutil.copytree(backend.SOURCE_DIR, src)
        checkouts.append(src)
    results = []
    for src in (checkouts[0], checkouts[1], checkouts[0]):
        monkeypatch.setattr(backend, "SOURCE_DIR", src)
        monkeypatch.setattr(backend, "_loaded", {})
        results.append(backend.build("cpu"))
    first, second, third = results
    assert first.compiled and not second.compiled and not third.compiled
    assert first.directory == second.directory == third.directory
    assert second.seconds < 5 and third.seconds < 5
    err = capfd.readouterr().err
    assert err.count(": built in ") == 1 and err.count(": cache hit, loaded in ") == 2
    library = first.directory / json.loads((first.directory / "built.json").read_text())["library"]
    assert library.is_file() and str(first.directory / "src") in (first.directory / "build.ninja").read_text()
    stat = library.stat()
    monkeypatch.setattr(backend, "_loaded", {})
    backend.build("cpu")
    assert (library.stat().st_ino, library.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    (first.directory / "built.json").unlink()  # as if killed before the marker
    monkeypatch.setattr(backend, "_loaded", {})
    again = backend.build("cpu")
    assert again.compiled and (first.directory / "built.json").is_file()
