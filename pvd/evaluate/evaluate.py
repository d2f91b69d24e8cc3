"""Evaluate a trained model on a dataset split: render every view, score it against the ground truth.

The protocol (docs/method.md, "Evaluation"): white background for the renders *and* for RGBA ground truth
(composited over white), the split's own resolution and intrinsics, per-image PSNR / SSIM /
LPIPS (AlexNet and VGG) averaged over images. :func:`evaluate_model` is the one implementation:
``pvd evaluate`` and the trainers' test-PSNR both call it, so their numbers agree.

Only the time spent inside the renderer counts as render time (CUDA is synchronised around it,
and a few untimed warm-up rays absorb one-off costs such as lazy kernel builds);
``fps = n_images / render_seconds``.

With a ``reference`` model, each view is scored against that model's render instead of the image
(an edited scene without ground truth is scored against its edited teacher).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from pvd.data.cameras import Cameras, image_rays
from pvd.data.scene import SceneSplit
from pvd.metrics import LPIPS_NETS, MIN_SIDE, SSIM_MODES, LpipsSet, load_lpips, mse, psnr_from_mse, ssim, summarize_psnr
from pvd.model import Model
from pvd.render.splat import is_splat_renderer, render_view_output

WHITE = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class ImageScore:
    """Metrics of one view.

    Attributes:
        file: the ground-truth image file.
        psnr, mse, ssim: on [0, 1] RGB over white.
        lpips_alex, lpips_vgg: LPIPS v0.1 distances, ``None`` when unavailable or not requested.
    """

    file: str
    psnr: float
    mse: float
    ssim: float
    lpips_alex: float | None = None
    lpips_vgg: float | None = None


@dataclass
class EvalResult:
    """Metrics of a split (means over images) plus the per-image list.

    Attributes:
        split, n_images, width, height: what was evaluated.
        ssim_mode: ``standard`` or ``pvd-compat``.
        psnr: mean per-image PSNR (dB); psnr_of_mean_mse: PSNR of the mean MSE.
        ssim: mean SSIM; lpips_alex / lpips_vgg: mean LPIPS or ``None``.
        lpips_unavailable_reason: why LPIPS is ``None`` (not requested / weights missing).
        render_seconds: time spent rendering; fps: images per render second.
        per_image: one :class:`ImageScore` per view, in view order.
    """

    split: str
    n_images: int
    width: int
    height: int
    ssim_mode: str
    psnr: float
    psnr_of_mean_mse: float
    ssim: float
    lpips_alex: float | None
    lpips_vgg: float | None
    lpips_unavailable_reason: str | None
    render_seconds: float
    fps: float
    per_image: list[ImageScore] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The ``metrics.json`` payload (``lpips_unavailable_reason`` only when LPIPS is missing)."""
        d = asdict(self)
        if d["lpips_unavailable_reason"] is None:
            del d["lpips_unavailable_reason"]
        return d


def ground_truth_rgb(images: Tensor, background: tuple[float, float, float] = WHITE) -> Tensor:
    """[n, H, W, C] images in [0, 1] -> [n, H, W, 3]: RGBA composited over ``background``."""
    if images.shape[-1] == 4:
        alpha = images[..., 3:4]
        return images[..., :3] * alpha + images.new_tensor(background) * (1 - alpha)
    if images.shape[-1] != 3:
        raise ValueError(f"ground truth must have 3 or 4 channels, got shape {tuple(images.shape)}")
    return images


def model_device(model: Model) -> torch.device:
    """The device holding the model's tensors (the grid always has buffers)."""
    return next(model.grid.buffers()).device


