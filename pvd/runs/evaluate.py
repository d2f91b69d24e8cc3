"""``evaluate``: score a teacher or student checkpoint on a split of its scene.

Writes ``WS/metrics.json`` (means, per-image values, render time) and ``WS/record.json``; with
``save_renders`` also ``WS/renders/`` (render, ground truth, error map and depth image of each view,
see :mod:`pvd.evaluate.renders`), with ``render_views`` only the renders of those views (e.g. for the
report's qualitative grid); ``metrics.json["renders"]`` lists the files written and each depth
image's scale (``depth_near``, ``depth_far``: world units). Renders, metrics and record are built in
``WS/.pvd-next/`` and swapped in together (:mod:`pvd.runs.staging`): they appear together or not at
all, and a rerun's interruption leaves the previous evaluation as it was. The workspace is claimed first
(:mod:`pvd.runs.workspace`): never a training one. A checkpoint of another scene is a clear error
(:mod:`pvd.evaluate.scene_check`); ``data_type`` defaults to the checkpoint's. Any ``downscale`` is
allowed; by default the checkpoint's own is used, which reproduces the trainer's test PSNR. With
``reference`` every view is scored against that checkpoint's render of the same camera instead of
the image (e.g. a student of an edited teacher where no ground truth of the edited scene exists);
the saved ``*_gt.png`` are then those renders, and metrics.json and record.json name the reference.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pvd.data import DATA_TYPES, SPLITS, load_split
from pvd.evaluate.evaluate import EvalResult, evaluate_model
from pvd.evaluate.renders import RenderSaver, box_depth_range
from pvd.evaluate.scene_check import check_data_type, check_scene
from pvd.metrics import SSIM_MODES
from pvd.model import Model, ModelMeta
from pvd.records import write_json
from pvd.runs.common import DeviceOptions, OutputOptions, check_scene_dir
from pvd.runs.device import prepare_device
from pvd.runs.inputs import InputOptions, read_input
from pvd.runs.record import write_run_record
from pvd.runs.spec import SpecError, option
from pvd.runs.staging import publish
from pvd.runs.workspace import WorkspaceIdentity, claim, model_key, releasing


@dataclass(frozen=True, kw_only=True)
class EvaluateSpec(DeviceOptions, OutputOptions, InputOptions):
    """Everything ``evaluate`` is told."""

    scene_dir: Path = option(
        positional=True, check=check_scene_dir, help="scene folder (Blender, LLFF, NSVF or capture layout)"
    )
    ckpt: Path = option(help="teacher or student checkpoint.pt")
    data_type: str | None = option(
        None, choices=DATA_TYPES, help="on-disk format of SCENE_DIR (default: the checkpoint's)"
    )
    split: str = option("test", choices=SPLITS, help="split to score")
    downscale: int | None = option(None, minimum=1, help="image downscale factor K (default: the checkpoint's)")
    ssim: str = option(
        "standard", choices=SSIM_MODES, help="standard: tf.image.ssim; pvd-compat: the PVD reference's variant"
    )
    save_renders: bool = option(
        False, aliases=("--save-renders",), help="also write renders, ground truth and error maps under WS/renders/"
    )
    render_views: tuple[int, ...] | None = option(
        None, minimum=0, metavar="I,J", help="write renders (as save_renders does) of these view indices only"
    )
    no_lpips: bool = option(False, aliases=("--no-lpips",), help="skip LPIPS (reported as null)")
    reference: Path | None = option(
        None, metavar="CKPT", help="score against this checkpoint's renders (same cameras) instead of the images"
    )


def metrics_payload(
    result: EvalResult, meta: ModelMeta, ckpt: Path, downscale: int, reference: dict | None = None
) -> dict:
    """``metrics.json``: the evaluation plus what was evaluated (and, with ``reference``, against what)."""
    return {
        "checkpoint": str(ckpt),
        "model_type": meta.model_type,
        "kind": meta.kind,
        "teacher_type": meta.teacher_type,
        "data_type": meta.data_type,
        "downscale": downscale,
        **({"reference": reference} if reference is not None else {}),
        **result.to_dict(),
    }


def load_reference(spec: EvaluateSpec, split) -> tuple[Model | None, dict | None, dict | None]:
    """The ``reference`` model (checked to be of the same scene), its description and provenance, or Nones."""
    if spec.reference is None:
        return None, None, None
    if spec.reference.resolve() == spec.ckpt.resolve():
        raise SpecError("reference", f"{spec.reference} is `ckpt` itself: give another model's checkpoint")
    model, provenance = read_input("reference", spec.reference, spec.allow_unfinished)
    check_data_type(model.meta, spec.reference, spec.data_type)
    check_scene(model.meta, spec.reference, spec.scene_dir, spec.data_type, split)
    described = {"checkpoint": str(spec.reference), "model_type": model.model_type, "kind": model.meta.kind}
    return model, described, provenance


@releasing
def run_evaluate(spec: EvaluateSpec) -> EvalResult:
    """Score ``spec.ckpt`` on ``spec.split`` of ``spec.scene_dir`` (see the module doc)."""
    t_start = time.perf_counter()
    model, provenance = read_input("ckpt", spec.ckpt, spec.allow_unfinished)
    if spec.data_type is None and model.meta.data_type is None:
        raise SpecError("data_type", f"is required: checkpoint {spec.ckpt} does not say its data type")
    spec = spec.replace(
        data_type=spec.data_type or model.meta.data_type, downscale=spec.downscale or model.meta.downscale
    )
    check_data_type(model.meta, spec.ckpt, spec.data_type)
    split = load_split(spec.scene_dir, spec.data_type, spec.split, spec.downscale)
    if len(split) == 0:
        raise SpecError("split", f"{spec.split!r} of {spec.scene_dir} has no images")
    if spec.render_views is not None and max(spec.render_views) >= len(split):
        bad = sorted(v for v in spec.render_views if v >= len(split))
        raise SpecError("render_views", f"{bad}: the split has views 0..{len(split) - 1}")
    check_scene(model.meta, spec.ckpt, spec.scene_dir, spec.data_type, split)
    reference, described, ref_provenance = load_reference(spec, split)
    device = prepare_device(spec.device, spec.gpu_slots)
    model = model.to(device)
    reference = reference.to(device) if reference is not None else None
    out = claim(
        spec.workspace,
        WorkspaceIdentity("evaluate", model_key(model.meta), str(spec.ckpt.resolve())),
        overwrite=spec.overwrite,
    )
    renders, metrics_file = out / "renders", spec.workspace / "metrics.json"
    views = set(spec.render_views) if spec.render_views else None
    # renders, metrics and record are built beside the workspace's result and swapped in together
    saver = None
    if spec.save_renders or views:
        depth_range = partial(box_depth_range, split.cameras, norm=model.normalization, bound=model.meta.bound)
        saver = RenderSaver(renders, split.files, None if spec.save_renders else views, depth_range)
    result = evaluate_model(
        model,
        split,
        spec.ssim,
        lpips=not spec.no_lpips,
        device=device,
        progress=not spec.no_progress,
        on_image=saver,
        reference=reference,
        on_depth=saver.depth if saver is not None else None,
    )
    payload = metrics_payload(result, model.meta, spec.ckpt, spec.downscale, described)
    if saver is not None:
        moved = {k: f"{renders.name}/" for k in ("render", "gt", "error", "depth")}  # paths relative to the workspace
        payload["renders"] = [
            {k: moved[k] + Path(v).name if k in moved else v for k, v in r.items()} for r in saver.saved
        ]
    write_json(out / metrics_file.name, payload)
    summary = {
        k: payload[k] for k in ("psnr", "psnr_of_mean_mse", "ssim", "lpips_alex", "lpips_vgg", "render_seconds", "fps")
    }
    write_run_record(
        out,
        "evaluate",
        spec,
        device,
        time.perf_counter() - t_start,
        summary,
        model_type=model.model_type,
        model_kind=model.meta.kind,
        teacher_type=model.meta.teacher_type,
        data_type=spec.data_type,
        split=spec.split,
        n_images=result.n_images,
        ssim_mode=spec.ssim,
        checkpoint=str(spec.ckpt),
        metrics_file=str(metrics_file),
        reference=described,
        inputs=[provenance] + ([ref_provenance] if ref_provenance else []),
    )
    publish(spec.workspace, out)
    lp = (
        ", ".join(
            f"LPIPS-{n} {v:.4f}" for n, v in (("alex", result.lpips_alex), ("vgg", result.lpips_vgg)) if v is not None
        )
        or "LPIPS unavailable"
    )
    against = f" vs {spec.reference}" if reference is not None else ""
    print(
        f"{spec.split}: {result.n_images} images {result.width}x{result.height}{against}: PSNR {result.psnr:.2f} "
        f"dB, SSIM {result.ssim:.4f} ({spec.ssim}), {lp}; {result.fps:.2f} fps -> {metrics_file}"
    )
    return result
