"""``export``: a pvd checkpoint written in another program's format.

The formats (:data:`EXPORT_FORMATS`: name -> writer and file suffixes):

* ``pth`` (the default) — the reference code's checkpoint. Only models whose field is the reference
  architecture can be written: ``paper``-preset fields in torch-ngp's frame (imported teachers and the
  students distilled from them) with the density clamp [-2, 7]; anything else (``tiny`` sizes above
  all) is a clear error naming what differs.
* ``mesh`` — a triangle mesh (``.ply`` or ``.obj``) by marching cubes on the model's density (for
  ``gs``: its Gaussians' point-query density), coloured by the model, without the surfaces no
  training view sees (:mod:`pvd.interop.mesh`).
* ``points`` — a coloured point cloud (``.ply``) from the rendered depth of the training views
  (:mod:`pvd.interop.points`; ``gs`` models' views through the splat rasteriser).
* ``ply`` — a ``gs`` model's Gaussians as the standard 3D Gaussian splatting ``.ply``, in the
  dataset's world frame (:mod:`pvd.interop.ply`).

``mesh`` and ``points`` take any checkpoint (every architecture and preset, edited and imported ones);
they need the training cameras, from the checkpoint or, for checkpoints without them, from the train
split of ``scene_dir``. Meshes and point clouds are in the dataset's world frame.

Every export writes ``OUT.json`` beside ``OUT``: the run's record (what was written: counts, bounding
box, settings, the checkpoint's hash). An existing ``out`` file is replaced only with ``overwrite``;
nothing is written when the export fails (an empty mesh, a bad threshold).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from pvd.data import DATA_TYPES
from pvd.data.cameras import Cameras
from pvd.interop import export_reference, write_reference
from pvd.interop.depth import view_size_scale
from pvd.interop.mesh import MESH_SUFFIXES, extract_mesh, write_mesh
from pvd.interop.ply import to_world, write_ply
from pvd.interop.points import POINTS_SUFFIXES, point_cloud, write_points
from pvd.model import Model
from pvd.records import WriteError
from pvd.runs.common import DeviceOptions
from pvd.runs.device import prepare_device
from pvd.runs.inputs import InputOptions, read_input
from pvd.runs.record import write_run_record
from pvd.runs.render import training_cameras
from pvd.runs.spec import SpecError, option


def check_ckpt_file(path: Path) -> str | None:
    """The spec check of an input checkpoint: an existing file."""
    if path.is_dir():
        return f"{path} is a folder; expected a checkpoint file (e.g. {path / 'checkpoint.pt'})"
    return None if path.is_file() else f"{path} does not exist"


def record_path(out: Path) -> Path:
    """Where the record of an export to ``out`` goes: ``OUT.json`` beside it."""
    return out.with_name(out.name + ".json")


def _cameras(spec: ExportSpec, model: Model) -> Cameras:
    """The training cameras (at most ``view_size`` pixels on their longer side)."""
    data_type = spec.data_type or model.meta.data_type
    if model.meta.cameras is None and data_type is None:
        raise SpecError("data_type", f"is required: checkpoint {spec.ckpt} does not say its data type")
    cams, _, _ = training_cameras(model.meta, spec.ckpt, spec.scene_dir, data_type)
    return view_size_scale(cams, spec.view_size)


def write_pth(spec: ExportSpec, model: Model, device: torch.device) -> tuple[dict, dict]:
    """The reference's ``.pth`` (see the module doc); no metrics."""
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
    return {"entries": len(state)}, {}


def write_mesh_file(spec: ExportSpec, model: Model, device: torch.device) -> tuple[dict, dict]:
    """A marching-cubes mesh (``.ply`` / ``.obj``); metrics: counts, bounding box, voxel size."""
    cams = None if spec.keep_unseen else _cameras(spec, model)
    mesh = extract_mesh(model.to(device), spec.threshold, spec.resolution, cams, device)
    write_mesh(spec.out, mesh)
    lo, hi = mesh.bbox()
    metrics = {
        "vertices": len(mesh.vertices),
        "faces": len(mesh.faces),
        "bbox_min": lo,
        "bbox_max": hi,
        "voxel": mesh.voxel,
        "density_min": mesh.density_range[0],
        "density_max": mesh.density_range[1],
    }
    return metrics, {"views": None if cams is None else len(cams)}


def write_points_file(spec: ExportSpec, model: Model, device: torch.device) -> tuple[dict, dict]:
    """A point cloud of the training views' depth (``.ply``); metrics: counts and bounding box."""
    cams = _cameras(spec, model)
    progress = None if spec.no_progress else (lambda r: tqdm(r, desc="views", unit="view"))
    cloud = point_cloud(model.to(device), cams, device, spec.min_opacity, spec.max_points, spec.seed, progress)
    write_points(spec.out, cloud)
    lo, hi = cloud.bbox()
    metrics = {"points": len(cloud.points), "candidates": cloud.candidates, "bbox_min": lo, "bbox_max": hi}
    return metrics, {"views": len(cams), "view_width": cams.width, "view_height": cams.height}


