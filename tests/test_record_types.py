"""Typed run records: every kind the commands write reads back typed; one clear error per bad file."""

from __future__ import annotations

import json

import pytest

from pvd.record_types import (
    PARTS,
    CurvePoint,
    DistillPart,
    EvaluatePart,
    Record,
    RecordError,
    TrainPart,
)
from pvd.records import make_record

CURVE = [
    {"step": 0, "seconds": 0.0, "cpu_seconds": 0.0, "psnr": 10.5},
    {"step": 20, "seconds": 1.5, "cpu_seconds": 2.9, "psnr": 21.25, "psnr_vs_teacher": 24.0, "ssim": 0.7},
]
GPU = {"device_request": "auto", "gpu_slot": None, "gpu_peak_memory_mb": None}
# the kind-specific fields each command passes (pvd/commands/*.py), with values of their types
KINDS = {
    "train": dict(
        scene_box=None,
        cpu_seconds=3.2,
        model_type="hash",
        preset="tiny",
        data_type="synthetic",
        iterations=20,
        eval_seconds=0.4,
        checkpoint="ws/checkpoint.pt",
        curve=CURVE,
        curve_probe={"points": 2, "seconds": 0.1, "cpu_seconds": 0.2},
        precision="float32",
    ),
    "distill": dict(
        cpu_seconds=2.0,
        pair="hash2vm",
        teacher_type="hash",
        model_type="vm",
        preset="tiny",
        data_type="synthetic",
        iterations=12,
        stages=[{"name": "density_color", "start": 0, "end": 4}],
        init="random",
        init_copied=[],
        student_grid="teacher",
        grid_occupancy=0.25,
        pose_region={"kind": "box"},
        eval_seconds=0.3,
        checkpoint="d/checkpoint.pt",
        teacher_checkpoint="t/checkpoint.pt",
        precision="float32",
    ),
    "evaluate": dict(
        model_type="vm",
        model_kind="student",
        teacher_type="hash",
        data_type="synthetic",
        split="test",
        n_images=3,
        ssim_mode="standard",
        checkpoint="d/checkpoint.pt",
        metrics_file="e/metrics.json",
        reference=None,
    ),
    "edit": dict(
        program={"ops": []},
        sources=[{"model_type": "hash", "checkpoint": "t/checkpoint.pt", "sha256": "ab"}],
        base_type="hash",
        baked=False,
        checkpoint="x/checkpoint.pt",
    ),
    "import": dict(
        model_type="vm",
        preset="paper",
        data_type="synthetic",
        source_file="ref.pth",
        source_sha256="cd",
        source_epoch=3,
        source_global_step=3000,
        ignored_entries=[],
        checkpoint="i/checkpoint.pt",
        iterations=3000,
    ),
    "render": dict(
        model_type="hash",
        model_kind="teacher",
        data_type="synthetic",
        path="orbit",
        width=32,
        height=32,
        video="r/video.gif",
        checkpoint="t/checkpoint.pt",
    ),
    "export": dict(
        model_type="hash",
        model_kind="teacher",
        export_format="mesh",
        out="x/mesh.ply",
        checkpoint="t/checkpoint.pt",
        views=16,
    ),
}


def _written(kind: str, **changes) -> dict:
    """A record as make_record writes it, through JSON (as it lies on disk)."""
    config = {"scene_dir": "/data/scenes/lego/", "workspace": "ws"}
    fields = {**GPU, **KINDS[kind], **changes}
    return json.loads(json.dumps(make_record(kind, config, "cpu", "torch", 1.23456, {"psnr": 20.0}, **fields)))


