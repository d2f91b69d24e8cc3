"""A run's result is built beside the finished one and swapped in at the end.

::

    WS/.pvd-next/   the replacement being built (a run that dies leaves it; the next claim removes it)
    WS/.pvd-old/    the replaced files during the swap, and the swap's manifest (removed at its end)

:func:`publish` makes the files of ``.pvd-next`` the workspace's result: with SIGINT, SIGTERM and
SIGHUP held back, it writes the manifest (the names coming in), moves the old ``record.json`` out
first (so a reader never sees the old record beside new files), then replaces each other result file
and the identity, and moves the new ``record.json`` in last. Result files of the old run that the new
one does not write (``renders/`` of an evaluation rerun without ``save_renders``, ``video.mp4`` when
the rerun writes ``video.gif``) go with it: results are remade whole, never mixed.

Only a SIGKILL or a crash between those renames can cut a swap short. The next run that claims the
workspace then calls :func:`recover` (under the workspace lock): if a name of the manifest is still
in ``.pvd-next`` the swap was cut short and the old files are put back (the new ones already moved
in are removed); otherwise the swap was complete and ``.pvd-old`` is removed. A concurrent reader
sees the old result or the new one, except within those renames, where it may find no ``record.json``
(an unfinished workspace, never a mixed finished one).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STAGE_NAME = ".pvd-next"
OLD_NAME = ".pvd-old"
MANIFEST = "manifest.json"
RECORD = "record.json"
IDENTITY = "workspace.json"
# every file a run writes into a workspace besides its record and identity
RESULT_NAMES = ("checkpoint.pt", "metrics.json", "renders", "renders.partial", "video.mp4", "video.gif", "frames")
HELD_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
_stopped: list[int] = []  # the stop signals this process received (see stop_handlers)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a cancelled job, ``kill``): unwinds like an interrupt, so a run cleans up after itself."""


_unwinding: list[bool] = []  # set once a run is seen unwinding (its cleanup must not be interrupted again)
RERAISE_SECONDS = 1.0


def _stop_exception() -> KeyboardInterrupt:
    return Terminated() if _stopped[-1] == signal.SIGTERM else KeyboardInterrupt()


def _on_stop(signum, frame) -> None:
    _stopped.append(signum)
    # the exception below may be swallowed where Python ignores exceptions (a destructor, a finalizer):
    # raise it again every RERAISE_SECONDS until the run is seen unwinding
    signal.setitimer(signal.ITIMER_REAL, RERAISE_SECONDS, RERAISE_SECONDS)
    raise _stop_exception()


def _on_alarm(signum, frame) -> None:
    if _stopped and not _unwinding:
        raise _stop_exception()
    signal.setitimer(signal.ITIMER_REAL, 0)


def unwinding() -> None:
    """A run is unwinding (its cleanup follows): no more re-raised stops."""
    _unwinding.append(True)
    if threading.current_thread() is threading.main_thread():
        signal.setitimer(signal.ITIMER_REAL, 0)


@contextmanager
def stop_handlers() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``KeyboardInterrupt`` / :class:`Terminated` and are remembered: a stop
    swallowed where Python ignores exceptions (a destructor) is raised again each second (SIGALRM)
    until the run unwinds (:func:`unwinding`), and keeps :func:`publish` from swapping the result in.
    Main thread only (elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _on_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, _on_alarm)
    _stopped.clear()
    _unwinding.clear()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for s, handler in previous.items():
            signal.signal(s, handler)


def _check_not_stopped() -> None:
    if _stopped:
        raise _stop_exception()


def stage_of(workspace: Path) -> Path:
    """``WS/.pvd-next``: where a run builds the result that replaces the workspace's."""
    return workspace / STAGE_NAME


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP back (they arrive when the block ends) in this thread."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def new_stage(workspace: Path) -> Path:
    """An empty ``WS/.pvd-next`` (what a dead run left there is removed)."""
    stage = stage_of(workspace)
    _remove(stage)
    stage.mkdir()
    return stage


def publish(workspace: Path, out: Path) -> None:
    """Make ``out`` (a stage of ``workspace``) the workspace's result (see the module doc); nothing
    to do when the run wrote in place (``out`` is ``workspace``)."""
    if out == workspace:
        return
    _check_not_stopped()
    incoming = [n for n in (*RESULT_NAMES, IDENTITY, RECORD) if (out / n).exists()]
    old = workspace / OLD_NAME
    with signals_held():
        _remove(old)
        old.mkdir()
        (old / MANIFEST).write_text(json.dumps(incoming))
        for name in (RECORD, *RESULT_NAMES, IDENTITY):
            if name == IDENTITY and name not in incoming:
                continue  # keep the identity unless the stage brings one
            if (workspace / name).exists():
                os.replace(workspace / name, old / name)
            if name != RECORD and name in incoming:
                os.replace(out / name, workspace / name)
        if RECORD in incoming:
            os.replace(out / RECORD, workspace / RECORD)
        _remove(old)
        _remove(out)


def abandon(workspace: Path, out: Path) -> None:
    """Remove the stage of a run that failed (nothing to do for a run that wrote in place)."""
    if out != workspace:
        _remove(out)


def recover(workspace: Path) -> None:
    """Finish or undo a swap that a SIGKILL cut short, and remove a dead run's stage (the caller holds
    the workspace lock)."""
    old, stage = workspace / OLD_NAME, stage_of(workspace)
    if old.is_dir():
        try:
            incoming = json.loads((old / MANIFEST).read_text())
        except (OSError, ValueError):
            incoming = []  # cut short before the manifest: nothing had moved yet
        if any((stage / n).exists() for n in incoming) or not (old / MANIFEST).is_file():
            for name in incoming:
                if not (stage / name).exists():  # moved in: a file of the new result
                    _remove(workspace / name)
            for item in old.iterdir():
                if item.name != MANIFEST:
                    _remove(workspace / item.name)
                    os.replace(item, workspace / item.name)
        _remove(old)
    _remove(stage)
