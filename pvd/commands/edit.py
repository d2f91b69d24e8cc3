"""``pvd edit``: apply an edit program (erase, keep, move, insert) to a checkpoint of any architecture.

Writes ``WS/checkpoint.pt``, an ``edited`` checkpoint that embeds its source fields and the
program (:mod:`pvd.edit.apply`), which ``pvd distill``, ``pvd evaluate`` and ``pvd render`` read
like any other, and ``WS/record.json`` (the program, the sources with their SHA-256, ``baked``,
seconds, the share of occupied grid cells removed and added). With ``--bake`` (a ``tensors``
base) the checkpoint is instead a plain ``tensors`` one with the edit written into its voxel grid
(:mod:`pvd.edit.bake`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pvd.commands.flags import add_checkpoint, add_device, prepare_device
from pvd.commands.record import write_run_record
from pvd.edit.apply import DEFAULT_FLOOR, DEFAULT_PASSES, edit_model, load_inserted
from pvd.edit.bake import bake_model, check_bake_base
from pvd.edit.program import EditError, erase_program, read_program
from pvd.model import load_model, save_checkpoint


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_checkpoint(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--program", type=Path, help="edit program, YAML or JSON (see pvd/edit/program.py)")
    what.add_argument(
        "--erase",
        type=float,
        nargs=6,
        action="append",
        metavar=("X0", "Y0", "Z0", "X1", "Y1", "Z1"),
        help="erase a world-coordinate box (repeatable)",
    )
    p.add_argument(
        "--density_floor",
        type=float,
        default=DEFAULT_FLOOR,
        help="lower log-density clamp of the edited model and its students (erased space is 0)",
    )
    p.add_argument(
        "--grid_passes",
        type=int,
        default=DEFAULT_PASSES,
        help="jittered density probes per cell when rebuilding the occupancy grid",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the grid rebuild's jitter")
    p.add_argument(
        "--bake",
        action="store_true",
        help="tensors base only: write the edit into its voxel grid and save a plain tensors checkpoint "
        "(see docs/editing.md) instead of an edited one",
    )
    add_device(p)


def run(args: argparse.Namespace) -> int:
    device = prepare_device(args.device, args.gpu_slots)
    program = read_program(args.program) if args.program is not None else erase_program(args.erase)
    base = load_model(args.ckpt, device)
    if args.bake:
        check_bake_base(base)
    inserted = load_inserted(program, device)
    if args.workspace.resolve() == args.ckpt.resolve().parent:
        raise EditError(f"--workspace {args.workspace} holds --ckpt {args.ckpt}: choose another folder")
    make = bake_model if args.bake else edit_model
    edited, stats = make(
        base,
        program,
        inserted,
        base_path=args.ckpt,
        density_floor=args.density_floor,
        grid_passes=args.grid_passes,
        seed=args.seed,
    )
    ckpt_path = args.workspace / "checkpoint.pt"
    t_save = time.perf_counter()
    save_checkpoint(ckpt_path, edited)
    sources = (
        edited.meta.train_config["edit"]["sources"]
        if args.bake
        else [
            {k: v for k, v in s.items() if k in ("model_type", "checkpoint", "sha256")}
            for s in edited.meta.field_config.sources
        ]
    )
    write_run_record(
        args.workspace,
        "edit",
        args,
        device,
        stats.seconds + time.perf_counter() - t_save,
        metrics=stats.to_dict(),
        program=program.to_dict(),
        sources=sources,
        base_type=base.model_type,
        baked=args.bake,
        checkpoint=str(ckpt_path),
    )
    what = "baked into a tensors checkpoint" if args.bake else f"{len(sources)} sources"
    print(
        f"edited {base.model_type} checkpoint ({len(program.ops)} operations, {what}): "
        f"occupied cells {stats.occupied_before:.2%} -> {stats.occupied_after:.2%} (removed "
        f"{stats.removed:.2%}, added {stats.added:.2%}) in {stats.seconds:.1f} s -> {ckpt_path}"
    )
    return 0
