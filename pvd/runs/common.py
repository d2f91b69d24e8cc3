"""Options shared by several run kinds, declared once as spec base classes.

:class:`DeviceOptions` (every run that computes), :class:`OutputOptions` (every run that writes a
workspace) and :class:`TrainingOptions` (``train`` and ``distill``: the scene, the schedule, resume).
A run kind's spec inherits the ones it has; :mod:`pvd.runs.spec` explains the declarations.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from pvd.data import DATA_TYPES
from pvd.evaluate.probe import ProbeConfig
from pvd.presets import PRESET_NAMES
from pvd.runs.device import DEVICE_HELP, device_problem
from pvd.runs.spec import Spec, SpecError, option
from pvd.train.loop import PRECISIONS

PROBE = ProbeConfig()


@dataclass(frozen=True, kw_only=True)
class DeviceOptions(Spec):
    """Where a run computes."""

    device: str = option("auto", help=DEVICE_HELP, check=device_problem)
    gpu_slots: int | None = option(
        None, minimum=1, help="with device auto: jobs that may share one GPU (default: $PVD_GPU_SLOTS, else 1)"
    )
    no_progress: bool = option(False, help="no progress bar", aliases=("--no-progress",))


def workspace_problem(path: Path) -> str | None:
    """The spec check of a ``workspace``: a name that JSON records can hold (UTF-8), each part no
    longer than the file system allows, and no symbolic link loop on the way."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return f"{os.fsencode(path)!r} is not valid UTF-8: give a name of readable characters"
    probe = path.absolute()
    for part in probe.parts:
        name_max = _name_max(probe)
        if len(os.fsencode(part)) > name_max:
            return f"{path}: the name {part!r} is longer than the file system allows"
    for prefix in reversed((probe, *probe.parents)):
        try:
            os.stat(prefix)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return f"{path}: {prefix} is a symbolic link loop"
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                break
    return None


def _name_max(path: Path) -> int:
    """The longest file name (bytes) of the file system holding ``path`` (or its nearest existing parent)."""
    for parent in (path, *path.parents):
        try:
            return os.pathconf(parent, "PC_NAME_MAX")
        except OSError:
            continue
    return 255


@dataclass(frozen=True, kw_only=True)
class OutputOptions(Spec):
    """The workspace a run writes (``checkpoint.pt`` / ``metrics.json`` / ``video.mp4`` and ``record.json``)."""

    workspace: Path = option(help="output folder (the run's files and its record.json)", check=workspace_problem)
    overwrite: bool = option(
        False,
        help="replace what the workspace holds (another model's or another run's results; an unfinished "
        "run's checkpoint) instead of refusing",
    )


def check_scene_dir(path: Path) -> str | None:
    """The spec check of a ``scene_dir``: an existing folder."""
    return None if path.is_dir() else f"{path} is not a directory"


@dataclass(frozen=True, kw_only=True)
class TrainingOptions(DeviceOptions, OutputOptions):
    """Options of the runs that optimise a field on a scene (train, distill)."""

    scene_dir: Path = option(
        positional=True, help="scene folder (Blender, LLFF, NSVF or capture layout)", check=check_scene_dir
    )
    data_type: str | None = option(
        None, choices=DATA_TYPES, help="on-disk format of SCENE_DIR (distill: default the teacher checkpoint's)"
    )
    preset: str = option(
        "tiny",
        choices=PRESET_NAMES,
        workflow=True,
        help="model and schedule sizes (tiny: CPU minutes; paper: the paper's, for GPUs)",
    )
    iters: int | None = option(
        None, minimum=1, into="iters", workflow=True, help="optimisation steps (default: the preset's)"
    )
    batch_rays: int | None = option(
        None, minimum=1, into="batch_rays", workflow=True, help="rays per step (default: the preset's)"
    )
    lr: float | None = option(None, above=0, into="lr", help="base learning rate (default: the preset's)")
    downscale: int | None = option(
        None, minimum=1, help="image downscale factor K (default: 1; distill: the teacher's)"
    )
    seed: int = option(0, minimum=0, into="seed", help="seed of every random draw")
    precision: str | None = option(
        None,
        choices=PRECISIONS,
        into="precision",
        workflow=True,
        help="arithmetic of the steps: auto (fp16 autocast with loss scaling on CUDA; on the CPU bf16 for mlp models "
        "when the CPU has AVX512-BF16 or AMX, else float32), fp32, or bf16 (bfloat16 autocast) (default: auto)",
    )
    resume: bool = option(False, help="continue from WS/checkpoint.pt")
    ckpt_every: int | None = option(
        None,
        minimum=0,
        into="ckpt_every",
        help="steps between resumable checkpoints (0: only when stopped; default: the preset's)",
    )
    stop_at: int | None = option(
        None,
        minimum=1,
        help="stop at this step with a resumable checkpoint and no record "
        "(for time-limited cluster slots; continue with resume)",
    )
    curve_points: int = option(
        PROBE.points,
        minimum=0,
        help="learning-curve probes per run, evenly spaced, first and last step included (0: none)",
    )
    probe_views: int = option(PROBE.views, minimum=1, help="test views of the learning curve")
    probe_size: int = option(PROBE.size, minimum=1, help="longest side in pixels of a probed view (area-averaged down)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.resume and self.overwrite:
            raise SpecError("resume", "and `overwrite` contradict each other: give one of them")

    def probe_config(self) -> ProbeConfig:
        """The learning-curve probe of these options."""
        return ProbeConfig(points=self.curve_points, views=self.probe_views, size=self.probe_size)


def density_range_problem(value: tuple[float, float]) -> str | None:
    """The spec check of a ``density_range``: LO < HI."""
    return None if value[0] < value[1] else f"LO must be < HI, got {value[0]:g} {value[1]:g}"
