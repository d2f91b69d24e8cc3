"""Distillation into a Gaussian field (any teacher -> ``gs``): image-based, on the teacher's renders.

The ray-batch engine (:mod:`pvd.train.distill`) matches two fields at shared samples; splats are
trained on whole images instead. So a ``gs`` student is distilled by:

1. rendering the teacher (volume renderer, or the rasteriser for a ``gs`` teacher) at the training
   cameras and the pose sampler's data-free views (:class:`pvd.data.poses.PoseSampler`), at most
   :data:`MAX_VIEWS` in all:
   straight colour ``rgb / opacity`` and ``opacity`` as RGBA images, and the depth;
2. initialising the Gaussians where the teacher is opaque: pixels with opacity > 0.5 lifted to
   their expected depth, ``n_init`` of them drawn at random, coloured by the render, isotropic with
   the mean distance to their 3 nearest neighbours as scale (as 3DGS sizes its initial points),
   opacity 0.3;
3. training them on those images as a ``gs`` teacher is trained on photographs
   (:class:`pvd.train.splat.GSTeacherTask`: random backgrounds, densification, the SH ramp), with
   the student preset's ``gs`` teacher schedule over the distillation's ``iters``.

The teacher's geometry, colour and RGB thereby all enter through its renders (no staged schedule
yet); the student's occupancy grid is rebuilt from its own point density at the end.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from pvd.data.cameras import Cameras, image_rays
from pvd.data.poses import PoseSampler
from pvd.data.scene import SceneSplit
from pvd.fields.gs import SH_C0, logit
from pvd.model import Model
from pvd.render.splat import is_splat_renderer
from pvd.train import loop
from pvd.train.distill import DistillConfig, DistillResult, rebuild_grid
from pvd.train.loop import TrainState
from pvd.train.splat import GSTeacherConfig, GSTeacherTask, gs_optimizer

INIT_OPACITY = 0.3
# cells a gs teacher's occupancy grid is grown by before a NeRF student marches on it: the grid is
# estimated from point probes of thin Gaussians and misses surface cells (the demo teacher's volume
# render against its splat render: 27.06 dB on its grid, 28.60 dB grown by one cell, 28.71 by two)
GRID_DILATION = 1
# teacher views a gs student learns from: the training cameras, then sampled poses up to this many (a
# volume-rendered 80 px view costs about 0.4 CPU-s with the tiny hash teacher; 362 views took minutes)
MAX_VIEWS = 128


@torch.no_grad()
def render_teacher(teacher: Model, cameras: Cameras, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Straight-colour RGBA renders [n, H, W, 4] and expected depths [n, H, W] (box units) of ``teacher``."""
    images, depths = [], []
    black = torch.zeros(3, device=device)
    for view in range(len(cameras)):
        if is_splat_renderer(teacher.renderer):
            out = teacher.renderer.render_camera(cameras, view, teacher.normalization, black)
            rgb, opacity, depth = out.rgb.reshape(-1, 3), out.opacity.reshape(-1), out.depth.reshape(-1)
        else:
            rays = image_rays(cameras, view, teacher.normalization).to(device)
            out = teacher.renderer.render_image(rays, black)
            rgb, opacity, depth = out.rgb, out.opacity, out.depth
        straight = (rgb / opacity.clamp_min(1e-6)[:, None]).clamp(0, 1)
        images.append(torch.cat([straight, opacity[:, None].clamp(0, 1)], 1).reshape(cameras.height, cameras.width, 4))
        depths.append((depth / opacity.clamp_min(1e-6)).reshape(cameras.height, cameras.width))
    return torch.stack(images).cpu(), torch.stack(depths).cpu()


def teacher_renders(teacher: Model, cameras: Cameras, device) -> tuple[SceneSplit, torch.Tensor]:
    """The teacher's renders of ``cameras`` as a split of RGBA images (straight colour), and their
    expected depths [n, H, W] (box units)."""
    images, depths = render_teacher(teacher, cameras, device)
    return SceneSplit("teacher renders", images, cameras, tuple(f"view_{i}" for i in range(len(cameras)))), depths


def from_splats(cfg: DistillConfig) -> DistillConfig:
    """The schedule ``cfg`` of a NeRF student for a ``gs`` teacher: the rendered colour term alone
    (against the teacher's rasterised views, :func:`splat_targets`) and no visibility cut-off.

    The teacher's field at points (the sum of its kernels) only approximates what the rasteriser
    draws: the tiny teachers volume-rendered on their grid against their own splat renders score
    27.6 dB (lego) and 17.1 dB (fern, denser and nearer than the splats: mean opacity 0.96 against
    0.87). So the per-sample terms pull the student towards another scene than its colour targets,
    and a cut-off from that field's transmittance drops samples where the splats put their weight
    (fern gs2hash: 22.51 dB with both, 23.35 without the cut-off, 23.63 without either). Without
    them no step evaluates the teacher's field (:func:`pvd.train.distill.needs_teacher_samples`),
    which made a tiny hash student's step three times cheaper (lego: 24 ms against 75 ms).
    """
    return replace(cfg, stages=replace(cfg.stages, progressive=False), visibility_cutoff=0.0)


def splat_targets(teacher: Model, sampler: PoseSampler, seed: int, device) -> SceneSplit:
    """gs -> NeRF: a ``gs`` teacher's rasterised views (the training cameras and one epoch of the
    pose sampler's views), which the ray engine takes as its RGB targets (``real`` rays) while the
    point terms compare the fields at the samples (:mod:`pvd.train.distill`)."""
    generator = torch.Generator().manual_seed(seed)
    return teacher_renders(teacher, Cameras.cat([sampler.cameras, sampler.sample(generator)]), device)[0]


