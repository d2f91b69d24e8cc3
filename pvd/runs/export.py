"""``export``: a pvd checkpoint -> the reference code's checkpoint format (``.pth``).

Only models whose field is the reference architecture can be written: ``paper``-preset fields in
torch-ngp's frame (imported teachers and the students distilled from them) with the density clamp
[-2, 7]; anything else (``tiny`` sizes above all) is a clear error naming what differs. An existing
``out`` file is replaced only with ``overwrite``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pvd.interop import export_reference, write_reference
from pvd.model import load_model
from pvd.records import WriteError
from pvd.runs.spec import Spec, SpecError, option


def check_ckpt_file(path: Path) -> str | None:
    """The spec check of an input checkpoint: an existing file."""
    if path.is_dir():
        return f"{path} is a folder; expected a checkpoint file (e.g. {path / 'checkpoint.pt'})"
    return None if path.is_file() else f"{path} does not exist"


def check_pth(path: Path) -> str | None:
    """The spec check of ``out``: a ``.pth`` file name."""
    return None if path.suffix == ".pth" else f"{path}: the reference's checkpoints end in .pth"


@dataclass(frozen=True, kw_only=True)
class ExportSpec(Spec):
    """Everything ``export`` is told."""

    ckpt: Path = option(help="pvd teacher or student checkpoint.pt", check=check_ckpt_file)
    out: Path = option(help="reference checkpoint to write (.pth)", check=check_pth)
    epoch: int = option(0, minimum=0, help="the file's 'epoch' entry")
    overwrite: bool = option(False, help="replace an existing out file")


def run_export(spec: ExportSpec) -> Path:
    """Write ``spec.ckpt`` in the reference's format to ``spec.out``."""
    if spec.out.is_dir():
        raise SpecError("out", f"{spec.out} is a folder; expected a file name ending in .pth")
    if spec.out.exists() and not spec.overwrite:
        raise SpecError("out", f"{spec.out} exists: choose another name, or `overwrite` to replace it")
    model = load_model(spec.ckpt)
    if model.meta.preset != "paper":
        raise SpecError(
            "ckpt",
            f"{spec.ckpt} is a {model.meta.preset!r}-preset {model.model_type} model; the "
            "reference holds only its own sizes (the 'paper' preset)",
        )
    state, extras = export_reference(model, epoch=spec.epoch)
    try:
        write_reference(spec.out, state, extras)
    except WriteError as exc:  # export has no resume: its own advice
        advice = "free some space" if exc.lacks_room else "fix the folder"
        raise WriteError(f"cannot write {spec.out}: {exc.reason}; {advice} or choose another `out`") from None
    print(f"exported {model.model_type} ({model.meta.kind}, step {model.meta.step}) -> {spec.out}")
    return spec.out
