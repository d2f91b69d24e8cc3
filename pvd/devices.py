"""GPU slots for ``--device auto``: several jobs per GPU, every GPU of the machine used, no slot booked twice.

A slot is a lock file ``<lock_dir>/gpu-<id>.slot-<k>`` held with ``flock`` for the life of the
process: the operating system releases it when the process ends in any way (exit, crash,
``kill -9``), so no cleanup code is involved and a dead holder never blocks a GPU. ``<id>`` is the
physical GPU as ``CUDA_VISIBLE_DEVICES`` names it (an index or a UUID), so jobs that see different
subsets of the GPUs (a SLURM node, hand-set masks) still lock the same files for the same GPU;
with ``CUDA_VISIBLE_DEVICES`` unset it is the device index. A job claims the least-used GPU first
(slot 0 of every GPU before slot 1 of any), so k jobs on n GPUs spread out.

On SLURM each job already sees only the GPU(s) it was given: ``auto`` then claims among those,
which changes nothing when one job gets one GPU.

Environment:
    PVD_GPU_LOCK_DIR: the lock folder (default ``/tmp/pvd-gpu-slots``, shared by every user of the
        machine: the files are created world-writable).
    PVD_FAKE_GPU_COUNT: pretend this many GPUs exist (read only here, for the allocator's tests on
        machines without GPUs; the claimed ``cuda:N`` device is then not usable).
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path

from pvd.errors import SpecError, UserError

DEFAULT_LOCK_DIR = "/tmp/pvd-gpu-slots"
POLL_SECONDS = 2.0


@dataclass
class SlotClaim:
    """A held GPU slot (released when the process ends or :meth:`release` is called).

    Attributes:
        index: the CUDA device index within this process's visible devices (``cuda:<index>``).
        gpu_id: the physical GPU's name (``CUDA_VISIBLE_DEVICES`` entry or index).
        slot: which of the GPU's slots.
        path: the lock file.
        waited_seconds: how long the claim waited for a free slot.
    """

    index: int
    gpu_id: str
    slot: int
    path: Path
    waited_seconds: float
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def to_dict(self) -> dict:
        return {
            "gpu_id": self.gpu_id,
            "slot": self.slot,
            "lock": str(self.path),
            "waited_seconds": round(self.waited_seconds, 3),
        }


def visible_gpus() -> list[str]:
    """Physical ids of the GPUs this process sees, in CUDA index order."""
    fake = os.environ.get("PVD_FAKE_GPU_COUNT")
    if fake is not None:
        try:
            count = int(fake)
        except ValueError:
            raise UserError(f"$PVD_FAKE_GPU_COUNT must be an integer, got {fake!r}") from None
    else:
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mask = os.environ.get("CUDA_VISIBLE_DEVICES")
    names = [v.strip() for v in mask.split(",") if v.strip()] if mask else []
    return [names[i] if i < len(names) else str(i) for i in range(count)]


def lock_dir() -> Path:
    path = Path(os.environ.get("PVD_GPU_LOCK_DIR", DEFAULT_LOCK_DIR))
    try:
        path.mkdir(parents=True, exist_ok=True)
        if path.stat().st_uid == os.getuid():
            os.chmod(path, 0o1777)  # shared by every user of the machine, like /tmp
    except OSError as exc:
        raise UserError(
            f"GPU slot lock folder {path} cannot be used ({exc.strerror}); set $PVD_GPU_LOCK_DIR to a writable folder"
        ) from None
    return path


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive lock on ``path``, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def claim_slot(
    slots_per_gpu: int, gpus: list[str] | None = None, timeout: float | None = None, on_wait=None
) -> SlotClaim | None:
    """Claim a free slot on one of ``gpus`` (default: :func:`visible_gpus`); None when there are none.

    Waits (polling) while every slot is held; ``on_wait(message)`` is told once. ``timeout``
    (seconds) turns a long wait into a :class:`SpecError` naming ``device``.
    """
    if slots_per_gpu < 1:
        raise SpecError("gpu_slots", f"must be >= 1, got {slots_per_gpu}")
    gpus = visible_gpus() if gpus is None else gpus
    if not gpus:
        return None
    folder = lock_dir()
    start, told = time.monotonic(), False
    while True:
        for slot in range(slots_per_gpu):
            for index, gpu in enumerate(gpus):
                path = folder / f"gpu-{gpu}.slot-{slot}"
                fd = _try_lock(path)
                if fd is not None:
                    return SlotClaim(index, gpu, slot, path, time.monotonic() - start, fd)
        waited = time.monotonic() - start
        if timeout is not None and waited >= timeout:
            raise SpecError(
                "device",
                f"auto: no free GPU slot after {waited:.0f} s ({len(gpus)} GPU(s) x "
                f"{slots_per_gpu} slot(s), locks in {folder})",
            )
        if not told and on_wait is not None:
            on_wait(
                f"device auto: all {len(gpus) * slots_per_gpu} GPU slots are busy; waiting for one (locks in {folder})"
            )
            told = True
        time.sleep(POLL_SECONDS)
