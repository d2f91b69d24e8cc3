"""Apply an edit program to a checkpoint: an ``edited`` model with an occupancy grid of its own.

:func:`edit_model` compiles the program (world coordinates, :mod:`pvd.edit.program`) into the box
coordinates of the base checkpoint (:class:`pvd.fields.edited.EditedConfig`), embeds the base
field and every inserted checkpoint's field as sources, and rebuilds the occupancy grid from the
edited density, so the result renders, evaluates and teaches like any checkpoint
(``model_type = "edited"``; :func:`pvd.model.load_model` rebuilds it).

Checkpoint content (decided): the sources' field tensors are **copied** into the edited
checkpoint, next to each source's path and SHA-256 for provenance. A copy costs the size of the
sources (the tiny tensors teacher: 29 MB; the paper one: 235 MB), which is what rendering needs
anyway; keeping paths only would make an edited teacher break when a source moves or is retrained.

Density floor (decided): erased space has density exactly 0 in the edited field, and the rebuilt
grid leaves cells with no density empty, so teacher renders have no fog there. The edited
checkpoint's density range is ``(density_floor, source hi)`` (default floor -10, sigma 4.5e-5 per
box unit, like the reference's lowered clamp): students distilled from it inherit that range, so
in cells the grid keeps (those straddling an edit's box face) they can learn near-empty space
instead of the [-2, 7] clamp's fog (sigma >= 0.135).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from pvd.data.cameras import Normalization
from pvd.edit.program import EditError, EditOp, EditOptionError, EditProgram, box_to_box_frame, check_program
from pvd.fields.edited import EditedConfig
from pvd.model import CheckpointError, Model, ModelMeta, build_model, load_model
from pvd.records import sha256_file

DEFAULT_FLOOR = -10.0
DEFAULT_PASSES = 8


@dataclass(frozen=True)
class EditStats:
    """What an edit changed in the occupancy grid (shares of all cells) and how long it took.

    ``removed`` / ``added`` compare the base's grid with the edited model's rebuilt one; they split
    into what the edit did (``*_by_edit``: the edited model's grid against the base's grid rebuilt
    the same way, same probes and threshold) and what the rebuild alone did (``*_by_rebuild``: the
    base's rebuilt grid against its stored one; e.g. a barely trained base whose grid marks every
    cell). An edit that erases nothing a probe can find removes 0 cells, whatever the rebuild does.
    """

    occupied_before: float
    occupied_after: float
    removed: float
    added: float
    removed_by_edit: float
    added_by_edit: float
    removed_by_rebuild: float
    added_by_rebuild: float
    seconds: float

    def to_dict(self) -> dict:
        return {k: round(v, 6) for k, v in asdict(self).items()}


def source_entry(model: Model, path: str | Path | None) -> dict:
    """A source's description for :class:`EditedConfig` (architecture, sizes, provenance)."""
    meta = model.meta
    entry = {
        "model_type": meta.model_type,
        "field_config": asdict(meta.field_config),
        "bound": meta.bound,
        "density_range": list(meta.density_range),
        "normalization": meta.normalization.to_dict(),
    }
    if path is not None:
        entry.update(checkpoint=str(path), sha256=sha256_file(path))
    return entry


def load_inserted(program: EditProgram, device) -> dict[str, Model]:
    """Every inserted checkpoint of ``program``, loaded; errors name the operation."""
    out: dict[str, Model] = {}
    for i, op in enumerate(program.ops):
        if op.kind != "insert" or op.checkpoint in out:
            continue
        try:
            model = load_model(op.checkpoint, device)
        except CheckpointError as exc:
            raise EditError(f"edit program: operation {i + 1} (insert): checkpoint cannot be read: {exc}") from None
        if model.model_type == "edited":
            raise EditError(
                f"edit program: operation {i + 1} (insert): checkpoint {op.checkpoint} is itself "
                "edited; insert from an architecture's checkpoint"
            )
        out[op.checkpoint] = model
    return out


def placement_map(op: EditOp, dest: Normalization, src: Normalization) -> dict:
    """The inverse placement in box coordinates: dest box point x -> source box point
    ``matrix @ x + offset``, the direction rotation dest -> source box and the density factor."""
    place = op.place
    centre = torch.tensor(op.box.centre, dtype=torch.float64)
    rot_t = torch.tensor(place.rotation(), dtype=torch.float64).T
    t = torch.tensor(place.translate, dtype=torch.float64)
    d_off, s_off = (torch.tensor(n.offset, dtype=torch.float64) for n in (dest, src))
    d_rot, s_rot = (torch.tensor(n.rotation, dtype=torch.float64) for n in (dest, src))

    def inverse(x):  # [k, 3] dest box -> [k, 3] source box
        q = (x - d_off) / dest.scale @ d_rot  # dest world
        p = centre + (q - centre - t) @ rot_t.T / place.scale
        return p @ s_rot.T * src.scale + s_off

    offset = inverse(torch.zeros(1, 3, dtype=torch.float64))[0]
    matrix = (inverse(torch.eye(3, dtype=torch.float64)) - offset).T
    return {
        "matrix": matrix.tolist(),
        "offset": offset.tolist(),
        "rotation": (s_rot @ rot_t @ d_rot.T).tolist(),
        "density_factor": src.scale / (dest.scale * place.scale),
    }