@torch.no_grad()
def dilate_grid(grid, cells: int) -> float:
    """Grow ``grid``'s occupied cells (an :class:`pvd.render.occupancy.OccupancyGrid`) by ``cells`` in
    every direction, per cascade, within the cells the cameras see; returns the occupied share."""
    if cells > 0:
        occ = grid.occupancy.float()[:, None]  # [C, 1, R, R, R]
        grown = torch.nn.functional.max_pool3d(occ, 2 * cells + 1, stride=1, padding=cells)[:, 0] > 0
        grid.occupancy.copy_(grown & grid.seen)
    return grid.occupied_fraction()


def knn_spacing(points: torch.Tensor, k: int = 3, chunk: int = 2048) -> torch.Tensor:
    """[n, 3] -> [n] mean distance of each point to its ``k`` nearest others (3DGS's initial scale)."""
    if len(points) <= k:
        return torch.full((len(points),), 0.01)
    out = []
    for start in range(0, len(points), chunk):
        dist = torch.cdist(points[start : start + chunk], points)  # [c, n]
        out.append(dist.topk(k + 1, dim=1, largest=False).values[:, 1:].mean(1))
    return torch.cat(out)


@torch.no_grad()
def init_from_renders(
    student: Model, cameras: Cameras, images: torch.Tensor, depths: torch.Tensor, generator: torch.Generator
) -> int:
    """Place ``student``'s Gaussians on the teacher's opaque pixels (see the module doc); returns their number."""
    points, colors = [], []
    for view in range(len(cameras)):
        opaque = (images[view, ..., 3] > 0.5).reshape(-1)
        rays = image_rays(cameras, view, student.normalization)
        t = depths[view].reshape(-1)[opaque]
        points.append(rays.origins[opaque] + rays.directions[opaque] * t[:, None])
        colors.append(images[view, ..., :3].reshape(-1, 3)[opaque])
    points, colors = torch.cat(points), torch.cat(colors)
    field = student.field
    n = min(field.config.n_init, len(points))
    if n == 0:
        return len(field)  # a teacher without opaque pixels: keep the random initialisation
    pick = torch.randperm(len(points), generator=generator)[:n]
    means = points[pick]
    scale = knn_spacing(means)
    k = (field.config.sh_degree + 1) ** 2
    field.set_from(
        {
            "means": means,
            "log_scales": torch.log(scale.clamp_min(1e-6))[:, None].expand(n, 3),
            "quats": torch.tensor([1.0, 0.0, 0.0, 0.0]).expand(n, 4),
            "opacity_logits": torch.full((n,), logit(INIT_OPACITY)),
            "sh_dc": (colors[pick] - 0.5) / SH_C0,
            "sh_rest": torch.zeros(n, k - 1, 3),
        }
    )
    return n


def distill_to_splats(
    teacher: Model,
    student: Model,
    sampler: PoseSampler,
    cfg: DistillConfig,
    schedule: GSTeacherConfig,
    workspace: Path,
    device: torch.device,
    resume: bool = False,
    progress: bool = True,
    label: str = "distill",
    stop_at: int | None = None,
    probe=None,
) -> DistillResult:
    """Distil ``teacher`` into the ``gs`` model ``student`` (see the module doc) with the gs teacher
    ``schedule`` (densification, learning rates) run for ``cfg.iters`` steps; the other arguments
    are :func:`pvd.train.distill.distill`'s."""
    gs_cfg = replace(
        schedule,
        iters=cfg.iters,
        densify_until=min(schedule.densify_until, int(0.7 * cfg.iters)),
        ckpt_every=cfg.ckpt_every,
        seed=cfg.seed,
        precision=cfg.precision,
    )
    generator = torch.Generator().manual_seed(cfg.seed)
    poses = sampler.sample(generator)
    cameras = Cameras.cat([sampler.cameras, poses[: max(0, MAX_VIEWS - len(sampler.cameras))]])
    split, depths = teacher_renders(teacher, cameras, device)
    init_from_renders(student, cameras, split.images, depths, generator)
    student.to(device)
    state = TrainState.create(*gs_optimizer(student.field, gs_cfg), device, gs_cfg.seed, gs_cfg.precision)
    task = GSTeacherTask(student, split, gs_cfg, state.generator, device, state.optimizer)
    task.label = label
    ckpt_path = workspace / "checkpoint.pt"
    if resume and ckpt_path.exists():
        loop.resume(ckpt_path, student, state, task)
    end = loop.run_steps(
        task,
        student,
        state,
        iters=gs_cfg.iters,
        ckpt_path=ckpt_path,
        ckpt_every=gs_cfg.ckpt_every,
        stop_at=stop_at,
        progress=progress,
        probe=probe,
    )
    occupancy = None
    if end == gs_cfg.iters:
        occupancy = rebuild_grid(student, cfg.grid_passes, state.generator)
    mse = task.losses[-20:]
    return DistillResult(
        steps=end,
        seconds=state.seconds,
        cpu_seconds=state.cpu_seconds,
        final_losses={"rgb": sum(mse) / max(len(mse), 1)},
        stages=[],
        grid_occupancy=occupancy,
        finished=end == gs_cfg.iters,
        curve=state.curve,
        probe_seconds=state.probe_seconds,
        probe_cpu_seconds=state.probe_cpu_seconds,
    )
