"""Figures: PNG and PDF per dataset; the heatmap's brightest cell sits where the highest PSNR is."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
from matplotlib import colormaps

from pvd.report.collect import collect, find_metrics, read_csv, write_csv
from pvd.report.figures import COLORMAP, write_dataset_figures


def test_figures_are_written_and_the_heatmap_is_oriented(results_tree, tmp_path):
    csv = tmp_path / "results.csv"
    write_csv(collect(find_metrics(results_tree)), csv)
    paths = write_dataset_figures(read_csv(csv), "synthetic", tmp_path / "figures")
    names = sorted(p.name for p in paths)
    assert names == sorted(f"synthetic_{f}.{e}" for f in ("heatmap", "bars", "scatter") for e in ("png", "pdf"))
    for p in paths:
        head = p.read_bytes()[:5]
        assert head == (b"%PDF-" if p.suffix == ".pdf" else b"\x89PNG\r")
    image = iio.imread(tmp_path / "figures" / "synthetic_heatmap.png")[..., :3].astype(float)
    cmap = colormaps[COLORMAP]
    positions = []
    for level in (0.0, 1.0):
        target = np.array(cmap(level)[:3]) * 255
        close = np.linalg.norm(image - target, axis=-1) < 12
        ys, xs = np.nonzero(close)
        assert len(xs) > 200, f"no heatmap cell of colour level {level}"
        positions.append((xs.mean(), ys.mean()))
    (low_x, low_y), (high_x, high_y) = positions
    # lowest PSNR: hash teacher itself (top-left cell); highest: tensors -> tensors (bottom-right);
    # the colour bar holds both colours too, so compare the means only coarsely
    assert high_y > low_y and high_x > low_x
