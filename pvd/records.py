"""Run records and atomic file writes.

Every ``pvd train | distill | evaluate`` run writes ``record.json``: what ran (command, config),
with which code (package version + git commit when available), on which backend and device, how
long it took and what it measured. Tables and figures are built from these records only, read back
as typed :class:`pvd.record_types.Record` (the layout and its version are described there).

Files are written to a temporary name beside the target and renamed, so a crash never leaves a
partial file that looks complete; a full disk or read-only folder at any such write is one
:class:`WriteError` naming the file (the temporary file is removed). A file written so gets the mode
an ordinary ``open`` would give it (``0o666`` less the process's umask, :func:`file_mode`), not the
private ``0o600`` of its temporary name.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pvd
from pvd.errors import UserError
from pvd.record_types import RECORD_FORMAT, Record

WRITE_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
}


ROOM_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class WriteError(UserError):
    """A file could not be written (full disk, quota, read-only folder); the message names it.

    Attributes:
        target: the file; reason: what stopped it (``no space left on the device``, ...);
        lacks_room: a full disk or quota (else a read-only or forbidden folder).
    """

    def __init__(self, message: str, target: str | Path = "", reason: str = "", lacks_room: bool = False):
        super().__init__(message)
        self.target, self.reason, self.lacks_room = target, reason, lacks_room


def write_error(exc: OSError, target: str | Path) -> WriteError | None:
    """The one-line :class:`WriteError` of ``exc`` when it is a full-disk/read-only fault, else None.
    The advice suits a run (``resume`` continues one that kept a checkpoint); a writer without
    ``resume`` words its own from :attr:`WriteError.reason`."""
    reason = WRITE_ERRNOS.get(exc.errno)
    if reason is None:
        return None
    lacks_room = exc.errno in ROOM_ERRNOS
    advice = "free some space and rerun" if lacks_room else "fix the folder (or write elsewhere) and rerun"
    return WriteError(
        f"cannot write {target}: {reason}; {advice} (a run that kept a checkpoint continues with `resume`)",
        target,
        reason,
        lacks_room,
    )


def current_umask() -> int:
    """The process's umask, read without changing it (Linux: ``Umask:`` of ``/proc/self/status``).

    Elsewhere it is read by setting and restoring it (``os.umask``), which another thread creating a
    file at that instant could observe; Linux, where the runs go, never takes that path.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode(directory: bool = False) -> int:
    """The permission bits a new file (``0o666``) or folder (``0o777``) gets under the current umask."""
    return (0o777 if directory else 0o666) & ~current_umask()


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success give it :func:`file_mode` (mkstemp made it
    ``0o600``) and rename it onto ``target``."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise (write_error(exc, target) or exc) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, file_mode())
        os.replace(tmp_path, target)
    except OSError as exc:
        raise (write_error(exc, target) or exc) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's contents, read in ``chunk``-byte blocks (provenance in records)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(target: str | Path, payload: Any) -> None:
    """Atomically write ``payload`` as indented JSON."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """sha256 (16 hex digits) of the contents of pvd's own Python sources (names and bytes): what
    cached results computed by this code are keyed by, so that any edit of the code invalidates them."""
    root = Path(pvd.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def code_version() -> dict:
    """Package version and, when run from a git checkout, the commit and whether it is dirty."""
    info: dict[str, Any] = {"pvd": pvd.__version__}
    root = Path(pvd.__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=5,
            )
            info["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def device_info(device: str) -> dict:
    """Human-readable description of the device a run used."""
    import torch

    info = {
        "device": str(device),
        "torch": torch.__version__,
        "host": platform.node(),
        "threads": torch.get_num_threads(),
    }
    if str(device).startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def make_record(
    kind: str, config: dict, device: str, backend: str, seconds: float, metrics: dict, **extra: Any
) -> dict:
    """The common record layout; ``extra`` adds kind-specific fields. The record is checked as it will
    be read back (:meth:`Record.from_json` of its JSON text): a kind without a part, or a part's field
    missing or of another type, is a :class:`pvd.record_types.RecordError` here, not in the report."""
    payload = {
        "format": RECORD_FORMAT,
        "kind": kind,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "code_version": code_version(),
        "backend": backend,
        **device_info(device),
        "seconds": round(float(seconds), 3),
        "config": config,
        "metrics": metrics,
        **extra,
    }
    Record.from_json(json.loads(json.dumps(payload, default=str)), where=f"the {kind} record being written")
    return payload
