"""``import``: a checkpoint of the reference code (``.pth``), or a 3D Gaussian splatting ``.ply``
(``model_type gs``), -> a self-describing pvd checkpoint and its record.

The file's architecture, every state-dict name and shape, the hash row offsets and the box are
checked (one clear error names the first problem); the field is built from the ``paper`` preset (the
reference architectures) and the scene's normalisation in torch-ngp's frame
(``(x, y, z)_box = scale * (y, z, x)_world``). ``WS/checkpoint.pt`` is an ordinary teacher checkpoint:
evaluate, distill and render take it as it is. The workspace is claimed like a training one.

A ``.ply`` (:mod:`pvd.interop.ply`, the dataset's world frame) is moved into the box of the scene's
normalisation (pvd's frame, ``scale`` and ``bound`` as for training) and becomes a ``gs`` teacher
sized by ``preset``, whose occupancy grid (for the volume renderer and distillation) is estimated
from the Gaussians' point density.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from pvd.data import DATA_TYPES, index_split, scene_normalization
from pvd.data.cameras import NGP_ROTATION
from pvd.fields import ARCHS
from pvd.interop import import_reference, read_reference, unused_entries
from pvd.interop.ply import read_ply, to_box
from pvd.model import Model, ModelMeta, build_model, check_finite, save_checkpoint
from pvd.presets import DATASET_DEFAULTS, PRESET_NAMES, arch_preset, render_config
from pvd.records import sha256_file
from pvd.runs.common import OutputOptions, check_scene_dir
from pvd.runs.record import write_run_record
from pvd.runs.spec import SpecError, option
from pvd.runs.staging import publish
from pvd.runs.workspace import WorkspaceIdentity, checkpoint_bytes, claim, releasing
from pvd.train.distill import rebuild_grid

PRESET = "paper"


@dataclass(frozen=True, kw_only=True)
class ImportSpec(OutputOptions):
    """Everything ``import`` is told."""

    reference_ckpt: Path = option(
        positional=True, metavar="CKPT.pth", help="checkpoint of the reference code, or a 3DGS .ply (model_type gs)"
    )
    scene_dir: Path = option(
        positional=True, check=check_scene_dir, help="the scene the file was trained on (its training cameras)"
    )
    model_type: str = option(choices=ARCHS, help="architecture the file holds")
    data_type: str = option(choices=DATA_TYPES, help="on-disk format of SCENE_DIR")
    bound: float | None = option(None, above=0, help="box half-size (default: the file's aabb_train)")
    scale: float | None = option(
        None, above=0, help="world -> box scale the file was trained with (default: the dataset's)"
    )
    dt_gamma: float | None = option(None, minimum=0, help="step growth with distance (default: the dataset's)")
    preset: str = option(
        PRESET, choices=PRESET_NAMES, help="renderer settings of an imported .ply (a .pth is always 'paper')"
    )


@releasing
def run_import(spec: ImportSpec) -> Model:
    """Import ``spec.reference_ckpt`` into ``spec.workspace`` (see the module doc)."""
    if spec.model_type == "gs":
        return import_ply(spec)
    if spec.preset != PRESET:
        raise SpecError("preset", f"the reference's checkpoints hold the '{PRESET}' architectures, not {spec.preset!r}")
    t0 = time.perf_counter()
    ref = read_reference(spec.reference_ckpt, spec.model_type)
    defaults = DATASET_DEFAULTS[spec.data_type]
    bound = spec.bound if spec.bound is not None else ref.bound
    scale = spec.scale if spec.scale is not None else defaults.scale
    dt_gamma = spec.dt_gamma if spec.dt_gamma is not None else defaults.dt_gamma
    if bound <= 0:
        raise SpecError("bound", f"must be > 0, got {bound} (from {spec.reference_ckpt})")
    preset = arch_preset(PRESET, spec.model_type)
    field_config = preset.field
    resolution = ref.field_resolution(spec.model_type)
    if resolution is not None:  # the reference's vm/tensors resolution is a command-line option there
        field_config = dataclasses.replace(field_config, resolution=resolution)
    train = index_split(spec.scene_dir, spec.data_type, "train")
    norm = scene_normalization(train, spec.data_type, bound, scale).rotated_by(NGP_ROTATION)
    meta = ModelMeta(
        model_type=spec.model_type,
        preset=PRESET,
        field_config=field_config,
        render_config=render_config(PRESET, dt_gamma, bound),
        bound=bound,
        normalization=norm,
        kind="teacher",
        data_type=spec.data_type,
        scene_dir=str(spec.scene_dir),
        image_width=train.cameras.width,
        image_height=train.cameras.height,
        cameras=train.cameras,
        near=train.near,
        far=train.far,
        train_config={
            "source": "reference",
            "file": str(spec.reference_ckpt),
            "epoch": int(ref.extras.get("epoch") or 0),
        },
        step=ref.global_step,
    )
    model = import_reference(ref, meta)
    check_finite(model, f"reference checkpoint {spec.reference_ckpt}")
    source = str(spec.reference_ckpt.resolve())
    out = claim(
        spec.workspace,
        WorkspaceIdentity("import", spec.model_type, source),
        overwrite=spec.overwrite,
        need_bytes=checkpoint_bytes(model),
    )
    ckpt_path = spec.workspace / "checkpoint.pt"
    save_checkpoint(out / ckpt_path.name, model)
    write_run_record(
        out,
        "import",
        spec,
        torch.device("cpu"),
        time.perf_counter() - t0,
        metrics={"occupied_fraction": model.grid.occupied_fraction(), "mean_density": float(model.grid.mean_density)},
        config={"bound": bound, "scale": scale, "dt_gamma": dt_gamma, "preset": PRESET},
        model_type=spec.model_type,
        preset=PRESET,
        data_type=spec.data_type,
        source_file=str(spec.reference_ckpt),
        source_sha256=sha256_file(spec.reference_ckpt),
        source_epoch=meta.train_config["epoch"],
        source_global_step=ref.global_step,
        ignored_entries=unused_entries(ref, model),
        checkpoint=str(ckpt_path),
        iterations=ref.global_step,
    )
    publish(spec.workspace, out)
    print(
        f"imported {spec.model_type} from {spec.reference_ckpt} (global step {ref.global_step}, bound {bound:g}, "
        f"scale {scale:g}, {100 * model.grid.occupied_fraction():.1f} % cells occupied) -> {ckpt_path}"
    )
    return model


def import_ply(spec: ImportSpec) -> Model:
    """Import the 3DGS ``.ply`` ``spec.reference_ckpt`` as a ``gs`` teacher (see the module doc)."""
    t0 = time.perf_counter()
    if spec.reference_ckpt.suffix != ".ply":
        raise SpecError("reference_ckpt", f"{spec.reference_ckpt}: model_type gs imports a 3DGS .ply file")
    world = read_ply(spec.reference_ckpt)
    defaults = DATASET_DEFAULTS[spec.data_type]
    bound = spec.bound if spec.bound is not None else defaults.bound
    scale = spec.scale if spec.scale is not None else defaults.scale
    dt_gamma = spec.dt_gamma if spec.dt_gamma is not None else defaults.dt_gamma
    train = index_split(spec.scene_dir, spec.data_type, "train")
    norm = scene_normalization(train, spec.data_type, bound, scale)
    degree = round((world["sh_rest"].shape[1] + 1) ** 0.5) - 1
    field_config = dataclasses.replace(
        arch_preset(spec.preset, "gs").field, n_init=max(1, world["means"].shape[0]), sh_degree=degree
    )
    meta = ModelMeta(
        model_type="gs",
        preset=spec.preset,
        field_config=field_config,
        render_config=render_config(spec.preset, dt_gamma, bound),
        bound=bound,
        normalization=norm,
        kind="teacher",
        data_type=spec.data_type,
        scene_dir=str(spec.scene_dir),
        image_width=train.cameras.width,
        image_height=train.cameras.height,
        cameras=train.cameras,
        near=train.near,
        far=train.far,
        train_config={"source": "ply", "file": str(spec.reference_ckpt)},
    )
    model = build_model(meta)
    model.field.set_from(to_box(world, norm))
    check_finite(model, f".ply file {spec.reference_ckpt}")
    model.grid.mark_untrained(train.cameras, norm)
    rebuild_grid(model, 4, torch.Generator().manual_seed(0))
    out = claim(
        spec.workspace,
        WorkspaceIdentity("import", "gs", str(spec.reference_ckpt.resolve())),
        overwrite=spec.overwrite,
        need_bytes=checkpoint_bytes(model),
    )
    ckpt_path = spec.workspace / "checkpoint.pt"
    save_checkpoint(out / ckpt_path.name, model)
    write_run_record(
        out,
        "import",
        spec,
        torch.device("cpu"),
        time.perf_counter() - t0,
        metrics={"occupied_fraction": model.grid.occupied_fraction(), "n_gaussians": len(model.field)},
        config={"bound": bound, "scale": scale, "dt_gamma": dt_gamma, "preset": spec.preset},
        model_type="gs",
        preset=spec.preset,
        data_type=spec.data_type,
        source_file=str(spec.reference_ckpt),
        source_sha256=sha256_file(spec.reference_ckpt),
        checkpoint=str(ckpt_path),
        iterations=0,
    )
    publish(spec.workspace, out)
    print(f"imported {len(model.field)} Gaussians (SH degree {degree}) from {spec.reference_ckpt} -> {ckpt_path}")
    return model
