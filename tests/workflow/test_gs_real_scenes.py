"""benchmarks/gs_pairs.py --scene: the real scenes read with the box of config/real-cpu.yaml."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gs_pairs():
    spec = importlib.util.spec_from_file_location("gs_pairs_bench", REPO / "benchmarks" / "gs_pairs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.mark.parametrize(("scene", "dataset"), [("lego", "synthetic"), ("fern", "llff")])
def test_a_real_scene_is_read_as_the_real_cpu_workflow_reads_it(gs_pairs, scene, dataset):
    """Data type, downscale and the box (bound, scale, dt_gamma) match config/real-cpu.yaml's dataset."""
    cfg = yaml.safe_load((REPO / "config" / "real-cpu.yaml").read_text())["datasets"][dataset]
    s = gs_pairs.SCENES[scene]
    opts = dict(zip(s.train_options[::2], s.train_options[1::2], strict=True))
    assert opts["--data_type"] == dataset
    assert int(opts["--downscale"]) == cfg["downscale"]
    for key, value in cfg["defaults"].items():
        assert float(opts[f"--{key}"]) == pytest.approx(value), key
    assert s.path.startswith(Path(cfg["root"]).name + "/") and scene in cfg["scenes"]


def test_the_real_grid_is_the_issues_rows(gs_pairs):
    """gs, hash and mlp teachers (the from-scratch scores), then hash2gs, gs2hash and gs2mlp."""
    names = [r.name for r in gs_pairs.grid(gs_pairs.SCENES["fern"])]
    assert names == ["gs", "hash", "mlp", "hash2gs", "gs2hash", "gs2mlp"]
    assert len(gs_pairs.grid()) == 14  # the demo: 5 teachers and 9 pairs
