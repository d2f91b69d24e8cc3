"""``export``: a pvd checkpoint -> a foreign format, one writer per ``format`` (:data:`WRITERS`).

``pth``, the reference code's checkpoint format: only models whose field is the reference
architecture can be written: ``paper``-preset fields in torch-ngp's frame (imported teachers and
the students distilled from them) with the density clamp [-2, 7]; anything else (``tiny`` sizes
above all) is a clear error naming what differs.
``ply``: a ``gs`` model as the standard 3D Gaussian splatting ``.ply``, in the dataset's world frame
(:mod:`pvd.interop.ply`). An existing ``out`` file is replaced only with ``overwrite``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pvd.interop import export_reference, write_reference
from pvd.interop.ply import to_world, write_ply
from pvd.model import Model, load_model
from pvd.runs.spec import Spec, SpecError, option


def check_ckpt_file(path: Path) -> str | None:
    """The spec check of an input checkpoint: an existing file."""
    if path.is_dir():
        return f"{path} is a folder; expected a checkpoint file (e.g. {path / 'checkpoint.pt'})"
    return None if path.is_file() else f"{path} does not exist"


def write_pth(spec: ExportSpec, model: Model) -> None:
    """The reference's checkpoint format (``paper``-preset models only)."""
    if model.meta.preset != "paper":
        raise SpecError(
            "ckpt",
            f"{spec.ckpt} is a {model.meta.preset!r}-preset {model.model_type} model; the "
            "reference holds only its own sizes (the 'paper' preset)",
        )
    state, extras = export_reference(model, epoch=spec.epoch)
    write_reference(spec.out, state, extras)


def write_gs_ply(spec: ExportSpec, model: Model) -> None:
    """The 3DGS ``.ply`` of a ``gs`` model, in the dataset's world frame."""
    if model.model_type != "gs":
        raise SpecError("ckpt", f"{spec.ckpt} is a {model.model_type} model; the ply format holds gs models")
    field = model.field
    params = {name: getattr(field, name) for name in ("means", "log_scales", "quats", "opacity_logits", "sh_dc")}
    params["sh_rest"] = field.sh_rest[:, : (field.degree + 1) ** 2 - 1]
    write_ply(spec.out, to_world(params, model.normalization))


# format -> (file suffix, writer)
WRITERS = {"pth": (".pth", write_pth), "ply": (".ply", write_gs_ply)}


@dataclass(frozen=True, kw_only=True)
class ExportSpec(Spec):
    """Everything ``export`` is told."""

    ckpt: Path = option(help="pvd teacher or student checkpoint.pt", check=check_ckpt_file)
    out: Path = option(help="file to write (.pth for format pth, .ply for format ply)")
    format: str = option("pth", choices=tuple(WRITERS), help="pth: the reference's checkpoint; ply: 3DGS splats")
    epoch: int = option(0, minimum=0, help="the file's 'epoch' entry")
    overwrite: bool = option(False, help="replace an existing out file")


def run_export(spec: ExportSpec) -> Path:
    """Write ``spec.ckpt`` in ``spec.format`` to ``spec.out``."""
    suffix, writer = WRITERS[spec.format]
    if spec.out.suffix != suffix:
        raise SpecError("out", f"{spec.out}: format {spec.format} files end in {suffix}")
    if spec.out.is_dir():
        raise SpecError("out", f"{spec.out} is a folder; expected a file name ending in {suffix}")
    if spec.out.exists() and not spec.overwrite:
        raise SpecError("out", f"{spec.out} exists: choose another name, or `overwrite` to replace it")
    model = load_model(spec.ckpt)
    writer(spec, model)
    print(f"exported {model.model_type} ({model.meta.kind}, step {model.meta.step}) -> {spec.out}")
    return spec.out