def render_view_full(
    model: Model,
    cameras: Cameras,
    view: int,
    device: torch.device,
    background: tuple[float, float, float] = WHITE,
    chunk: int | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Render camera ``view`` at the cameras' resolution (Gaussian fields by rasterisation,
    :mod:`pvd.render.splat`; the others by ray marching): rgb [H, W, 3] in [0, 1], opacity [H, W] and
    distance [H, W] to the surface each pixel sees (world units, ``depth / opacity``; inf where the
    opacity is 0), all on ``device``."""
    bg = torch.tensor(background, device=device)
    out = render_view_output(model.renderer, cameras, view, model.normalization, bg, chunk)
    h, w = cameras.height, cameras.width
    opacity = out.opacity.float().reshape(h, w)
    depth = out.depth.float().reshape(h, w) / model.normalization.scale
    distance = torch.where(opacity > 0, depth / opacity.clamp_min(1e-12), torch.inf)
    return out.rgb.reshape(h, w, 3).clamp(0, 1), opacity, distance


def render_view(
    model: Model,
    cameras: Cameras,
    view: int,
    device: torch.device,
    background: tuple[float, float, float] = WHITE,
    chunk: int | None = None,
) -> Tensor:
    """Render camera ``view`` at the cameras' resolution: [H, W, 3] float in [0, 1] on ``device``
    (Gaussian fields by rasterisation, :mod:`pvd.render.splat`; the others by ray marching)."""
    return render_view_full(model, cameras, view, device, background, chunk)[0]


def warm_up(model: Model, cameras: Cameras, device: torch.device, n_rays: int = 256) -> None:
    """Render a few rays untimed, so one-off costs (lazy kernel builds, CUDA init) stay out of fps."""
    if is_splat_renderer(model.renderer):
        model.renderer.render_view_image(cameras, 0, model.normalization, torch.tensor(WHITE, device=device))
        return
    rays = image_rays(cameras, 0, model.normalization)[:n_rays].to(device)
    with torch.no_grad():
        model.renderer.render_image(rays, torch.tensor(WHITE, device=device))


def score_image(
    pred: Tensor, gt: Tensor, file: str, ssim_mode: str = "standard", lpips: LpipsSet | None = None
) -> ImageScore:
    """Metrics of one [H, W, 3] render against its [H, W, 3] ground truth (both in [0, 1])."""
    lp = lpips.score(pred, gt) if lpips is not None else {}
    err = mse(pred, gt)
    return ImageScore(
        file=file,
        psnr=psnr_from_mse(err),
        mse=err,
        ssim=ssim(pred, gt, mode=ssim_mode),
        lpips_alex=lp.get("alex"),
        lpips_vgg=lp.get("vgg"),
    )


def summarize(
    scores: list[ImageScore],
    split: str,
    width: int,
    height: int,
    ssim_mode: str,
    render_seconds: float,
    lpips_reason: str | None,
) -> EvalResult:
    """Means over images; an LPIPS mean is ``None`` unless every image has a value."""
    if not scores:
        raise ValueError(f"split {split!r} has no images to evaluate")
    ps = summarize_psnr([s.mse for s in scores])

    def mean_or_none(values: list[float | None]) -> float | None:
        return None if any(v is None for v in values) else float(np.mean(values))

    return EvalResult(
        split=split,
        n_images=len(scores),
        width=width,
        height=height,
        ssim_mode=ssim_mode,
        psnr=ps.mean_psnr,
        psnr_of_mean_mse=ps.psnr_of_mean_mse,
        ssim=float(np.mean([s.ssim for s in scores])),
        lpips_alex=mean_or_none([s.lpips_alex for s in scores]),
        lpips_vgg=mean_or_none([s.lpips_vgg for s in scores]),
        lpips_unavailable_reason=lpips_reason,
        render_seconds=render_seconds,
        fps=len(scores) / render_seconds if render_seconds > 0 else float("inf"),
        per_image=scores,
    )


def lpips_for(images_hw: tuple[int, int], device: torch.device, requested: bool) -> tuple[LpipsSet | None, str | None]:
    """The LPIPS networks usable on images of size (H, W), and why any of them is not."""
    if not requested:
        return None, "not requested"
    h, w = images_hw
    fits = tuple(n for n in LPIPS_NETS if min(h, w) >= MIN_SIDE[n])
    reasons = [
        f"lpips_{n}: {w}x{h} px images are below its {MIN_SIDE[n]} px minimum side" for n in LPIPS_NETS if n not in fits
    ]
    loaded = load_lpips(fits, device) if fits else LpipsSet()
    reasons += [loaded.unavailable_reason] if loaded.unavailable_reason else []
    reason = "; ".join(reasons) or None
    return LpipsSet({**{n: None for n in LPIPS_NETS}, **loaded.models}, reason), reason


def evaluate_model(
    model: Model,
    split: SceneSplit,
    ssim_mode: str = "standard",
    lpips: bool = True,
    device: str | torch.device | None = None,
    progress: bool = False,
    chunk: int | None = None,
    on_image: Callable[[int, Tensor, Tensor], None] | None = None,
    reference: Model | None = None,
    on_depth: Callable[[int, Tensor, Tensor], None] | None = None,
) -> EvalResult:
    """Render every view of ``split`` with a white background and score it.

    Args:
        model: any teacher or student (see :mod:`pvd.model`).
        split: the views; images [n, H, W, 3|4] in [0, 1], RGBA composited over white.
        ssim_mode: ``standard`` or ``pvd-compat`` (see :mod:`pvd.metrics.ssim`).
        lpips: compute LPIPS (AlexNet and VGG) when the backbone weights are available.
        device: where to render and score (default: the model's device).
        progress: show a progress bar.
        chunk: rays per renderer call (default: the renderer's).
        on_image: called as ``on_image(view, pred [H, W, 3], gt [H, W, 3])`` after each view
            (e.g. to save PNGs).
        reference: score against this model's renders of the split's cameras (white background,
            untimed) instead of the split's images, e.g. an edited teacher's when no ground truth of
            the edited scene exists.
    Returns:
        EvalResult with means and per-image values.
    """
    if ssim_mode not in SSIM_MODES:
        raise ValueError(f"ssim_mode {ssim_mode!r} is not one of {SSIM_MODES}")
    device = torch.device(device) if device is not None else model_device(model)
    cams = split.cameras
    nets, reason = lpips_for((cams.height, cams.width), device, lpips)
    scores: list[ImageScore] = []
    render_seconds = 0.0
    warm_up(model, cams, device)
    for view in tqdm(range(len(split)), desc=f"evaluate {split.name}", unit="img", disable=not progress):
        gt = (
            render_view(reference, cams, view, device, chunk=chunk)
            if reference is not None
            else ground_truth_rgb(split.images[view]).to(device)
        )
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        pred, opacity, distance = render_view_full(model, cams, view, device, chunk=chunk)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        render_seconds += time.perf_counter() - t0
        scores.append(score_image(pred, gt, split.files[view], ssim_mode, nets))
        if on_depth is not None:
            on_depth(view, distance, opacity)
        if on_image is not None:
            on_image(view, pred, gt)
    return summarize(scores, split.name, cams.width, cams.height, ssim_mode, render_seconds, reason)