def write_splats(spec: ExportSpec, model: Model, device: torch.device) -> tuple[dict, dict]:
    """A ``gs`` model's 3DGS ``.ply`` in the dataset's world frame; metrics: Gaussians and SH degree."""
    if model.model_type != "gs":
        raise SpecError("ckpt", f"{spec.ckpt} is a {model.model_type} model; the ply format holds gs models")
    field = model.field
    params = {name: getattr(field, name) for name in ("means", "log_scales", "quats", "opacity_logits", "sh_dc")}
    params["sh_rest"] = field.sh_rest[:, : (field.degree + 1) ** 2 - 1]
    write_ply(spec.out, to_world(params, model.normalization))
    return {"gaussians": int(params["means"].shape[0]), "sh_degree": int(field.degree)}, {}


@dataclass(frozen=True)
class ExportFormat:
    """One export format: the suffixes its files end in, its writer and a line of help.

    ``write(spec, model, device)`` writes ``spec.out`` and returns (metrics, extra record fields).
    """

    suffixes: tuple[str, ...]
    write: Callable[[ExportSpec, Model, torch.device], tuple[dict, dict]]
    help: str


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "pth": ExportFormat((".pth",), write_pth, "the reference code's checkpoint (paper preset)"),
    "mesh": ExportFormat(MESH_SUFFIXES, write_mesh_file, "marching-cubes mesh of the density, coloured"),
    "points": ExportFormat(POINTS_SUFFIXES, write_points_file, "coloured point cloud of the training views' depth"),
    "ply": ExportFormat((".ply",), write_splats, "a gs model's Gaussians as the standard 3DGS .ply"),
}


@dataclass(frozen=True, kw_only=True)
class ExportSpec(DeviceOptions, InputOptions):
    """Everything ``export`` is told."""

    scene_dir: Path | None = option(
        None,
        positional=True,
        help="scene folder, only needed for mesh and points when the checkpoint stores no training cameras",
    )
    ckpt: Path = option(help="pvd checkpoint.pt (teacher, student, edited or imported)", check=check_ckpt_file)
    out: Path = option(help="file to write; its suffix must fit the format (pth: .pth; mesh: .ply, .obj; points: .ply)")
    format: str = option(
        "pth",
        choices=tuple(EXPORT_FORMATS),
        help="; ".join(f"{name}: {fmt.help}" for name, fmt in EXPORT_FORMATS.items()),
    )
    data_type: str | None = option(
        None, choices=DATA_TYPES, help="on-disk format of SCENE_DIR (default: the checkpoint's)"
    )
    epoch: int = option(0, minimum=0, help="pth: the file's 'epoch' entry")
    threshold: float = option(
        10.0, above=0, help="mesh: the density (1 / box unit) of the surface; the record gives the model's range"
    )
    resolution: int = option(128, minimum=8, maximum=1024, help="mesh: grid points per axis over the box")
    keep_unseen: bool = option(False, help="mesh: keep the surfaces no training view sees (no cameras needed)")
    view_size: int | None = option(
        None, minimum=8, help="mesh and points: longer side in pixels of the rendered training views (default: theirs)"
    )
    min_opacity: float = option(0.5, above=0, maximum=1, help="points: a pixel's opacity to give a point")
    max_points: int = option(1_000_000, minimum=1, help="points: at most this many (a seeded random subset)")
    seed: int = option(0, minimum=0, help="points: seed of the subset")
    overwrite: bool = option(False, help="replace an existing out file")

    def __post_init__(self) -> None:
        super().__post_init__()
        suffixes = EXPORT_FORMATS[self.format].suffixes
        if self.out.suffix.lower() not in suffixes:
            raise SpecError("out", f"{self.out}: a {self.format} export ends in {' or '.join(suffixes)}")


def run_export(spec: ExportSpec) -> Path:
    """Write ``spec.ckpt`` in ``spec.format`` to ``spec.out`` and its record to ``OUT.json``."""
    t_start = time.perf_counter()
    fmt = EXPORT_FORMATS[spec.format]
    if spec.out.is_dir():
        raise SpecError("out", f"{spec.out} is a folder; expected a file name ending in {fmt.suffixes[0]}")
    if spec.out.exists() and not spec.overwrite:
        raise SpecError("out", f"{spec.out} exists: choose another name, or `overwrite` to replace it")
    model, provenance = read_input("ckpt", spec.ckpt, spec.allow_unfinished)
    device = torch.device("cpu") if spec.format == "pth" else prepare_device(spec.device, spec.gpu_slots)
    metrics, extra = fmt.write(spec, model, device)
    write_run_record(
        record_path(spec.out).parent,
        "export",
        spec,
        device,
        time.perf_counter() - t_start,
        metrics=metrics,
        file=record_path(spec.out).name,
        model_type=model.model_type,
        model_kind=model.meta.kind,
        export_format=spec.format,
        out=str(spec.out),
        checkpoint=str(spec.ckpt),
        inputs=[provenance],
        **extra,
    )
    counts = ", ".join(f"{metrics[k]} {k}" for k in ("vertices", "faces", "points", "entries") if k in metrics)
    print(
        f"exported {model.model_type} ({model.meta.kind}, step {model.meta.step}) as {spec.format} "
        f"({counts}) -> {spec.out}"
    )
    return spec.out
