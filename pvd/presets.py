"""The one preset registry: per preset and architecture, the field's size, the teacher schedule,
the distillation schedule and the renderer settings, as frozen dataclasses.

``paper`` reproduces the reference's architectures and schedules (docs/method.md; for GPUs);
``tiny`` is sized to train in about a minute on 2 CPU cores (same code, smaller numbers).
Per-scene values (bound, scale, dt_gamma) come from the workflow's config or the command line;
:data:`DATASET_DEFAULTS` fills in what is not given.

    p = arch_preset("tiny", "vm")          # ArchPreset: .field, .teacher, .distill, .render
    field = build_field("hash", "paper", bound=1.0)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace

from pvd.errors import SpecError
from pvd.fields import ARCHS, GSConfig, HashConfig, MLPConfig, TensorsConfig, VMConfig, check_arch, make_field
from pvd.fields.base import Field
from pvd.render import RenderConfig
from pvd.train.converge import StopConfig
from pvd.train.distill import DistillConfig
from pvd.train.splat import GSTeacherConfig
from pvd.train.splat_distill import from_splats
from pvd.train.stages import StageConfig
from pvd.train.teacher import TeacherConfig

PRESET_NAMES: tuple[str, ...] = ("tiny", "paper")


@dataclass(frozen=True)
class SceneDefaults:
    """Box and step defaults of a dataset type (world -> box: ``scale``, box half-size ``bound``)."""

    bound: float
    scale: float
    dt_gamma: float


DATASET_DEFAULTS = {
    "synthetic": SceneDefaults(bound=1.0, scale=0.8, dt_gamma=0.0),
    "llff": SceneDefaults(bound=2.0, scale=0.33, dt_gamma=0.003),
    "tank": SceneDefaults(bound=1.0, scale=0.5, dt_gamma=0.0),
}


def scene_defaults(data_type: str, split_meta: dict) -> SceneDefaults:
    """Box and step defaults of a scene: its dataset type's, or a capture's automatic box
    (``meta["box"]`` of its split index, :mod:`pvd.data.capture`)."""
    if data_type == "capture":
        box = split_meta["box"]
        return SceneDefaults(bound=box["bound"], scale=box["scale"], dt_gamma=box["dt_gamma"])
    return DATASET_DEFAULTS[data_type]


@dataclass(frozen=True)
class ArchPreset:
    """Everything a preset fixes for one architecture.

    Attributes:
        field: the field's frozen config (its size).
        teacher: the schedule of ``pvd train``.
        distill: the schedule of ``pvd distill`` into this architecture (as the student).
        render: renderer and occupancy-grid settings (``dt_gamma`` is the scene's: replace it).
    """

    field: object
    teacher: TeacherConfig
    distill: DistillConfig
    render: RenderConfig


# ---------------------------------------------------------------- paper: the reference's (docs/method.md)

# The reference architectures parameter for parameter (docs/interop.md): hash levels as its
# GridEncoder (ceil sizes, rows in multiples of 8, +0.5 vertex offset, zero outside the box); mlp
# with raw box coordinates and [encoding, hidden] at the skip. vm (plane/line axis pairs,
# align_corners=True) and tensors ([z, y, x] volume, RGB-major SH coefficients, torch-ngp's SH
# constants) need no option.
_PAPER_FIELDS = {
    "hash": HashConfig(resolution_rounding="ceil", row_multiple=8, vertex_offset=0.5, outside="zero"),
    "vm": VMConfig(),
    "mlp": MLPConfig(skip_input_first=True, divide_by_bound=False),
    "tensors": TensorsConfig(),
    "gs": GSConfig(min_thickness=0.002),  # the 3DGS paper's: 100 k random Gaussians, SH degree 3
}
# iterations, lr and regulariser weight of the authors' teachers (synthetic). Each batch is drawn
# from all training images, not from one image as the reference draws it: one view's rays per step
# made the paper hash teacher learn slower than tiny (lego 200x200, 1024 rays, 100 steps: 19.25 dB
# probe from one image, 22.07 dB from all; benchmarks/results/paper_presets_cpu). The schedule
# and the architecture are the reference's either way.
_PAPER_TEACHERS = {
    a: TeacherConfig(iters=i, batch_rays=8192, lr=lr, reg_weight=reg, rays_from_one_image=False, ckpt_every=5000)
    for a, (i, lr, reg) in {
        "hash": (40000, 1e-2, 0.0),
        "vm": (30000, 2e-2, 1e-4),
        "mlp": (50000, 2e-3, 0.0),
        "tensors": (15000, 2e-2, 0.0),
    }.items()
}
# the 3DGS paper's schedule (30 k steps, densify 500..15 k every 100, opacity reset every 3 k, SH
# degree +1 every 1 k); lr: the means' (1.6e-4 per unit of scene extent, about 3 box units)
_PAPER_TEACHERS["gs"] = GSTeacherConfig(iters=30000, batch_rays=1, lr=5e-4, ckpt_every=5000)
_PAPER_DISTILL_LR = {"hash": 1e-2, "vm": 1e-2, "mlp": 1e-3, "tensors": 1e-2, "gs": 1e-2}
# the reference: 30k steps of 4096 rays, lr 1e-2 (mlp 1e-3), AdamW's default weight decay 0.01
_PAPER_DISTILL = {
    a: DistillConfig(iters=30000, batch_rays=4096, lr=lr, weight_decay=0.01, ckpt_every=5000, visibility_cutoff=1e-3)
    for a, lr in _PAPER_DISTILL_LR.items()
}
_PAPER_RENDER = RenderConfig(max_steps=1024, grid_resolution=128)

# ---------------------------------------------------------------- tiny: 2 CPU cores, about a minute

_TINY_FIELDS = {
    "hash": HashConfig(
        n_levels=8,
        n_features=2,
        log2_table_size=15,
        base_resolution=16,
        finest_resolution=384.0,
        sigma_hidden=32,
        color_hidden=32,
    ),
    # per_bound: at bound 2 (fern) 96 points over the box left the hash2vm student 2.6 dB under its
    # teacher (26.47 dB); 192 brought it to 0.8 dB (1000 steps). Bound-1 scenes are unchanged.
    "vm": VMConfig(resolution=96, density_rank=8, appearance_rank=24, color_hidden=32, per_bound=True),
    "mlp": MLPConfig(n_octaves=8, width=96, n_layers=5, skip=1, out_dim=16, sigma_hidden=32, color_hidden=32),
    # per_bound: 64 points per unit of bound (64^3 on bound-1 scenes as before, 128^3 on fern's
    # bound-2 box, where 64^3 left hash2tensors 4.4 dB under its teacher); a row-sparse gradient
    # from 1 M rows (128^3: 2.1 M), where it makes a step 2.3x faster (64^3: dense is faster).
    "tensors": TensorsConfig(resolution=64, per_bound=True, sparse_grad_rows=1_000_000),
    "gs": GSConfig(n_init=4000, sh_degree=3, index_resolution=64, min_thickness=0.01),
}
_TINY_TEACHERS = {
    a: TeacherConfig(iters=1500, batch_rays=1024, lr=lr, reg_weight=reg, ckpt_every=500)
    for a, (lr, reg) in {"hash": (1e-2, 0.0), "vm": (2e-2, 1e-4), "mlp": (1e-2, 0.0), "tensors": (3e-2, 0.0)}.items()
}
# gs: whole images (batch_rays is the number of views per step), the 3DGS schedule compressed
_TINY_TEACHERS["gs"] = GSTeacherConfig(
    iters=1500,
    batch_rays=1,
    lr=5e-4,
    ckpt_every=500,
    densify_from=100,
    densify_until=1000,
    densify_every=100,
    reset_every=500,
    sh_every=300,
)
# A 30x shorter run than the paper's needs larger steps for the grid-based students; the weight
# decay is scaled so that each step decays parameters as much as in the paper preset (lr * wd
# unchanged) -- at 0.01 it erodes even a perfect same-type copy. The mlp student gains more from
# more steps at half the rays (vm->mlp: 2000 x 512 +0.4 dB over 1000 x 1024 in the same time; 2500
# steps for margin). The tensors student is the opposite: its step costs mostly the dense update of
# its grid, so half the steps at twice the rays is cheaper and no worse (demo, 1 thread: hash2tensors
# 30.38 -> 30.53 dB, 31.3 -> 21.9 processor s; mlp2tensors 28.75 -> 28.87, 42.5 -> 31.4;
# tensors2tensors 29.70 -> 29.78, 41.8 -> 27.9).
# Stage warm-up (pvd.train.stages): 4 % of the run, i.e. 100 of the mlp student's steps and 40 of the
# hash and vm students'. Fern, 2 threads: tensors->mlp at 1600 steps 22.40 -> 24.07 dB, mlp->mlp
# 23.13 dB against the teacher's 23.19; hash->vm and vm->vm unchanged (25.64 -> 25.68, 25.89 -> 25.89).
_TINY_STAGE_WARMUP = 0.04
_TINY_DISTILL_LR = {"hash": 1e-2, "vm": 3e-2, "mlp": 1e-2, "tensors": 1e-1, "gs": 1e-2}
# The stopping rule (pvd.train.converge) watches the last fifth of the cap for a gain of 0.1 dB
# against the teacher's renders, measured every 1/20 of the cap: on the demo no student stops early
# (their full-resolution PSNR still grows until the cap: hash2vm 30.43 / 30.67 / 31.00 dB at 300 /
# 500 / 1000 steps), so the rule only ends runs that have stopped improving.
_TINY_DISTILL = {
    a: DistillConfig(
        iters=it,
        batch_rays=rays,
        lr=_TINY_DISTILL_LR[a],
        weight_decay=0.01 * _PAPER_DISTILL_LR[a] / _TINY_DISTILL_LR[a],
        ckpt_every=500,
        visibility_cutoff=1e-2,
        stages=StageConfig(warmup=_TINY_STAGE_WARMUP),
        # (gs students train on whole images, pvd.train.splat_distill, without the rule yet)
        stop=StopConfig(rule="off" if a == "gs" else "plateau", window=0.2, min_gain=0.1),
    )
    for a, (it, rays) in {
        "hash": (1000, 1024),
        "vm": (1000, 1024),
        "mlp": (2500, 512),
        "tensors": (500, 2048),
        "gs": (1500, 1),  # whole views per step: the gs teacher schedule on the teacher's renders
    }.items()
}
_TINY_RENDER = RenderConfig(max_steps=192, grid_resolution=48, prune_warmup=64, empty_keep_ratio=0.02)
# gs teacher -> NeRF student: the students that learn from the teacher's rasterised views alone
# (pvd.train.splat_distill.from_splats), with their step changes. No step evaluates the teacher's
# field then, so a tiny hash step costs 2.4x (fern: 44 ms against 107) to 3x (lego: 24 ms against
# 75) less, and 2400 steps take the time 1000 did. The 32 px probes barely move while the full-size
# PSNR still grows (lego, 3000 steps: probe 25.4 dB at step 316 and 25.3 at 3000; against the
# teacher's renders 30.8 dB at 1000 steps and 32.7 at 3000), so the stopping rule would end these
# runs early. The mlp student keeps the plain schedule: without the per-sample terms it lost 1.1 dB
# on lego (25.14 against 26.22 dB), and without the cut-off it evaluates more samples, so its step
# cost as much as before (51 ms). vm and tensors students are not measured yet: plain schedule.
_TINY_FROM_SPLATS = {"hash": {"iters": 2400, "stop": StopConfig(rule="off")}}

PRESETS: dict[str, dict[str, ArchPreset]] = {
    "paper": {a: ArchPreset(_PAPER_FIELDS[a], _PAPER_TEACHERS[a], _PAPER_DISTILL[a], _PAPER_RENDER) for a in ARCHS},
    "tiny": {a: ArchPreset(_TINY_FIELDS[a], _TINY_TEACHERS[a], _TINY_DISTILL[a], _TINY_RENDER) for a in ARCHS},
}


# (the paper preset is not measured with a gs teacher: plain schedule)
_FROM_SPLATS = {"tiny": _TINY_FROM_SPLATS, "paper": {}}

# Per data type: forward-facing LLFF scenes give a tiny mlp student ~6x the samples of a synthetic
# scene's step (fern: 56 per ray that the teacher does not hide; a step costs 64 ms at 2 threads
# against the demo's 15 ms at one), and with the stage warm-up it reaches in 1600 steps what 2500 gave
# without (fern, 2 threads: hash->mlp 24.44 dB in 190 s at 2500 steps, 24.07 in 102 s at 1600;
# tensors->mlp 23.40 in 186 s, 24.07 in 100 s). On the demo the same cut costs up to 0.43 dB, so
# the synthetic scenes keep 2500.
_TINY_BY_DATA = {"llff": {"mlp": {"iters": 1600}}}
_BY_DATA = {"tiny": _TINY_BY_DATA, "paper": {}}


def distill_config(
    preset: str, student: str, teacher: str | None = None, data_type: str | None = None
) -> DistillConfig:
    """The schedule of ``pvd distill`` into ``student`` at ``preset``: the preset's, or for a ``gs``
    teacher and a student listed in ``_FROM_SPLATS`` (tiny hash) its splat-teacher form
    (:func:`pvd.train.splat_distill.from_splats`) with that entry's step changes; then the changes
    ``_BY_DATA`` lists for the scene's ``data_type`` (tiny mlp students on LLFF scenes)."""
    cfg = arch_preset(preset, student).distill
    changes = _FROM_SPLATS[preset].get(student) if teacher == "gs" else None
    if changes is not None:
        cfg = replace(from_splats(cfg), **changes)
    by_data = _BY_DATA[preset].get(data_type, {}).get(student) if teacher != "gs" else None
    return cfg if by_data is None else replace(cfg, **by_data)


def check_preset(preset: str) -> None:
    if preset not in PRESETS:
        raise SpecError("preset", f"{preset!r} is unknown; expected one of {list(PRESET_NAMES)}")


def arch_preset(preset: str, arch: str) -> ArchPreset:
    """The settings of architecture ``arch`` at ``preset``."""
    check_preset(preset)
    check_arch(arch)
    return PRESETS[preset][arch]


def field_config(arch: str, preset: str):
    """The frozen field config of ``arch`` at ``preset``."""
    return arch_preset(preset, arch).field


TINY_STEPS = 192


def render_config(preset: str, dt_gamma: float = 0.0, bound: float = 1.0) -> RenderConfig:
    """Renderer settings of ``preset`` for a scene's ``dt_gamma`` and ``bound``.

    ``tiny`` keeps its finest step relative to the box (``TINY_STEPS`` steps across the box's
    diagonal at any ``bound >= 1``; ``max_steps`` counts steps across the unit cube's diagonal): a
    forward-facing scene at bound 2 fills its box in depth, and with the bound-1 step every ray took
    ~100 samples (fern, 126x94), the whole of a pair's time. ``paper`` keeps the reference's step.
    """
    check_preset(preset)
    base = replace(PRESETS[preset][ARCHS[0]].render, dt_gamma=dt_gamma)
    if preset == "tiny":
        base = replace(base, max_steps=max(1, round(TINY_STEPS / max(bound, 1.0))))
    return base


def build_field(arch: str, preset: str, bound: float, density_range=(-2.0, 7.0), **overrides) -> Field:
    """The field ``arch`` sized by ``preset`` (config values replaced by ``overrides``)."""
    return make_field(arch, field_config(arch, preset), bound, density_range, **overrides)


def with_overrides(cfg, **overrides):
    """``dataclasses.replace`` ignoring ``None`` values (unset CLI flags)."""
    return dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