def compile_program(program: EditProgram, scene: Normalization, inserted: dict[str, Model]) -> list[dict]:
    """The ops of :class:`EditedConfig` (box coordinates) for ``program`` on a scene of ``scene``."""
    index = {path: i + 1 for i, path in enumerate(inserted)}
    ops = []
    for op in program.ops:
        src = inserted[op.checkpoint].normalization if op.kind == "insert" else scene
        box = box_to_box_frame(op.box, src)
        entry = {"kind": op.kind, "lo": list(box.lo), "hi": list(box.hi)}
        if op.place is not None:
            entry.update(placement_map(op, scene, src))
        if op.kind == "insert":
            entry["source"] = index[op.checkpoint]
        ops.append(entry)
    return ops


@torch.no_grad()
def rebuild_grid(
    model: Model, passes: int, generator: torch.Generator | None = None, threshold: float | None = None
) -> None:
    """Re-estimate ``model``'s grid from its density: the max of ``passes`` jittered probes per seen
    cell (cells no training camera sees stay empty), occupied above ``threshold`` (default: as in
    training, ``min(mean density, density_thresh)``)."""
    grid, cfg = model.grid, model.renderer.config
    grid.density.zero_()
    grid.n_updates.zero_()
    grid.occupancy.copy_(grid.seen)
    model.field.eval()
    for k in range(passes):
        grid.update(
            model.field.density,
            k,
            density_thresh=cfg.density_thresh,
            decay=1.0,
            update_every=1,
            warmup_steps=0,
            full_updates=passes,
            chunk=cfg.density_chunk,
            generator=generator,
        )
    if threshold is not None:
        grid.occupancy.copy_(grid.seen & (grid.density > threshold))


def check_edit(
    base: Model, program: EditProgram, inserted: dict[str, Model], density_floor: float, grid_passes: int
) -> None:
    """Checks shared by :func:`edit_model` and :func:`pvd.edit.bake.bake_model`: the base is not
    itself edited, the floor and passes are valid, every insert is loaded, the boxes fit."""
    if base.model_type == "edited":
        raise EditError(
            "edit: the base checkpoint is already edited; edit its base checkpoint with the combined program instead"
        )
    if not (math.isfinite(density_floor) and density_floor <= base.meta.density_range[0]):
        raise EditOptionError(
            "density_floor",
            f"must be a number <= the base's lower density clamp {base.meta.density_range[0]}, got {density_floor}",
        )
    if grid_passes < 1:
        raise EditOptionError("grid_passes", f"must be >= 1, got {grid_passes}")
    missing = [p for p in program.checkpoints() if p not in inserted]
    if missing:
        raise EditError(f"edit: inserted checkpoints {missing} were not loaded")
    check_program(program, base.normalization, {p: m.normalization for p, m in inserted.items()})


def finish_grid(model: Model, base: Model, grid_passes: int, seed: int, start: float) -> EditStats:
    """Rebuild the grid of ``model`` (an edit of ``base``, same grid layout) from its density, within
    the base's seen cells and at the base's threshold; what changed since ``start``
    (``time.perf_counter()``)."""
    device = base.grid.density.device
    stored = {k: v.clone() for k, v in base.grid.state_dict().items()}
    model.grid.load_state_dict(stored)
    before = base.grid.occupancy.clone()
    # the base's threshold: erasing lowers the mean density, which would let faint cells in elsewhere
    threshold = min(float(base.grid.mean_density), base.renderer.config.density_thresh)
    rebuild_grid(model, grid_passes, torch.Generator(device=device).manual_seed(seed), threshold)
    after = model.grid.occupancy
    # the base rebuilt alike (same probes): what the rebuild does without the edit
    rebuild_grid(base, grid_passes, torch.Generator(device=device).manual_seed(seed), threshold)
    rebuilt = base.grid.occupancy.clone()
    base.grid.load_state_dict(stored)
    share = lambda cells: cells.float().mean().item()  # noqa: E731
    return EditStats(
        occupied_before=share(before),
        occupied_after=share(after),
        removed=share(before & ~after),
        added=share(after & ~before),
        removed_by_edit=share(rebuilt & ~after),
        added_by_edit=share(after & ~rebuilt),
        removed_by_rebuild=share(before & ~rebuilt),
        added_by_rebuild=share(rebuilt & ~before),
        seconds=time.perf_counter() - start,
    )


def edit_model(
    base: Model,
    program: EditProgram,
    inserted: dict[str, Model] | None = None,
    base_path: str | Path | None = None,
    density_floor: float = DEFAULT_FLOOR,
    grid_passes: int = DEFAULT_PASSES,
    seed: int = 0,
) -> tuple[Model, EditStats]:
    """The ``edited`` model of ``program`` applied to ``base`` (inserted checkpoints: path -> model,
    see :func:`load_inserted`), on ``base``'s device, with its grid rebuilt."""
    start = time.perf_counter()
    inserted = inserted or {}
    check_edit(base, program, inserted, density_floor, grid_passes)
    config = EditedConfig(
        sources=tuple([source_entry(base, base_path)] + [source_entry(m, p) for p, m in inserted.items()]),
        ops=tuple(compile_program(program, base.normalization, inserted)),
        program=program.to_dict(),
    )
    meta = replace(
        base.meta,
        model_type="edited",
        field_config=config,
        density_range=(float(density_floor), base.meta.density_range[1]),
        kind="teacher",
        teacher_type=None,
        teacher_checkpoint=None,
        train_config={"edit": {"density_floor": density_floor, "grid_passes": grid_passes, "seed": seed}},
        step=0,
    )
    device = base.grid.density.device
    edited = build_model(ModelMeta.from_dict(meta.to_dict(), "edited model"), device)
    for field, model in zip(edited.field.sources, [base] + list(inserted.values())):
        field.load_state_dict(model.field.state_dict())
    return edited, finish_grid(edited, base, grid_passes, seed, start)