def test_every_kind_is_covered():
    assert set(KINDS) == set(PARTS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_reads_back_typed_and_writes_the_same_layout(kind, tmp_path):
    payload = _written(kind)
    path = tmp_path / "record.json"
    path.write_text(json.dumps(payload))
    record = Record.from_json(path)
    assert record.kind == kind and isinstance(record.part, PARTS[kind]) and record.path == path
    assert record.seconds == pytest.approx(1.235) and record.device.device == "cpu" and record.backend == "torch"
    assert record.code_version["pvd"] and record.config["workspace"] == "ws" and record.metrics == {"psnr": 20.0}
    assert record.scene == "lego" and record.extra == {}
    assert record.to_json() == {k: v for k, v in payload.items() if v is not None}
    assert Record.from_json(record.to_json()) == record


def test_training_parts_are_typed():
    train = Record.from_json(_written("train"))
    assert isinstance(train.part, TrainPart) and train.part.model_type == "hash" and train.part.iterations == 20
    assert train.precision == "float32" and train.cpu_seconds == 3.2
    assert train.curve == (
        CurvePoint(0, 0.0, 0.0, 10.5),
        CurvePoint(20, 1.5, 2.9, 21.25, 24.0, {"ssim": 0.7}),
    )
    distill = Record.from_json(_written("distill"))
    assert isinstance(distill.part, DistillPart) and (distill.part.teacher_type, distill.part.model_type) == (
        "hash",
        "vm",
    )
    assert distill.curve == ()  # no probe, no curve
    evaluate = Record.from_json(_written("evaluate"))
    assert isinstance(evaluate.part, EvaluatePart) and evaluate.part.reference is None and evaluate.cpu_seconds is None
    edit = Record.from_json(_written("edit"))
    assert edit.part.sources[0].checkpoint == "t/checkpoint.pt" and edit.scene == "lego"


def test_unknown_fields_are_kept():
    record = Record.from_json(_written("train", new_field={"a": 1}, curve=[{**CURVE[0], "lpips": 0.5}]))
    assert record.extra == {"new_field": {"a": 1}} and record.curve[0].extra == {"lpips": 0.5}
    assert record.to_json()["new_field"] == {"a": 1} and record.to_json()["curve"][0]["lpips"] == 0.5


@pytest.mark.parametrize(
    "change, message",
    [
        ({"format": "pvd-record/2"}, "record format 'pvd-record/2' is not one this pvd reads ('pvd-record/1')"),
        ({"format": None}, "record format None is not one this pvd reads"),
        ({"kind": "teacher"}, "unknown record kind 'teacher'; known: train, distill, evaluate, edit, import, render"),
        ({"seconds": None}, "field 'seconds' = None is not a number"),
        ({"seconds": "3"}, "field 'seconds' = '3' is not a number"),
        ({"iterations": 2.5}, "field 'iterations' = 2.5 is not an integer"),
        ({"model_type": 3}, "field 'model_type' = 3 is not a string"),
        ({"config": []}, "field 'config' = [] is not a JSON object"),
        ({"curve": [{"step": 0}]}, "field 'curve[0]' lacks the field(s) ['seconds', 'cpu_seconds', 'psnr']"),
        ({"curve": [{**CURVE[0], "psnr": "x"}]}, "field 'curve[0].psnr' = 'x' is not a number"),
    ],
)
def test_a_bad_record_is_one_error_naming_the_file(tmp_path, change, message):
    path = tmp_path / "run" / "record.json"
    path.parent.mkdir()
    path.write_text(json.dumps({**_written("train"), **change}))
    with pytest.raises(RecordError) as err:
        Record.from_json(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_missing_kind_fields_and_unreadable_files_are_named(tmp_path):
    payload = _written("distill")
    del payload["teacher_type"], payload["iterations"]
    with pytest.raises(RecordError, match=r"^rec: the distill record lacks the field\(s\) \['teacher_type', 'iter"):
        Record.from_json(payload, where="rec")
    with pytest.raises(RecordError, match="lacks the field 'seconds'"):
        Record.from_json({k: v for k, v in _written("render").items() if k != "seconds"})
    with pytest.raises(RecordError, match=r"record.json does not exist"):
        Record.from_json(tmp_path / "record.json")
    (tmp_path / "record.json").write_text("{not json")
    with pytest.raises(RecordError, match=r"record.json is not readable JSON"):
        Record.from_json(tmp_path / "record.json")
    (tmp_path / "record.json").write_text("[1]")
    with pytest.raises(RecordError, match=r"record.json: a record is a JSON object, got list"):
        Record.from_json(tmp_path / "record.json")


def test_make_record_refuses_what_could_not_be_read_back():
    with pytest.raises(RecordError, match="the teacher record being written: unknown record kind 'teacher'"):
        make_record("teacher", {}, "cpu", "torch", 1.0, {})
    with pytest.raises(RecordError, match="the train record being written: the train record lacks"):
        make_record("train", {}, "cpu", "torch", 1.0, {}, model_type="hash")
