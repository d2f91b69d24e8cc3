"""Lazy build and loading of the native kernels in ``cuda_ext/`` (the only module that knows they exist).

Two build kinds come from the same sources: ``cpu`` (``bindings.cpp`` + ``*_cpu.cpp``, wherever a C++
compiler exists) and ``cuda`` (adds the ``*.cu`` launchers and ``-DPVD_WITH_CUDA``; needs torch with CUDA
and ``nvcc``). Nothing is built at import: the first op call on a device builds (or finds) the matching
kind with ``torch.utils.cpp_extension.load`` and ninja, in a per-version cache directory

    $PVD_EXT_CACHE (default ~/.cache/pvd/ext) / <kind>-<hash of sources, flags, arch list, torch, python>

under a file lock, so parallel jobs build once and never read a half-written library. The key is the
content only: each build directory holds a private copy of the sources it was compiled from, so every
checkout of the same sources (a user's clone, CI's) loads the same build, and a finished build is
imported directly, never rebuilt in place (see :func:`_build_locked`).

``PVD_BACKEND`` picks the path: ``auto`` (default) uses native kernels where they build and warns once,
with the compiler's message, before falling back to the PyTorch twins; ``torch`` always uses the twins;
``native`` makes a failed build an error. Ops the kernels do not cover (e.g. float64 inputs, devices
other than CPU/CUDA) run on the twin in every mode.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch

from pvd.errors import SpecError, UserError

BACKEND_ENV = "PVD_BACKEND"
CACHE_ENV = "PVD_EXT_CACHE"
BACKENDS = ("auto", "torch", "native")
KINDS = ("cpu", "cuda")
CACHE_LAYOUT = 2  # 2: private source copy and built.json marker in each build directory


def _source_dir() -> Path:
    """``cuda_ext/`` of the checkout this module runs from, else the copy a wheel installs into
    ``<prefix>/share/pvd/cuda_ext`` (``pyproject.toml``'s data-files)."""
    checkout = Path(__file__).resolve().parents[2] / "cuda_ext"
    return checkout if checkout.is_dir() else Path(sys.prefix) / "share" / "pvd" / "cuda_ext"


SOURCE_DIR = _source_dir()
_ARCH = re.compile(r"^\d+\.\d+a?(\+PTX)?$")


class NativeBuildError(RuntimeError):
    """The native extension could not be built or loaded; the message carries the compiler output."""


@dataclass(frozen=True)
class BuildSpec:
    """Everything that determines one build: its kind, sources, flags, CUDA architectures, and their
    ``digest`` (hash of source and header contents, flags, architectures, torch and Python versions)."""

    kind: str
    sources: tuple[Path, ...]
    cflags: tuple[str, ...]
    cuda_cflags: tuple[str, ...]
    ldflags: tuple[str, ...]
    arch_list: str | None
    digest: str

    @property
    def name(self) -> str:
        return f"pvd_native_{self.kind}"

    @property
    def directory(self) -> Path:
        return cache_root() / f"{self.kind}-{self.digest}"

    @property
    def library(self) -> Path:
        return self.directory / f"{self.name}.so"


@dataclass(frozen=True)
class BuildResult:
    """A loaded build: where it lives, how long loading took and whether anything was compiled."""

    kind: str
    arch_list: str | None
    directory: Path
    seconds: float
    compiled: bool
    module: ModuleType


KEEP_BUILDS = 3  # per kind: the most recently used builds kept in the cache (other checkouts' too)

_lock = threading.Lock()
_loaded: dict[str, BuildResult] = {}
_failed: dict[str, str] = {}


def requested_backend() -> str:
    """The ``PVD_BACKEND`` setting: ``auto`` (unset), ``torch`` or ``native``."""
    value = os.environ.get(BACKEND_ENV, "auto").strip().lower() or "auto"
    if value not in BACKENDS:
        raise UserError(f"environment variable {BACKEND_ENV}={value!r}: expected one of {', '.join(BACKENDS)}")
    return value


def cache_root() -> Path:
    """Root of the build cache (``$PVD_EXT_CACHE``, default ``~/.cache/pvd/ext``)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "pvd" / "ext").expanduser()


def _hash_files(h, paths) -> None:
    for path in paths:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")


def source_digest() -> str:
    """Hash of every kernel source and header (what a workflow rule's params should carry)."""
    h = hashlib.sha256()
    _hash_files(h, sorted(p for p in SOURCE_DIR.glob("*") if p.suffix in {".h", ".cpp", ".cu"}))
    return h.hexdigest()[:16]


def normalize_arch_list(arch: str) -> str:
    """``"8.0,9.0"`` / ``"8.0 9.0"`` / ``"8.0;9.0"`` -> ``"8.0;9.0"`` (TORCH_CUDA_ARCH_LIST form)."""
    items = [a for a in re.split(r"[;,\s]+", arch.strip()) if a]
    bad = [a for a in items if not _ARCH.match(a)]
    if not items or bad:
        raise SpecError("arch", f"{arch!r}: expected compute capabilities like 9.0 or 8.0;9.0+PTX")
    return ";".join(dict.fromkeys(items))


def _detected_arch_list() -> str | None:
    """``TORCH_CUDA_ARCH_LIST`` if set, else the capabilities of the visible GPUs, else None."""
    env = os.environ.get("TORCH_CUDA_ARCH_LIST")
    if env:
        try:
            return normalize_arch_list(env)
        except SpecError as exc:
            raise UserError(f"$TORCH_CUDA_ARCH_LIST {exc.problem}") from None
    if torch.cuda.is_available():
        caps = sorted({torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})
        return ";".join(f"{major}.{minor}" for major, minor in caps)
    return None


def cuda_home() -> Path | None:
    """The CUDA toolkit root: $CUDA_HOME / $CUDA_PATH, /usr/local/cuda, or the parent of nvcc's bin/."""
    for candidate in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if candidate and (Path(candidate) / "bin" / "nvcc").exists():
            return Path(candidate)
    nvcc = shutil.which("nvcc")
    if nvcc and (Path(nvcc).resolve().parents[1] / "include" / "cuda_runtime.h").exists():
        return Path(nvcc).resolve().parents[1]
    return None


def build_spec(kind: str, arch_list: str | None = None) -> BuildSpec:
    """The build of ``kind`` ('cpu' or 'cuda'); for 'cuda' the architectures default to the detected ones."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    sources = sorted(SOURCE_DIR.glob("*.cpp"))
    openmp = ("-fopenmp",) if sys.platform.startswith("linux") else ()
    cflags, cuda_cflags, arch = ("-O3",) + openmp, (), None
    if kind == "cuda":
        sources += sorted(SOURCE_DIR.glob("*.cu"))
        cflags += ("-DPVD_WITH_CUDA",)
        cuda_cflags = ("-O3", "-DPVD_WITH_CUDA")
        arch = normalize_arch_list(arch_list) if arch_list else _detected_arch_list()
    h = hashlib.sha256()
    _hash_files(h, sources + sorted(SOURCE_DIR.glob("*.h")))
    for part in (
        CACHE_LAYOUT,
        kind,
        cflags,
        cuda_cflags,
        openmp,
        arch,
        torch.__version__,
        torch.version.cuda,
        sys.version_info[:2],
        sys.platform,
    ):
        h.update(repr(part).encode() + b"\0")
    return BuildSpec(kind, tuple(sources), cflags, cuda_cflags, openmp, arch, h.hexdigest()[:16])


def _check_toolchain(spec: BuildSpec) -> None:
    if not spec.sources or not (SOURCE_DIR / "bindings.cpp").exists():
        raise NativeBuildError(f"kernel sources not found in {SOURCE_DIR}")
    if spec.kind == "cuda":
        if torch.version.cuda is None:
            raise NativeBuildError(f"torch {torch.__version__} is built without CUDA")
        if cuda_home() is None:
            raise NativeBuildError("nvcc not found (set CUDA_HOME to the CUDA toolkit)")
        if spec.arch_list is None:
            raise NativeBuildError(
                "no GPU to detect the CUDA architecture from: give the compute capabilities (arch, e.g. 9.0) "
                "or set TORCH_CUDA_ARCH_LIST"
            )


def _cpp_extension():
    """Import torch.utils.cpp_extension with CUDA_HOME and ninja on PATH resolved first."""
    home = cuda_home()
    if home is not None and not os.environ.get("CUDA_HOME"):
        os.environ["CUDA_HOME"] = str(home)
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(logging.ERROR)  # its import warns "No CUDA runtime is found" on GPU-less hosts
    try:
        from torch.utils import cpp_extension
    finally:
        logger.setLevel(level)

    if home is not None and (
        cpp_extension.CUDA_HOME is None or not (Path(cpp_extension.CUDA_HOME) / "bin" / "nvcc").exists()
    ):
        cpp_extension.CUDA_HOME = str(home)
    if not cpp_extension.is_ninja_available():
        os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return cpp_extension


def build(kind: str, arch_list: str | None = None, verbose: bool = False) -> BuildResult:
    """Build (or find in the cache) and load the ``kind`` extension. Raises :class:`NativeBuildError`."""
    with _lock:
        spec = build_spec(kind, arch_list)
        loaded = _loaded.get(kind)
        if loaded is not None and loaded.directory == spec.directory:
            return loaded
        _check_toolchain(spec)
        result = _build_locked(spec, verbose)
        _loaded.setdefault(kind, result)
        return result


def _import_library(name: str, library: Path) -> ModuleType:
    """Import an already built extension module from its ``.so`` (no compiler, no ninja)."""
    import importlib.util

    module_spec = importlib.util.spec_from_file_location(name, library)
    if module_spec is None or module_spec.loader is None:
        raise NativeBuildError(f"cannot load the native kernels from {library}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _private_sources(spec: BuildSpec) -> list[Path]:
    """Copy the build's sources and headers into ``DIR/src`` (what ``build.ninja`` then names, so
    the build is the same whichever checkout made it); returns the copied sources."""
    src = spec.directory / "src"
    src.mkdir(exist_ok=True)
    for path in list(spec.sources) + sorted(SOURCE_DIR.glob("*.h")):
        shutil.copy2(path, src / path.name)
    return [src / p.name for p in spec.sources]


def _build_locked(spec: BuildSpec, verbose: bool) -> BuildResult:
    """Load ``spec``'s build from the cache, or build it there first, under its file lock.

    A build directory is keyed by content only and is written once: the sources are copied into it,
    compiled, and ``DIR/built.json`` (naming the library, its size and sha256) is written last,
    atomically. A library that does not match its marker (truncated, overwritten) is never loaded:
    one line says so and the directory is built again. A directory with that
    marker is a cache hit: its library is imported without running the compiler or ninja, so two
    checkouts of the same sources share one build, and a library that a process has loaded is never
    rewritten. One line on stderr tells a cache hit from a build.
    """
    from filelock import FileLock

    start = time.perf_counter()
    spec.directory.parent.mkdir(parents=True, exist_ok=True)
    marker = spec.directory / "built.json"
    with FileLock(str(spec.directory) + ".lock", timeout=3600):
        library = None
        if marker.is_file():
            try:
                built = json.loads(marker.read_text())
                library = spec.directory / built["library"]
            except (OSError, ValueError, KeyError, TypeError):
                library = None
        if library is not None and library.is_file():
            damage = _damage(library, built)
            if damage is not None:
                print(
                    f"pvd: native kernels ({spec.kind}): {library} is damaged ({damage}); rebuilding",
                    file=sys.stderr,
                    flush=True,
                )
                library = None
            elif "sha256" not in built:  # a marker written before verification: record the check now
                _write_marker(marker, library, spec.digest)
        compiled = library is None or not library.is_file()
        if compiled:
            if spec.directory.exists():  # an interrupted build: start it again from nothing
                shutil.rmtree(spec.directory)
            spec.directory.mkdir()
            print(
                f"pvd: building native kernels ({spec.kind}) in {spec.directory} (not in the cache)",
                file=sys.stderr,
                flush=True,
            )
            module = _compile(spec, _private_sources(spec), verbose)
            library = Path(module.__file__)
            _write_marker(marker, library, spec.digest)
        else:
            module = _import_library(library.name.split(".")[0], library)  # torch may have versioned the name
        os.utime(spec.directory)  # mark as used now (the cache keeps the most recently used builds)
    seconds = time.perf_counter() - start
    state = "built" if compiled else "cache hit, loaded"
    print(
        f"pvd: native kernels ({spec.kind}): {state} in {seconds:.1f} s from {spec.directory}",
        file=sys.stderr,
        flush=True,
    )
    if compiled:
        prune_cache(spec.kind)
    return BuildResult(spec.kind, spec.arch_list, spec.directory, seconds, compiled, module)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_marker(marker: Path, library: Path, digest: str) -> None:
    """Write ``built.json`` (the library's name, size and sha256) under a unique temporary name and
    rename it into place: a reader on another checkout or account never sees half of it."""
    payload = {"library": library.name, "digest": digest}
    if library.is_file():  # (torch skips the link of a name this process loaded before: nothing to hash)
        payload.update(size=library.stat().st_size, sha256=_file_sha256(library))
    fd, tmp = tempfile.mkstemp(prefix=".built.", suffix=".tmp", dir=marker.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(payload) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, marker)


def _elf_truncated(library: Path) -> bool:
    """Whether an ELF file ends before its section header table (64-bit little-endian; other files:
    False). The check of a marker written before sizes and hashes were recorded."""
    with open(library, "rb") as fh:
        head = fh.read(64)
    if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
        return len(head) < 64 and head[:4] == b"\x7fELF"[: len(head)]
    shoff = int.from_bytes(head[0x28:0x30], "little")
    shentsize = int.from_bytes(head[0x3A:0x3C], "little")
    shnum = int.from_bytes(head[0x3C:0x3E], "little")
    return library.stat().st_size < shoff + shentsize * shnum


def _damage(library: Path, built: dict) -> str | None:
    """What is wrong with a cached ``library`` against its ``built.json`` (size, then sha256), or None.
    Loading a truncated library would end the process with SIGBUS; it is rebuilt instead."""
    size = library.stat().st_size
    if "sha256" not in built:
        return "it ends before its section headers" if _elf_truncated(library) else None
    if size != built.get("size"):
        return f"{size} bytes, {built.get('size')} when built"
    if _file_sha256(library) != built["sha256"]:
        return "its sha256 differs from the one recorded when built"
    return None


def _compile(spec: BuildSpec, sources: list[Path], verbose: bool) -> ModuleType:
    """Compile and load ``sources`` with torch's ninja build into ``spec.directory``."""
    cpp_extension = _cpp_extension()
    saved_arch = os.environ.get("TORCH_CUDA_ARCH_LIST")
    if spec.arch_list:
        os.environ["TORCH_CUDA_ARCH_LIST"] = spec.arch_list
    try:
        return cpp_extension.load(
            name=spec.name,
            sources=[str(p) for p in sources],
            extra_cflags=list(spec.cflags),
            extra_cuda_cflags=list(spec.cuda_cflags),
            extra_ldflags=list(spec.ldflags),
            extra_include_paths=[str(sources[0].parent)],
            build_directory=str(spec.directory),
            with_cuda=spec.kind == "cuda",
            verbose=verbose,
        )
    except Exception as exc:  # the compiler's output is in the message
        raise NativeBuildError(f"building the {spec.kind} kernels in {spec.directory} failed: {exc}") from exc
    finally:
        if saved_arch is None:
            os.environ.pop("TORCH_CUDA_ARCH_LIST", None)
        else:
            os.environ["TORCH_CUDA_ARCH_LIST"] = saved_arch


def prune_cache(kind: str, keep: int = KEEP_BUILDS) -> list[Path]:
    """Delete all but the ``keep`` most recently used ``kind`` builds from the cache; returns the
    deleted directories. A build whose lock another process holds (building or about to load it) is
    kept; processes that already loaded a deleted library keep running (the mapping outlives it)."""
    from filelock import FileLock, Timeout

    builds = sorted(
        (d for d in cache_root().glob(f"{kind}-*") if d.is_dir()), key=lambda d: d.stat().st_mtime, reverse=True
    )
    removed = []
    for directory in builds[keep:]:
        lock = FileLock(str(directory) + ".lock")
        try:
            with lock.acquire(timeout=0):
                shutil.rmtree(directory, ignore_errors=True)
        except Timeout:
            continue
        Path(str(directory) + ".lock").unlink(missing_ok=True)
        removed.append(directory)
    return removed


def native_module(device_type: str) -> ModuleType | None:
    """The loaded extension serving tensors on ``device_type`` ('cpu'/'cuda'), or None (use the twin).

    Builds lazily on the first call per kind. In ``auto`` mode a failed build warns once and returns
    None from then on; in ``native`` mode it raises :class:`pvd.errors.UserError`.
    """
    mode = requested_backend()
    if mode == "torch" or device_type not in KINDS:
        return None
    if device_type == "cpu" and "cuda" in _loaded:  # the CUDA build carries the CPU launchers too
        return _loaded["cuda"].module
    if device_type in _loaded:
        return _loaded[device_type].module
    if device_type in _failed:
        if mode == "native":
            raise UserError(f"{BACKEND_ENV}=native but {_failed[device_type]}")
        return None
    try:
        return build(device_type).module
    except NativeBuildError as exc:
        _failed[device_type] = str(exc)
        if mode == "native":
            raise UserError(f"{BACKEND_ENV}=native but {exc}") from exc
        warnings.warn(f"pvd: using the PyTorch twins for {device_type} tensors: {exc}", RuntimeWarning, stacklevel=3)
        return None


def active_backend(device: str | torch.device = "cpu") -> str:
    """Which implementation the ops use for float32 tensors on ``device``: 'native-cpu', 'native-cuda'
    or 'torch' (for ``record.json``). Triggers the lazy build if it has not happened yet."""
    device_type = torch.device(device).type
    return f"native-{device_type}" if native_module(device_type) is not None else "torch"
