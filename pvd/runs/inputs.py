"""Reading a run's input checkpoints: never one that is half-written or still being trained, and
always recorded by content.

A checkpoint is *unfinished* when it holds a training run's resume state (a run stopped early, or a
periodic checkpoint of a run still going), and *in progress* when the workspace it lies in is locked
by a running pvd process (:mod:`pvd.runs.workspace`). Either is refused unless the spec says
``allow_unfinished``; then the record says so. Every record lists the checkpoints its run read with
their SHA-256 and step (``inputs``), so two results of one checkpoint path can be told apart.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from pvd.model import Model, build_model, load_state, read_checkpoint
from pvd.records import sha256_file
from pvd.runs.spec import Spec, SpecError, option
from pvd.runs.workspace import LOCK_NAME


@dataclass(frozen=True, kw_only=True)
class InputOptions(Spec):
    """Options of the runs that read a trained checkpoint."""

    allow_unfinished: bool = option(
        False,
        help="read a checkpoint of an unfinished run, or of a workspace whose run is still going (recorded as "
        "such); refused by default",
    )


def in_progress(ckpt: Path) -> bool:
    """Whether a running pvd process holds the lock of the workspace ``ckpt`` lies in."""
    lock = ckpt.parent / LOCK_NAME
    if not lock.is_file():
        return False
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def read_input(field: str, path: Path, allow_unfinished: bool) -> tuple[Model, dict]:
    """The model at ``path`` (the spec's ``field``) on the CPU and its provenance for the record:
    ``{"option", "checkpoint", "sha256", "step", "unfinished", "in_progress"}``."""
    busy = in_progress(path)
    stored = read_checkpoint(path)
    unfinished = stored.train_state is not None
    if (busy or unfinished) and not allow_unfinished:
        state = "is being written by a running pvd process" if busy else f"is unfinished (step {stored.meta.step})"
        raise SpecError(
            field, f"{path} {state}: wait for its run to finish, or give `allow_unfinished` to read it as it is"
        )
    model = load_state(build_model(stored.meta, "cpu"), stored)
    provenance = {
        "option": field,
        "checkpoint": str(path),
        "sha256": sha256_file(path),
        "step": stored.meta.step,
        "unfinished": unfinished,
        "in_progress": busy,
    }
    return model, provenance
