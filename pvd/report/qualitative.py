"""The qualitative grid of one scene: ground truth, the teachers and their students on one test view.

Read from the evaluations (``<dataset>/<scene>/eval/<model>/metrics.json`` and the renders that
``pvd evaluate --render_views`` wrote and listed in it), never re-rendered. Left block: the ground
truth above a grid with the teachers in rows, the teacher itself in the first column and its
students after it, each labelled with the view's PSNR; middle block: the same grid of error maps
(mean absolute error, ``inferno``, as :mod:`pvd.evaluate.renders` draws them); right block: the same
grid of depth images (the rendered distance to the surface, ``turbo`` from the near to the far end of
the scale metrics.json records), when the evaluations saved them. Evaluations from before depth
images were saved have none: their cells say so, and without any the block is left out. An
optional crop ``(x, y, width, height)`` in pixels zooms every image into the same region.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pvd.errors import SpecError, UserError
from pvd.fields import ARCHS, DISPLAY_NAMES
from pvd.report.collect import DATASET_TITLES, grid_model
from pvd.report.figures import save_figure


@dataclass(frozen=True)
class ViewRender:
    """One model's render of the chosen view: images [H, W, 3] uint8 and the view's PSNR; the depth
    image and its scale (near, far; world units) or None for evaluations that saved none."""

    teacher: str
    student: str
    render: np.ndarray
    error: np.ndarray
    gt: np.ndarray
    psnr: float
    file: str
    depth: np.ndarray | None = None
    depth_range: tuple[float, float] | None = None


def read_view(metrics_path: str | Path, view: int) -> ViewRender:
    """The renders of ``view`` listed in an evaluation's metrics.json."""
    import imageio.v3 as iio

    path = Path(metrics_path)
    name = grid_model(path.parent.name)
    if name.variant:
        raise UserError(f"{path}: the qualitative grid shows the main cells, not the variant {name.variant!r}")
    metrics = json.loads(path.read_text())
    saved = [r for r in metrics.get("renders", []) if r["view"] == view]
    if not saved:
        raise UserError(f"{path} lists no renders of view {view}: evaluate with `render_views` {view}")
    entry = saved[0]
    images = {k: iio.imread(path.parent / entry[k])[..., :3] for k in ("render", "gt", "error", "depth") if k in entry}
    return ViewRender(
        name.teacher,
        name.student,
        images["render"],
        images["error"],
        images["gt"],
        float(metrics["per_image"][view]["psnr"]),
        entry["file"],
        images.get("depth"),
        (float(entry["depth_near"]), float(entry["depth_far"])) if "depth_near" in entry else None,
    )


def _crop(img: np.ndarray, crop: tuple[int, int, int, int] | None) -> np.ndarray:
    if crop is None:
        return img
    x, y, w, h = crop
    if x < 0 or y < 0 or w < 1 or h < 1 or x + w > img.shape[1] or y + h > img.shape[0]:
        raise SpecError("crop", f"{x} {y} {w} {h} does not fit a {img.shape[1]}x{img.shape[0]} image")
    return img[y : y + h, x : x + w]


def _depth_legend(renders: list[ViewRender]) -> str:
    """The depth block's legend: its colours and scale (world units)."""
    ranges = {r.depth_range for r in renders if r.depth_range is not None}
    scale = (
        "near {:.3g} to far {:.3g}".format(*ranges.pop())
        if len(ranges) == 1
        else "each model's near to far (metrics.json)"
    )
    return f"distance to surface\nturbo: {scale}\n(world units; white: empty)"


def qualitative_figure(
    metrics_paths: list[str | Path],
    view: int,
    out_dir: str | Path,
    crop: tuple[int, int, int, int] | None = None,
    caption: str = "",
) -> list[Path]:
    """``<dataset>_<scene>_qualitative.{png,pdf}`` from the evaluations of one scene's models."""
    import matplotlib.pyplot as plt

    paths = [Path(p) for p in metrics_paths]
    places = {(p.parts[-5], p.parts[-4]) for p in paths}
    if len(places) != 1:
        raise UserError(f"the qualitative grid shows one scene, got {sorted(places)}")
    dataset, scene = places.pop()
    renders = {(r.teacher, r.student): r for r in (read_view(p, view) for p in paths)}
    teachers = [a for a in ARCHS if (a, "") in renders or any(t == a for t, _ in renders)]
    students = [a for a in ARCHS if any(s == a for _, s in renders)]
    columns = [""] + students
    n_rows, n_cols = 1 + len(teachers), len(columns)
    kinds = ("render", "error") + (("depth",) if any(r.depth is not None for r in renders.values()) else ())
    size = 1.6
    fig = plt.figure(figsize=(len(kinds) * n_cols * size + 0.6, n_rows * size + 0.9))
    blocks = fig.subfigures(1, len(kinds), wspace=0.02)
    first = next(iter(renders.values()))
    legends = {
        "error": "|render - truth|\nmean over RGB\n0 to 0.25 (inferno)",
        "depth": _depth_legend(list(renders.values())),
    }
    titles = {"render": "renders (column 1: the teacher itself)", "error": "error maps", "depth": "depth"}
    for block, kind in zip(blocks, kinds):
        axes = block.subplots(n_rows, n_cols, squeeze=False)
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        gt_ax = axes[0, 0]
        if kind == "render":
            gt_ax.imshow(_crop(first.gt, crop))
            gt_ax.set_title("ground truth", fontsize=8)
        else:
            gt_ax.text(
                0.5,
                0.5,
                legends[kind],
                ha="center",
                va="center",
                fontsize=7,
                transform=gt_ax.transAxes,
            )
        for j, student in enumerate(columns):
            if j:
                axes[0, j].set_title(f"-> {DISPLAY_NAMES[student]}", fontsize=8, y=-0.02, va="top")
        for i, teacher in enumerate(teachers, start=1):
            axes[i, 0].set_ylabel(DISPLAY_NAMES[teacher], fontsize=8)
            for j, student in enumerate(columns):
                r = renders.get((teacher, student))
                image = None if r is None else getattr(r, kind)
                if image is None:
                    if r is not None:  # an evaluation from before depth images were saved
                        axes[i, j].text(0.5, 0.5, "no depth saved", ha="center", va="center", fontsize=7, color="grey")
                    continue
                axes[i, j].imshow(_crop(image, crop))
                if kind == "depth":
                    continue
                axes[i, j].text(
                    0.03,
                    0.04,
                    f"{r.psnr:.2f} dB",
                    transform=axes[i, j].transAxes,
                    fontsize=7,
                    color="white",
                    bbox={"facecolor": "black", "alpha": 0.6, "pad": 1, "linewidth": 0},
                )
        block.suptitle(titles[kind], fontsize=9)
    title = f"{DATASET_TITLES[dataset]} / {scene}: test view {view} ({Path(first.file).name})"
    fig.suptitle(title + (f"\n{caption}" if caption else ""), fontsize=10, y=1.02)
    return save_figure(fig, Path(out_dir), f"{dataset}_{scene}_qualitative")
