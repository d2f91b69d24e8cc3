"""Fault catalogue, damaged weights: a checkpoint (pvd's own or the reference code's) with a NaN or an
infinity is refused when read, in one line naming the file and the entry (exit 2), nothing written."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))
from reference_cases import checkpoint  # noqa: E402


def test_nan_in_a_pvd_checkpoint_is_named(pvd, demo_scene, teacher, tmp_path):
    payload = torch.load(teacher / "checkpoint.pt", weights_only=True)
    name = next(k for k, v in payload["field"].items() if v.is_floating_point())
    payload["field"][name] = payload["field"][name].clone()
    payload["field"][name].view(-1)[3] = float("nan")
    bad = tmp_path / "bad.pt"
    torch.save(payload, bad)
    ws = tmp_path / "ev"
    result = pvd("evaluate", demo_scene, "--ckpt", bad, "--workspace", ws, "--no_lpips", "--no_progress")
    assert result.rc == 2
    assert f"checkpoint {bad}: field entry {name!r} holds 1 non-finite value(s)" in result.line
    assert not ws.exists()
    result = pvd("distill", demo_scene, "--ckpt_teacher", bad, "--model_type", "vm", "--workspace", tmp_path / "s")
    assert result.rc == 2 and "non-finite" in result.line and not (tmp_path / "s").exists()


def test_infinite_density_grid_in_a_reference_file_is_named(pvd, demo_scene, tmp_path):
    payload = checkpoint("hash")
    payload["model"]["density_grid"] = payload["model"]["density_grid"].clone()
    payload["model"]["density_grid"][0, 5] = float("inf")
    path = tmp_path / "hash_ep0300.pth"
    torch.save(payload, path)
    ws = tmp_path / "ws"
    result = pvd("import", path, "--model_type", "hash", "--data_type", "synthetic", demo_scene, "--workspace", ws)
    assert result.rc == 2
    assert f"reference checkpoint {path}: grid entry" in result.line and "non-finite" in result.line
    assert not ws.exists()
