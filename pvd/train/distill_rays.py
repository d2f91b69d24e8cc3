"""The rays of each distillation step: this epoch's data-free poses, optional real training
pixels (with ground-truth colour targets) and PVD-AL's hard-ray pool, each with its background.

Backgrounds are random per ray by default: both fields composite over the same colours, and
matching rendered colours over random backgrounds pins down the teacher's opacity.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pvd.data.cameras import Cameras, Normalization, Rays, pixel_rays, sample_pixels
from pvd.data.poses import PoseSampler
from pvd.data.scene import SceneSplit
from pvd.errors import SpecError
from pvd.train.active import ActiveConfig, HardPoseTracker, HardRayPool
from pvd.train.teacher import composite_gt


@dataclass
class Batch:
    """Rays of one step.

    Attributes:
        rays: [n] box rays.
        bg: [n, 3] background colours.
        view: [n] long index into the epoch's views, -1 for rays not from a pose.
        gt: [n, 3] ground-truth colour where ``real`` is set (else zeros).
        real: [n] bool, rays from real training pixels.
    """

    rays: Rays
    bg: torch.Tensor
    view: torch.Tensor
    gt: torch.Tensor
    real: torch.Tensor


class BatchSource:
    """Draws each step's rays (see :class:`Batch`).

    Args:
        sampler: data-free pose sampler; :meth:`new_epoch` draws its poses.
        norm: world -> box map of the scene.
        batch_rays: rays per step.
        active: PVD-AL options (hard poses, hard-ray pool).
        generator: source of every random draw.
        real: training split with images, for ``real_ray_fraction > 0``.
        real_ray_fraction: share of each batch from real training pixels.
        random_background: random background per ray (else white).
        jitter_pixels: ray positions uniform inside pixels (else pixel centres).
    """

    def __init__(
        self,
        sampler: PoseSampler,
        norm: Normalization,
        batch_rays: int,
        active: ActiveConfig,
        generator: torch.Generator,
        real: SceneSplit | None = None,
        real_ray_fraction: float = 0.0,
        random_background: bool = True,
        jitter_pixels: bool = True,
    ):
        if real_ray_fraction > 0 and real is None:
            raise SpecError(
                "real_ray_fraction", f"is {real_ray_fraction:g}: mixing in real rays needs the training images"
            )
        self.sampler, self.norm, self.batch_rays, self.active = sampler, norm, batch_rays, active
        self.gen, self.real, self.real_ray_fraction = generator, real, real_ray_fraction
        self.random_background, self.jitter_pixels = random_background, jitter_pixels
        self.views: Cameras | None = None
        self.tracker: HardPoseTracker | None = None
        self.pool = HardRayPool(active.hard_ray_pool) if active.hard_rays else None

    def new_epoch(self) -> None:
        """Fresh poses; the previous epoch's hardest poses come back jittered (PVD-AL option)."""
        views = self.sampler.sample(self.gen)
        act = self.active
        if act.hard_poses and self.tracker is not None and self.views is not None:
            hard = self.tracker.hardest(act.hard_pose_ratio)
            if len(hard):
                again = self.sampler.jitter(self.views[hard], act.hard_pose_jitter_deg, self.gen)
                views = Cameras.cat([views, again])
        self.views = views
        self.tracker = HardPoseTracker(len(views)) if act.hard_poses else None

    def draw(self, device: torch.device) -> Batch:
        """The next batch of ``batch_rays`` rays: pose rays, then pool rays, then real rays."""
        gen, n = self.gen, self.batch_rays
        n_real = round(self.real_ray_fraction * n)
        n_pool = round(self.active.hard_ray_mix * n) if self.pool is not None and len(self.pool) else 0
        n_pose = n - n_real - n_pool
        views = self.views
        px = sample_pixels(len(views), views.width, views.height, n_pose, gen, jitter=self.jitter_pixels)
        parts = [pixel_rays(views, px.view, px.u, px.v, self.norm)]
        view = [px.view]
        gt = [torch.zeros(n_pose, 3)]
        if n_pool:
            parts.append(self.pool.sample(n_pool, gen))
            view.append(torch.full((n_pool,), -1, dtype=torch.long))
            gt.append(torch.zeros(n_pool, 3))
        bg = torch.rand(n, 3, generator=gen) if self.random_background else torch.ones(n, 3)
        if n_real:
            split = self.real
            rp = sample_pixels(
                len(split), split.cameras.width, split.cameras.height, n_real, gen, jitter=self.jitter_pixels
            )
            parts.append(pixel_rays(split.cameras, rp.view, rp.u, rp.v, self.norm))
            view.append(torch.full((n_real,), -1, dtype=torch.long))
            pixels = split.images[rp.view, rp.row, rp.col]
            gt.append(composite_gt(pixels, bg[n - n_real :]))
        real = torch.zeros(n, dtype=torch.bool)
        real[n - n_real :] = True
        rays = Rays(torch.cat([r.origins for r in parts]), torch.cat([r.directions for r in parts]))
        return Batch(rays.to(device), bg.to(device), torch.cat(view), torch.cat(gt).to(device), real.to(device))

    def observe(self, batch: Batch, ray_error: torch.Tensor) -> None:
        """Feed per-ray errors [n] to the PVD-AL trackers."""
        if self.tracker is not None:
            self.tracker.add(batch.view, ray_error)
        if self.pool is not None:
            pose_rays = batch.view >= 0
            self.pool.add(batch.rays[pose_rays], ray_error[pose_rays], self.active.hard_ray_ratio)

    def state_dict(self) -> dict:
        v = self.views
        return {
            "views": None
            if v is None
            else {"c2w": v.c2w, "fx": v.fx, "fy": v.fy, "cx": v.cx, "cy": v.cy, "width": v.width, "height": v.height},
            "tracker": None if self.tracker is None else self.tracker.state_dict(),
            "pool": None if self.pool is None else self.pool.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        v = state["views"]
        self.views = (
            None if v is None else Cameras(v["c2w"], v["fx"], v["fy"], v["cx"], v["cy"], v["width"], v["height"])
        )
        if state["tracker"] is not None:
            self.tracker = HardPoseTracker(len(self.views))
            self.tracker.load_state_dict(state["tracker"])
        if state["pool"] is not None and self.pool is not None:
            self.pool.load_state_dict(state["pool"])
