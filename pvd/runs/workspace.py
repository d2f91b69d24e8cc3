"""A run's workspace: one run at a time, one kind of result, nothing replaced without being asked.

Every run that writes a workspace (train, distill, edit, import, evaluate, render) claims it before
any real work:

* **Preflight** -- the folder is created if needed and a probe file is written and removed, so a
  read-only, missing or full workspace is reported before the first step, not at the final save.
* **Lock** -- ``WS/.pvd.lock`` is held with ``flock`` for the whole run; the OS releases it on any
  exit (``kill -9`` included). A second run into the same workspace stops at once, naming the
  holder's pid and command (e.g. a job orphaned by a killed Snakemake).
* **Identity** -- ``WS/workspace.json`` says which command wrote the workspace and for which model
  (``{"format": "pvd-workspace/1", "command": "train", "model": "hash", "source": ...}``); a
  workspace without one is recognised by its ``record.json`` or ``checkpoint.pt``. A run refuses a
  workspace of another command or another model unless told ``overwrite``; evaluate and render never
  write into the workspace of a run that made a model (train, distill, edit, import: its
  ``record.json`` feeds the reports), even with ``overwrite``. A run over a finished result (or, for
  train and distill, an unfinished checkpoint without ``resume``) says what it found and asks for
  ``resume`` or ``overwrite``.

A finished result stays until its replacement is complete (:mod:`pvd.runs.staging`): evaluate,
render, edit and import always build their files in ``WS/.pvd-next/`` and swap them in at the end
(record last); train and distill do so when ``overwrite`` replaces a finished run. Otherwise (a fresh
workspace, an unfinished training run) ``overwrite`` removes what the workspace held before the run
starts, so a run that then fails leaves no stale result next to a new partial one.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from pvd.errors import UserError
from pvd.model import CheckpointError, first_difference, read_checkpoint
from pvd.names import ModelName
from pvd.records import write_json
from pvd.runs.spec import SpecError
from pvd.runs.staging import abandon, new_stage, recover, stage_of, unwinding

FORMAT = "pvd-workspace/1"
LOCK_NAME = ".pvd.lock"
IDENTITY_NAME = "workspace.json"
TRAINING = ("train", "distill")
PRODUCERS = ("train", "distill", "edit", "import")  # the commands that write a model (checkpoint.pt)
# what each command writes into its workspace (removed by overwrite)
OUTPUTS: dict[str, tuple[str, ...]] = {
    "train": ("checkpoint.pt", "record.json"),
    "distill": ("checkpoint.pt", "record.json"),
    "edit": ("checkpoint.pt", "record.json"),
    "import": ("checkpoint.pt", "record.json"),
    "evaluate": ("metrics.json", "record.json", "renders", "renders.partial"),
    "render": ("video.mp4", "video.gif", "frames", "record.json"),
}
_held: dict[Path, int] = {}  # workspace -> the lock file descriptor this process holds


@dataclass(frozen=True)
class WorkspaceIdentity:
    """What a workspace holds.

    Attributes:
        command: the pvd verb that writes it (``train``, ``distill``, ``evaluate``, ``render``).
        model: the model key (``hash`` for a teacher, ``hash2vm`` for a student).
        source: for evaluate/render, the checkpoint read; None for training runs.
    """

    command: str
    model: str
    source: str | None = None

    def to_dict(self) -> dict:
        return {"format": FORMAT, "command": self.command, "model": self.model, "source": self.source}

    def describe(self) -> str:
        article = "an" if self.command[0] in "aeiou" else "a"
        what = f"{article} {self.command} run of {self.model}"
        return f"{what} (of {self.source})" if self.source else what


def _space_error(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


def preflight(workspace: Path, need_bytes: int = 0) -> None:
    """Create ``workspace`` if needed and prove it writable (and, with ``need_bytes``, roomy enough).

    Raises :class:`SpecError` naming ``workspace`` and the reason.
    """
    if workspace.exists() and not workspace.is_dir():
        raise SpecError("workspace", f"{workspace} is a file; expected a folder")
    try:
        workspace.mkdir(parents=True, exist_ok=True)
        probe = workspace / f".pvd-probe-{os.getpid()}"
        with open(probe, "wb") as f:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as exc:
        reason = "no space left on the device" if _space_error(exc) else (exc.strerror or str(exc))
        raise SpecError("workspace", f"{workspace} is not writable: {reason}") from None
    if need_bytes:
        free = shutil.disk_usage(workspace).free
        if free < need_bytes:
            raise SpecError(
                "workspace",
                f"{workspace}: {free / 2**20:.1f} MiB free, but this run's checkpoints "
                f"need about {need_bytes / 2**20:.1f} MiB; free some space or use another `workspace`",
            )


def lock(workspace: Path, command: str) -> None:
    """Hold ``WS/.pvd.lock`` until this process exits; another holder is a :class:`SpecError`."""
    path = workspace / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "unknown process"
        os.close(fd)
        raise SpecError(
            "workspace",
            f"{workspace} is in use by another pvd run ({holder}); wait for it to "
            "finish (or stop it) or use another `workspace`",
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(
        fd, f"pid {os.getpid()}: pvd {command} {' '.join(sys.argv[2:])}".encode(errors="backslashreplace")[:4000], 0
    )
    _held[_key(workspace)] = fd


def release(workspace: Path) -> None:
    """Release this process's lock of ``workspace`` (if it holds one); the stage of a run that ended
    without publishing it (failed, interrupted) is removed first (:mod:`pvd.runs.staging`)."""
    fd = _held.pop(_key(workspace), None)
    if fd is not None:
        abandon(workspace, stage_of(workspace))
        os.close(fd)


def _key(workspace: Path) -> Path:
    try:
        return workspace.resolve()
    except (OSError, RuntimeError):  # a symlink loop: never locked
        return workspace.absolute()


def release_all() -> None:
    """Release the locks this process holds (tests calling ``main`` in-process use it)."""
    for workspace in list(_held):
        release(workspace)


def releasing(run):
    """A run's lifecycle function whose workspace lock is released when it returns or fails: a CLI
    process exits anyway, but library code may run many specs in one process (and read their results)."""

    @functools.wraps(run)
    def wrapped(spec):
        try:
            return run(spec)
        except BaseException:
            unwinding()  # a stop signal is not raised again inside the cleanup
            raise
        finally:
            release(spec.workspace)

    return wrapped


def found_identity(workspace: Path) -> WorkspaceIdentity | None:
    """What ``workspace`` already holds: its ``workspace.json``, else what its record or checkpoint say."""
    ident = workspace / IDENTITY_NAME
    if ident.is_file():
        try:
            d = json.loads(ident.read_text())
            return WorkspaceIdentity(str(d["command"]), str(d["model"]), d.get("source"))
        except (OSError, ValueError, KeyError, TypeError):
            raise UserError(
                f"{ident} is not a pvd workspace identity (expected JSON with 'command' and "
                "'model'); remove it or use another workspace"
            ) from None
    record = workspace / "record.json"
    if record.is_file():
        try:
            d = json.loads(record.read_text())
            kind = d.get("kind")
            model = d.get("pair") or d.get("model_type") or "?"
            if kind in OUTPUTS:
                return WorkspaceIdentity(kind, model, d.get("checkpoint") if kind not in PRODUCERS else None)
        except (OSError, ValueError, AttributeError):
            pass
    ckpt = workspace / "checkpoint.pt"
    if ckpt.is_file():
        try:
            meta = read_checkpoint(ckpt).meta
        except CheckpointError:
            return WorkspaceIdentity("train", "unknown model")
        if meta.kind == "student":
            return WorkspaceIdentity("distill", model_key(meta))
        return WorkspaceIdentity("train", meta.model_type)
    return None


def model_key(meta) -> str:
    """``hash`` for a teacher, ``hash2vm`` for a student (the workflow's model names)."""
    return str(ModelName.of(meta.model_type, meta.teacher_type if meta.kind == "student" else None))


def discard(*paths: Path) -> None:
    """Remove files or folders that a failed run leaves behind (missing ones are fine)."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()


def _clear(workspace: Path, command: str) -> None:
    discard(*(workspace / name for name in OUTPUTS[command]))


def _checkpoint_state(ckpt: Path) -> tuple[bool, int]:
    """(unfinished, steps done) of a training checkpoint."""
    stored = read_checkpoint(ckpt)
    return stored.train_state is not None, stored.meta.step


def claim(
    workspace: Path, identity: WorkspaceIdentity, *, overwrite: bool = False, resume: bool = False, need_bytes: int = 0
) -> Path:
    """Preflight, lock and check ``workspace`` for a run of ``identity`` (see the module doc).

    Returns the folder the run writes its files into: ``WS/.pvd-next`` when they are to replace a
    result only once complete (then :func:`pvd.runs.staging.publish` swaps them in, and
    :func:`pvd.runs.staging.abandon` drops them after a failure), else ``workspace`` itself.
    """
    if overwrite and resume:
        raise SpecError("resume", "and `overwrite` contradict each other: give one of them")
    credit = _replaced_bytes(workspace) if resume else 0
    preflight(workspace, max(0, need_bytes - credit) if need_bytes else 0)
    lock(workspace, identity.command)
    recover(workspace)
    found = found_identity(workspace)
    if found is not None and found != identity:
        if found.command in PRODUCERS and identity.command not in PRODUCERS:
            raise SpecError(
                "workspace",
                f"{workspace} holds {found.describe()} (its record.json feeds the reports): "
                f"pvd {identity.command} writes into a `workspace` of its own",
            )
        if not overwrite:
            raise SpecError(
                "workspace",
                f"{workspace} holds {found.describe()}, not {identity.describe()}: "
                "use another `workspace`, or `overwrite` to replace it",
            )
    if not overwrite:
        _check_finished(workspace, identity, resume)
    staged = identity.command not in TRAINING or (overwrite and (workspace / "record.json").is_file())
    if not staged and (overwrite or found != identity):
        _clear(workspace, identity.command)  # results are remade whole, never mixed
    try:
        out = new_stage(workspace) if staged else workspace
        write_json(out / IDENTITY_NAME, identity.to_dict())
    except OSError as exc:
        raise SpecError("workspace", f"{workspace} is not writable: {exc.strerror or exc}") from None
    return out


def _replaced_bytes(workspace: Path) -> int:
    """Size of the checkpoint a resumed run replaces (its room counts as free)."""
    try:
        return (workspace / "checkpoint.pt").stat().st_size
    except OSError:
        return 0


def _check_finished(workspace: Path, identity: WorkspaceIdentity, resume: bool) -> None:
    """Refuse to run over a finished result (or an unfinished training run without ``resume``)."""
    ckpt = workspace / "checkpoint.pt"
    if identity.command in TRAINING and ckpt.is_file():
        unfinished, step = _checkpoint_state(ckpt)
        if resume and not unfinished:
            raise SpecError(
                "resume", f"{ckpt} is a finished run ({step} steps), nothing to resume; use `overwrite` to train again"
            )
        if not resume:
            if unfinished:
                raise SpecError(
                    "workspace",
                    f"{workspace} holds an unfinished {identity.command} run ({ckpt}, step {step}): "
                    "continue it with `resume`, or start again with `overwrite`",
                )
            raise SpecError(
                "workspace",
                f"{workspace} holds a finished {identity.command} run ({ckpt}, {step} steps): "
                "use another `workspace`, or `overwrite` to replace it",
            )
    elif identity.command not in TRAINING and (workspace / "record.json").is_file():
        raise SpecError(
            "workspace",
            f"{workspace} holds a finished {identity.command} run ({workspace / 'record.json'}): "
            "use another `workspace`, or `overwrite` to replace it",
        )


def checkpoint_bytes(model) -> int:
    """Room a training run needs in its workspace: a resumable checkpoint (tensors plus two AdamW
    moments per parameter) written beside the previous one, with 10% and 1 MiB to spare."""
    params = sum(p.numel() * p.element_size() for p in model.field.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.field.buffers())
    grid = sum(b.numel() * b.element_size() for b in model.grid.buffers())
    return int(2 * 1.1 * (3 * params + buffers + grid)) + 2**20


# the names of identity entries in --resume messages (the rest are named by their key path)
IDENTITY_NAMES = {
    "scene_hash": "scene (the train split's camera poses and image list)",
    "teacher_sha256": "`ckpt_teacher` contents",
    "teacher_checkpoint": "`ckpt_teacher`",
    "train_config.seed": "`seed`",
    "train_config.lr": "`lr`",
    "train_config.iters": "`iters`",
    "train_config.batch_rays": "`batch_rays`",
    "train_config.precision": "`precision`",
}


def check_resume(ckpt_path: Path, meta) -> None:
    """``--resume`` continues only the run the checkpoint records: the first difference between its
    identity and ``meta.identity()`` (:meth:`pvd.model.ModelMeta.identity`) is one error line."""
    stored = read_checkpoint(ckpt_path).meta.identity()
    now = meta.identity()
    for key in ("scene_hash", "teacher_sha256"):  # checkpoints written before these were recorded
        if stored.get(key) is None:
            now = {**now, key: None}
    if "precision" not in stored["train_config"]:  # written before --precision: it ran as "auto"
        stored = {**stored, "train_config": {**stored["train_config"], "precision": "auto"}}
    diff = first_difference(stored, now)
    if diff is None:
        return
    where, old, new = diff
    name = IDENTITY_NAMES.get(where, where)
    show = lambda v: repr(v) if len(repr(v)) <= 80 else repr(v)[:77] + "..."  # noqa: E731
    raise SpecError(
        "resume",
        f"{ckpt_path} continues another run: {name} was {show(old)}, now {show(new)}; "
        "use the same settings, another `workspace`, or `overwrite` to start again",
    )
