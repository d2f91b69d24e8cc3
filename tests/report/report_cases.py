"""Synthetic run records for the report tests: metrics.json / record.json written by the test itself.

Values follow :func:`expected_psnr` so each test can check that a number landed in the right cell.
"""

from __future__ import annotations

import json
from pathlib import Path

from pvd.names import ModelName
from pvd.record_types import RECORD_FORMAT

ARCHS = ("hash", "vm", "mlp", "tensors")
GRID5 = (*ARCHS, "gs")  # the 5x5 grid of issue 26 (ARCHS keeps its indices)


def run_record(model: str, seconds: float, kind: str = "", dataset: str = "synthetic", scene: str = "lego", **fields):
    """A record.json payload in pvd's layout (format pvd-record/1) of a run of ``model``: a ``train``
    record for a teacher, ``distill`` for a student, or ``kind`` (``import``, ``evaluate``, ``render``);
    ``fields`` add or replace fields."""
    name = ModelName.parse(model)
    kind = kind or ("train" if name.is_teacher else "distill")
    own = {
        "train": dict(model_type=name.teacher, preset="tiny", data_type=dataset, iterations=30),
        "import": dict(model_type=name.teacher, preset="paper", data_type=dataset, iterations=30000),
        "distill": dict(
            model_type=name.student, teacher_type=name.teacher, preset="tiny", data_type=dataset, iterations=30
        ),
        "evaluate": dict(
            model_type=name.arch,
            model_kind="teacher" if name.is_teacher else "student",
            teacher_type=None if name.is_teacher else name.teacher,
            data_type=dataset,
            split="test",
            n_images=3,
        ),
        "render": dict(model_type=name.arch, model_kind="teacher" if name.is_teacher else "student"),
    }[kind]
    return {
        "format": RECORD_FORMAT,
        "kind": kind,
        "created": "2025-01-01T00:00:00+0000",
        "code_version": {"pvd": "test"},
        "backend": "torch",
        "device": "cpu",
        "seconds": seconds,
        "config": {"scene_dir": f"data/{dataset}/{scene}"},
        "metrics": {},
        **own,
        **fields,
    }


def expected_psnr(scene_index: int, teacher: str, student: str) -> float:
    """Distinct per cell: 30 + scene + 0.1 x teacher index (+ 0.01 x (student index + 1))."""
    value = 30.0 + scene_index + 0.1 * GRID5.index(teacher)
    return value + (0.01 * (GRID5.index(student) + 1) if student else 0.0)


def expected_seconds(teacher: str, student: str) -> float:
    return 100.0 * (GRID5.index(teacher) + 1) + (10.0 * (GRID5.index(student) + 1) if student else 0.0)


def write_cell(
    root: Path, dataset: str, scene: str, scene_index: int, teacher: str, student: str, lpips: bool = True
) -> Path:
    """metrics.json of one evaluated model and the record.json of its training run."""
    model = f"{teacher}2{student}" if student else teacher
    stage = "distill" if student else "teacher"
    cell = root / dataset / scene
    psnr = expected_psnr(scene_index, teacher, student)
    metrics = {
        "psnr": psnr,
        "ssim": psnr / 100.0,
        "split": "test",
        "n_images": 3,
        "ssim_mode": "standard",
        "lpips_alex": psnr / 1000.0 if lpips else None,
        "lpips_vgg": psnr / 500.0 if lpips else None,
        "fps": 2.5,
        "per_image": [],
    }
    if not lpips:
        metrics["lpips_unavailable_reason"] = "weights missing"
    path = cell / "eval" / model / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics))
    record = cell / stage / model / "record.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(run_record(model, expected_seconds(teacher, student), dataset=dataset, scene=scene)))
    return path
