"""Learning-curve probes: a few fixed test views at reduced resolution, scored during training.

:class:`CurveProbe` is the engine's :class:`pvd.train.loop.Probe` for ``pvd train`` and ``pvd
distill`` (the command layer wires it in; the engine calls :meth:`CurveProbe.measure` at about
``points`` evenly spaced steps). The views are chosen once per scene from its test split
(:func:`probe_views`: evenly spaced, the first and the last included) and recorded with the curve;
each is area-averaged to at most ``size`` pixels on its longer side (an integer factor, the
intrinsics divided by it), RGBA composited over white as in :mod:`pvd.evaluate.evaluate`. Gaussian
splats are rendered at the split's resolution and area-averaged alike (see :meth:`CurveProbe._render_all`).

A point's ``psnr`` is the mean per-view PSNR against the ground truth; for a student,
``psnr_vs_teacher`` is the mean PSNR against the teacher's renders of the same views (rendered once,
at the first measurement). Rendering uses no random generator, so probing does not change training.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from pvd.data.cameras import Cameras
from pvd.data.images import area_downscale
from pvd.data.scene import SceneSplit
from pvd.errors import SpecError, UserError
from pvd.evaluate.evaluate import ground_truth_rgb, model_device, render_view
from pvd.metrics import mse, psnr_from_mse
from pvd.model import Model
from pvd.render.splat import is_splat_renderer


@dataclass(frozen=True)
class ProbeConfig:
    """What the learning curve measures.

    Attributes:
        points: probes per run, evenly spaced over the steps, first and last included (0: no curve).
        views: test views probed.
        size: longest side of a probed view in pixels (the split's images are area-averaged down by
            the smallest integer factor that fits).
    """

    points: int = 20
    views: int = 4
    size: int = 32

    def check(self) -> None:
        if self.points < 0:
            raise SpecError("curve_points", f"must be >= 0, got {self.points}")
        if self.views < 1:
            raise SpecError("probe_views", f"must be >= 1, got {self.views}")
        if self.size < 1:
            raise SpecError("probe_size", f"must be >= 1, got {self.size}")


def probe_views(n_views: int, k: int) -> list[int]:
    """``min(k, n_views)`` evenly spaced view indices of ``n_views``, first and last included."""
    k = min(k, n_views)
    if k <= 1:
        return [0][:k]
    return sorted({round(i * (n_views - 1) / (k - 1)) for i in range(k)})


def reduced_cameras(cameras: Cameras, factor: int) -> Cameras:
    """Cameras of images area-averaged by an integer ``factor`` (right and bottom remainders cropped)."""
    return Cameras(
        cameras.c2w,
        cameras.fx / factor,
        cameras.fy / factor,
        cameras.cx / factor,
        cameras.cy / factor,
        cameras.width // factor,
        cameras.height // factor,
    )


def probe_cameras(cameras: Cameras, views: int, size: int) -> tuple[list[int], int, Cameras]:
    """The probed views of ``cameras``: their indices (:func:`probe_views`), the integer reduction
    factor that brings the longer side to at most ``size`` pixels, and the reduced cameras [k]."""
    indices = probe_views(len(cameras), views)
    factor = max(1, math.ceil(max(cameras.width, cameras.height) / size))
    return indices, factor, reduced_cameras(cameras[indices], factor)


def reduced_render(model: Model, cameras: Cameras, full: Cameras, factor: int, view: int, device) -> Tensor:
    """``model``'s render [h, w, 3] (on the CPU) of view ``view`` of the reduced ``cameras``, whose
    full-resolution views are ``full`` (``factor`` times larger). Splats drawn at a fraction of their
    resolution are dominated by the rasteriser's 0.3 px dilation (the demo's gs teacher: 16 dB at
    26 px, 33 dB at 80 px), so a splat model is rendered at ``full`` and area-averaged as the ground
    truth is; any other model is rendered at ``cameras`` directly."""
    if is_splat_renderer(model.renderer):
        return torch.from_numpy(area_downscale(render_view(model, full, view, device).cpu().numpy(), factor))
    return render_view(model, cameras, view, device).cpu()


MIN_MSE = 1e-10  # PSNR is capped at 100 dB (a student identical to its teacher would be +inf)


def capped_psnr(pred: Tensor, ref: Tensor) -> float:
    return psnr_from_mse(max(mse(pred, ref), MIN_MSE))


class CurveProbe:
    """Scores a model on the probe views: ``measure(model) -> {"psnr"[, "psnr_vs_teacher"]}``.

    Args:
        test: the scene's test split (images [n, H, W, 3|4]).
        cfg: points, views and size.
        teacher: for a student, the frozen teacher whose renders are the second reference.
    """

    def __init__(self, test: SceneSplit, cfg: ProbeConfig, teacher: Model | None = None):
        cfg.check()
        if len(test) == 0:
            raise UserError("the learning-curve probe needs test views, and the test split is empty")
        self.points = cfg.points
        self.cfg = cfg
        self.views, self.factor, self.cameras = probe_cameras(test.cameras, cfg.views, cfg.size)
        self.full_cameras = test.cameras[self.views]
        gt = [area_downscale(test.images[v].numpy(), self.factor) for v in self.views]
        self.gt = ground_truth_rgb(torch.from_numpy(np.stack(gt)))  # [k, h, w, 3]
        self.files = [test.files[v] for v in self.views]
        self.teacher = teacher
        self._teacher_renders: list[Tensor] | None = None

    def _render_all(self, model: Model) -> list[Tensor]:
        device = model_device(model)
        return [
            reduced_render(model, self.cameras, self.full_cameras, self.factor, i, device)
            for i in range(len(self.views))
        ]

    def measure(self, model: Model) -> dict[str, float]:
        renders = self._render_all(model)
        out = {"psnr": float(np.mean([capped_psnr(r, g) for r, g in zip(renders, self.gt)]))}
        if self.teacher is not None:
            if self._teacher_renders is None:
                self._teacher_renders = self._render_all(self.teacher)
            out["psnr_vs_teacher"] = float(np.mean([capped_psnr(r, t) for r, t in zip(renders, self._teacher_renders)]))
        return out

    def describe(self) -> dict:
        """What the curve was measured on (for ``record.json``)."""
        return {
            **asdict(self.cfg),
            "view_indices": self.views,
            "files": self.files,
            "factor": self.factor,
            "width": self.cameras.width,
            "height": self.cameras.height,
        }
