"""``train``: fit a teacher field to a scene's images; writes ``WS/checkpoint.pt`` and ``WS/record.json``."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from pvd.data import DATA_TYPES, load_split, scene_normalization
from pvd.data.cameras import NGP_ROTATION, Normalization
from pvd.data.index import scene_hash
from pvd.data.points import PointCloud, in_box, scene_points
from pvd.evaluate.evaluate import evaluate_model
from pvd.evaluate.probe import CurveProbe
from pvd.fields import ARCHS
from pvd.model import ModelMeta, build_model, read_checkpoint, save_checkpoint
from pvd.presets import arch_preset, render_config, scene_defaults
from pvd.runs.common import TrainingOptions, density_range_problem
from pvd.runs.device import prepare_device
from pvd.runs.record import curve_fields, size_fields, write_run_record
from pvd.runs.spec import SpecError, apply_into, option
from pvd.runs.staging import publish
from pvd.runs.warm_box import box_fields, warm_box
from pvd.runs.workspace import WorkspaceIdentity, check_resume, checkpoint_bytes, claim, releasing
from pvd.train.splat_init import init_from_points
from pvd.train.teacher import TeacherConfig, train_teacher

FRAMES = ("pvd", "ngp")
INIT_CHOICES = ("auto", "random")


def init_points_problem(value: str) -> str | None:
    """What is wrong with an ``init_points`` value, or None."""
    if value in INIT_CHOICES or Path(value).suffix.lower() in (".bin", ".txt", ".ply"):
        return None
    return f"expects auto, random or a points3D.bin, points3D.txt or .ply file, got {value!r}"


@dataclass(frozen=True, kw_only=True)
class TrainSpec(TrainingOptions):
    """Everything ``train`` is told (see :class:`TrainingOptions` for the shared options)."""

    data_type: str = option(choices=DATA_TYPES, help="on-disk format of SCENE_DIR")
    model_type: str = option(choices=ARCHS, help="architecture to train")
    bound: float | None = option(None, above=0, help="box half-size (default: the dataset's)")
    scale: float | None = option(None, above=0, help="world -> box scale (default: the dataset's)")
    dt_gamma: float | None = option(None, minimum=0, help="step growth with distance (default: the dataset's)")
    box_warmup: int = option(
        300,
        minimum=0,
        help="capture: steps of a warm-up whose occupancy shrinks the automatic box (0: none; docs/data.md)",
    )
    box_centre: tuple[float, ...] | None = option(
        None,
        nargs=3,
        metavar=("X", "Y", "Z"),
        help="world point at the box centre (default: the dataset's; a capture's automatic box, docs/data.md)",
    )
    frame: str = option(
        "pvd", choices=FRAMES, help="box axes: the dataset's (pvd) or torch-ngp's (y, z, x), which export needs"
    )
    density_range: tuple[float, ...] = option(
        (-2.0, 7.0), nargs=2, metavar=("LO", "HI"), check=density_range_problem, help="clamp of the log-density s"
    )
    init_points: str = option(
        "auto",
        check=init_points_problem,
        metavar="auto|random|FILE",
        help="gs: where the Gaussians start: auto (the dataset's point cloud where it ships one, else random), "
        "random (in the box), or a points3D.bin, points3D.txt or .ply file in the dataset's frame (docs/data.md)",
    )
    max_gaussians: int | None = option(
        None,
        minimum=1,
        into="max_gaussians",
        help="gs: at most this many Gaussians after densification (default: the preset's)",
    )
    distortion: float | None = option(
        None,
        minimum=0,
        into="distortion_weight",
        workflow=True,
        help="weight of the distortion loss, which makes the field decisive (each ray's weight in one short "
        "stretch, so fewer samples stay visible to a student); volume fields only (default: the preset's)",
    )


@dataclass(frozen=True)
class TrainOutcome:
    """What a finished ``train`` run measured (None: stopped early at ``stop_at``)."""

    steps: int
    psnr_test: float | None
    seconds: float


def warms_box(spec: TrainSpec, box: dict | None) -> bool:
    """Whether the run shrinks a capture's automatic box by a warm-up (:mod:`pvd.runs.warm_box`):
    an ``object`` box, not set by hand, with ``box_warmup`` steps, for a ray-marched field."""
    hand = spec.box_centre is not None or spec.scale is not None or spec.bound is not None
    return box is not None and box["mode"] == "object" and not hand and spec.box_warmup > 0 and spec.model_type != "gs"


@releasing
def run_train(spec: TrainSpec) -> TrainOutcome:
    """Train ``spec.model_type`` on ``spec.scene_dir``; resume, stop early and record as the spec says."""
    spec = spec.replace(downscale=spec.downscale or 1)
    train = load_split(spec.scene_dir, spec.data_type, "train", spec.downscale)
    defaults = scene_defaults(spec.data_type, train.meta)
    bound = spec.bound if spec.bound is not None else defaults.bound
    scale = spec.scale if spec.scale is not None else defaults.scale
    dt_gamma = spec.dt_gamma if spec.dt_gamma is not None else defaults.dt_gamma
    if bound <= 0 or scale <= 0 or dt_gamma < 0:
        raise SpecError("bound", f"(and scale) must be > 0 and dt_gamma >= 0, got {bound}, {scale}, {dt_gamma}")
    preset = arch_preset(spec.preset, spec.model_type)
    if spec.model_type == "gs" and spec.distortion:
        raise SpecError("distortion", "applies to volume fields (hash, vm, mlp, tensors), not to gs splats")
    if spec.model_type != "gs" and spec.init_points != "auto":
        raise SpecError("init_points", f"applies to gs teachers only, not to {spec.model_type}")
    if spec.model_type != "gs" and spec.max_gaussians is not None:
        raise SpecError("max_gaussians", f"applies to gs teachers only, not to {spec.model_type}")
    cfg: TeacherConfig = apply_into(spec, preset.teacher)
    test = load_split(spec.scene_dir, spec.data_type, "test", spec.downscale)
    norm = scene_normalization(train, spec.data_type, bound, scale, spec.box_centre)
    if spec.frame == "ngp":
        norm = norm.rotated_by(NGP_ROTATION)

    def meta_for(norm: Normalization) -> ModelMeta:
        return ModelMeta(
            model_type=spec.model_type,
            preset=spec.preset,
            field_config=preset.field,
            render_config=render_config(spec.preset, dt_gamma, bound),
            bound=bound,
            density_range=tuple(spec.density_range),
            normalization=norm,
            kind="teacher",
            data_type=spec.data_type,
            scene_dir=str(spec.scene_dir),
            downscale=spec.downscale,
            image_width=train.cameras.width,
            image_height=train.cameras.height,
            cameras=train.cameras,
            near=train.near,
            far=train.far,
            scene_hash=scene_hash(train.cameras, train.files),
            train_config=asdict(cfg),
        )

    box = train.meta.get("box")
    prune_warmup = meta_for(norm).render_config.prune_warmup
    if warms_box(spec, box) and spec.box_warmup <= prune_warmup:
        raise SpecError(
            "box_warmup",
            f"must exceed the preset's {prune_warmup} steps before the occupancy grid prunes, got {spec.box_warmup}"
            " (0 turns the warm-up off)",
        )
    points = initial_points(spec, norm, bound) if spec.model_type == "gs" else (None, None)
    device = prepare_device(spec.device, spec.gpu_slots)
    ckpt_path = spec.workspace / "checkpoint.pt"
    if warms_box(spec, box) and spec.resume and ckpt_path.exists():
        norm = read_checkpoint(ckpt_path).meta.normalization  # the box its warm-up chose
        box = {**box, "warmup": {**box_fields(norm), "resumed": True}}
    probing = spec.probe_config()
    probe = CurveProbe(test, probing) if probing.points > 0 else None
    torch.manual_seed(spec.seed)
    model = build_model(meta_for(norm), device)
    out = claim(
        spec.workspace,
        WorkspaceIdentity("train", spec.model_type),
        overwrite=spec.overwrite,
        resume=spec.resume,
        need_bytes=checkpoint_bytes(model),
    )
    if warms_box(spec, box) and not (spec.resume and ckpt_path.exists()) and cfg.iters - 1 <= prune_warmup:
        print(f"no box warm-up: the run's {cfg.iters} steps are too few for one (the automatic box as it is)")
    elif warms_box(spec, box) and not (spec.resume and ckpt_path.exists()):
        warm = warm_box(meta_for, norm, train, cfg, spec.box_warmup, spec.seed, device, out)
        norm, box = warm.norm, {**box, "warmup": warm.to_dict()}
        print(f"box warm-up ({warm.steps} steps): the box shrank to {warm.share:.2f} of the seen region's")
        torch.manual_seed(spec.seed)
        model = build_model(meta_for(norm), device)
    init = initial_gaussians(model, *points, spec.seed) if spec.model_type == "gs" else None
    meta, scale = model.meta, norm.scale
    if spec.resume and ckpt_path.exists():
        check_resume(ckpt_path, meta)
    model.grid.mark_untrained(train.cameras, norm)
    result = train_teacher(
        model,
        train,
        cfg,
        out,
        device,
        resume=spec.resume,
        progress=not spec.no_progress,
        stop_at=spec.stop_at,
        probe=probe,
    )
    if result.steps < cfg.iters:
        publish(spec.workspace, out)
        print(f"stopped at step {result.steps} of {cfg.iters}; continue with resume ({ckpt_path})")
        return TrainOutcome(result.steps, None, result.seconds)
    t0 = time.perf_counter()
    psnr = evaluate_model(model, test, device=device, lpips=False).psnr
    save_checkpoint(out / ckpt_path.name, model)
    write_run_record(
        out,
        "train",
        spec,
        device,
        result.seconds,
        metrics={"psnr_test": psnr, "initial_loss": result.initial_loss, "final_loss": result.final_loss},
        config={
            "teacher": asdict(cfg),
            "bound": bound,
            "scale": scale,
            "dt_gamma": dt_gamma,
        },
        scene_box=box,
        **({"init": init} if init is not None else {}),
        **size_fields(model),
        cpu_seconds=round(result.cpu_seconds, 3),
        model_type=spec.model_type,
        preset=spec.preset,
        data_type=spec.data_type,
        iterations=result.steps,
        eval_seconds=round(time.perf_counter() - t0, 3),
        checkpoint=str(ckpt_path),
        **curve_fields(probe, result.curve, result.probe_seconds, result.probe_cpu_seconds),
    )
    publish(spec.workspace, out)
    print(
        f"trained {spec.model_type} ({spec.preset}) for {result.steps} steps in "
        f"{result.seconds:.1f} s: test PSNR {psnr:.2f} dB -> {ckpt_path}"
    )
    return TrainOutcome(result.steps, psnr, result.seconds)


def initial_points(spec: TrainSpec, norm: Normalization, bound: float) -> tuple[PointCloud | None, str | None]:
    """The points a gs teacher starts from as ``spec.init_points`` says, in box units, those in the
    box only (None: random Gaussians), and the file they came from (None: no file)."""
    if spec.init_points == "random":
        return None, None
    given = None if spec.init_points == "auto" else Path(spec.init_points)
    cloud = scene_points(spec.scene_dir, spec.data_type, given)
    if cloud is None:
        return None, None
    inside = in_box(cloud, norm.to_box, bound)
    print(f"gs init: {len(cloud)} points read from {cloud.source}, {len(inside)} in the box")
    if len(inside) == 0 and given is not None:
        raise SpecError(
            "init_points", f"no point of {cloud.source} lies in the scene's box (is it in the dataset's frame?)"
        )
    return (inside if len(inside) else None), cloud.source


def initial_gaussians(model, cloud: PointCloud | None, source: str | None, seed: int) -> dict:
    """Place a gs teacher's Gaussians at ``cloud`` (:mod:`pvd.train.splat_init`; None: keep the random
    ones); returns the record's ``init``: ``source`` (a file name or ``random``), ``points``, ``random``."""
    if cloud is None:
        unused = {"unused_file": source} if source is not None else {}
        return {"source": "random", "points": 0, "random": model.field.config.n_init, **unused}
    init = init_from_points(model.field, cloud, torch.Generator().manual_seed(seed))
    print(f"gs init: {init['points']} Gaussians at points, {init['random']} random ones")
    return init
