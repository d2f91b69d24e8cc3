"""``edit``: apply an edit program (erase, keep, move, insert) to a checkpoint of any architecture.

Writes ``WS/checkpoint.pt``, an ``edited`` checkpoint that embeds its source fields and the program
(:mod:`pvd.edit.apply`), which distill, evaluate and render read like any other, and
``WS/record.json`` (the program, the sources with their SHA-256, ``baked``, seconds, the share of
occupied grid cells removed and added, by the edit and by the grid rebuild alone). With ``bake`` (a
``tensors`` base) the checkpoint is instead a plain ``tensors`` one with the edit written into its
voxel grid (:mod:`pvd.edit.bake`). The workspace is claimed like a training one: never another
command's or model's, never over a finished edit without ``overwrite``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pvd.edit.apply import DEFAULT_FLOOR, DEFAULT_PASSES, EditStats, edit_model, load_inserted
from pvd.edit.bake import bake_model, check_bake_base
from pvd.edit.program import erase_program, read_program
from pvd.model import save_checkpoint
from pvd.runs.common import DeviceOptions, OutputOptions
from pvd.runs.device import prepare_device
from pvd.runs.inputs import InputOptions, read_input
from pvd.runs.record import write_run_record
from pvd.runs.spec import SpecError, option
from pvd.runs.staging import publish
from pvd.runs.workspace import WorkspaceIdentity, checkpoint_bytes, claim, model_key, releasing


@dataclass(frozen=True, kw_only=True)
class EditSpec(DeviceOptions, OutputOptions, InputOptions):
    """Everything ``edit`` is told: ``program`` or ``erase`` (exactly one)."""

    ckpt: Path = option(help="teacher or student checkpoint.pt to edit")
    program: Path | None = option(None, help="edit program, YAML or JSON (see docs/editing.md)")
    erase: tuple[tuple[float, ...], ...] | None = option(
        None,
        nargs=6,
        repeat=True,
        metavar=("X0", "Y0", "Z0", "X1", "Y1", "Z1"),
        help="erase a world-coordinate box (repeatable)",
    )
    density_floor: float = option(
        DEFAULT_FLOOR, help="lower log-density clamp of the edited model and its students (erased space is 0)"
    )
    grid_passes: int = option(
        DEFAULT_PASSES, minimum=1, help="jittered density probes per cell when rebuilding the occupancy grid"
    )
    seed: int = option(0, minimum=0, help="seed of the grid rebuild's jitter")
    bake: bool = option(
        False,
        help="tensors base only: write the edit into its voxel grid and save a plain tensors "
        "checkpoint (see docs/editing.md) instead of an edited one",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.program is None) == (self.erase is None):
            raise SpecError("program", "or erase: give exactly one of them")


@releasing
def run_edit(spec: EditSpec) -> EditStats:
    """Edit ``spec.ckpt`` into ``spec.workspace`` (see the module doc)."""
    program = read_program(spec.program) if spec.program is not None else erase_program(spec.erase)
    base, provenance = read_input("ckpt", spec.ckpt, spec.allow_unfinished)
    if spec.bake:
        check_bake_base(base)
    if spec.workspace.resolve() == spec.ckpt.resolve().parent:
        raise SpecError("workspace", f"{spec.workspace} holds `ckpt` {spec.ckpt}: choose another folder")
    device = prepare_device(spec.device, spec.gpu_slots)
    base = base.to(device)
    inserted = load_inserted(program, device)
    out = claim(
        spec.workspace,
        WorkspaceIdentity("edit", f"edited {model_key(base.meta)}", str(spec.ckpt.resolve())),
        overwrite=spec.overwrite,
        need_bytes=checkpoint_bytes(base),
    )
    make = bake_model if spec.bake else edit_model
    edited, stats = make(
        base,
        program,
        inserted,
        base_path=spec.ckpt,
        density_floor=spec.density_floor,
        grid_passes=spec.grid_passes,
        seed=spec.seed,
    )
    ckpt_path = spec.workspace / "checkpoint.pt"
    t_save = time.perf_counter()
    save_checkpoint(out / ckpt_path.name, edited)
    sources = (
        edited.meta.train_config["edit"]["sources"]
        if spec.bake
        else [
            {k: v for k, v in s.items() if k in ("model_type", "checkpoint", "sha256")}
            for s in edited.meta.field_config.sources
        ]
    )
    write_run_record(
        out,
        "edit",
        spec,
        device,
        stats.seconds + time.perf_counter() - t_save,
        metrics=stats.to_dict(),
        program=program.to_dict(),
        sources=sources,
        base_type=base.model_type,
        baked=spec.bake,
        inputs=[provenance],
        checkpoint=str(ckpt_path),
    )
    publish(spec.workspace, out)
    what = "baked into a tensors checkpoint" if spec.bake else f"{len(sources)} sources"
    print(
        f"edited {base.model_type} checkpoint ({len(program.ops)} operations, {what}): "
        f"occupied cells {100 * stats.occupied_before:.2f} % -> {100 * stats.occupied_after:.2f} % (the edit "
        f"removed {100 * stats.removed_by_edit:.2f} %, added {100 * stats.added_by_edit:.2f} %; the grid rebuild "
        f"alone removed {100 * stats.removed_by_rebuild:.2f} %, added {100 * stats.added_by_rebuild:.2f} %) in "
        f"{stats.seconds:.1f} s -> {ckpt_path}"
    )
    return stats
