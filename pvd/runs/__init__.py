"""Runs: one frozen spec and one lifecycle per run kind, callable without a command line.

    from pvd.runs import DistillSpec, run_distill
    run_distill(DistillSpec(scene_dir=Path("scene"), ckpt_teacher=Path("ws/hash/checkpoint.pt"),
                            model_type="vm", workspace=Path("ws/hash2vm")))

Each kind's spec (:mod:`pvd.runs.spec`) is the one declaration of its options: the CLI
(:mod:`pvd.commands.args`), the workflow's config schema (:mod:`pvd.runs.schema`) and the record
(:mod:`pvd.runs.record`) derive from it. Each ``run_<kind>`` owns the lifecycle: check the inputs,
pick the device (:mod:`pvd.runs.device`), claim the workspace (:mod:`pvd.runs.workspace`: preflight,
lock, identity, resume), run the engine, save atomically and write the record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pvd.runs.distill import DistillSpec, run_distill
from pvd.runs.edit import EditSpec, run_edit
from pvd.runs.evaluate import EvaluateSpec, run_evaluate
from pvd.runs.export import ExportSpec, run_export
from pvd.runs.importing import ImportSpec, run_import
from pvd.runs.render import RenderSpec, run_render
from pvd.runs.spec import SpecError, spec_dict
from pvd.runs.train import TrainSpec, run_train


@dataclass(frozen=True)
class RunKind:
    """A run kind: its name (the CLI verb), spec class, lifecycle and one-line help."""

    name: str
    spec: type
    run: Callable
    help: str


RUN_KINDS: dict[str, RunKind] = {
    kind.name: kind
    for kind in (
        RunKind("train", TrainSpec, run_train, "train a teacher field on a scene"),
        RunKind("distill", DistillSpec, run_distill, "distill a teacher checkpoint into another architecture"),
        RunKind("evaluate", EvaluateSpec, run_evaluate, "evaluate a checkpoint on a split (PSNR/SSIM/LPIPS)"),
        RunKind("render", RenderSpec, run_render, "render a camera-path video of a checkpoint"),
        RunKind("edit", EditSpec, run_edit, "edit a checkpoint's scene (erase, keep, move, insert)"),
        RunKind(
            "import",
            ImportSpec,
            run_import,
            "convert a checkpoint of the reference code, or a 3DGS .ply, into a pvd checkpoint",
        ),
        RunKind(
            "export",
            ExportSpec,
            run_export,
            "write a checkpoint out: the reference code's .pth, a 3DGS .ply (gs), a mesh or a point cloud",
        ),
    )
}

__all__ = [
    "RUN_KINDS",
    "RunKind",
    "SpecError",
    "spec_dict",
    "DistillSpec",
    "EditSpec",
    "EvaluateSpec",
    "ExportSpec",
    "ImportSpec",
    "RenderSpec",
    "TrainSpec",
    "run_distill",
    "run_edit",
    "run_evaluate",
    "run_export",
    "run_import",
    "run_render",
    "run_train",
]
