"""Edit programs: parsing, and one clear error (operation and field named) for every bad program."""

from __future__ import annotations

import json

import pytest
from edit_cases import ball_model

from pvd.data.cameras import Normalization
from pvd.edit.apply import edit_model, load_inserted
from pvd.edit.program import EditError, Placement, parse_program, read_program
from pvd.model import save_checkpoint

SCENE = Normalization(1.0, 0.8, (0.0, 0.0, 0.0))  # world box [-1.25, 1.25]^3


def _prog(*ops):
    return {"operations": list(ops)}


ERASE = {"op": "erase", "min": [0.0, -0.3, 0.0], "max": [0.6, 0.3, 0.5]}


def test_a_program_round_trips_and_resolves_checkpoints(tmp_path):
    doc = _prog(
        ERASE,
        {"op": "keep", "min": [-1, -1, -1], "max": [1, 1, 1]},
        {"op": "move", "min": [0, 0, 0], "max": [0.2, 0.2, 0.2], "translate": [0.1, 0, 0], "rotate_z": 90},
        {"op": "insert", "checkpoint": "o/checkpoint.pt", "min": [0, 0, 0], "max": [0.1, 0.1, 0.1]},
    )
    (tmp_path / "p.yaml").write_text(json.dumps(doc))  # YAML is a superset of JSON
    program = read_program(tmp_path / "p.yaml")
    assert [op.kind for op in program.ops] == ["erase", "keep", "move", "insert"]
    assert program.ops[2].place == Placement((0.1, 0.0, 0.0), 90.0, 1.0)
    assert program.checkpoints() == [str(tmp_path / "o" / "checkpoint.pt")]
    assert parse_program(program.to_dict()) == program


def test_placement_turns_about_the_box_centre():
    p = Placement((0.0, 0.0, 1.0), 90.0, 2.0).apply((1.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    assert p == pytest.approx((0.0, 2.0, 1.0))


@pytest.mark.parametrize(
    "doc, message",
    [
        ([ERASE], "must be a mapping with the one key 'operations'"),
        ({"operations": [], "x": 1}, "must be a mapping with the one key 'operations'"),
        (_prog(), "operations must be a non-empty list"),
        (_prog("erase"), "operation 1: must be a mapping"),
        (_prog(ERASE, {"op": "cut", "min": [0, 0, 0], "max": [1, 1, 1]}), r"operation 2: op 'cut' is unknown"),
        (_prog({**ERASE, "translate": [1, 0, 0]}), r"operation 1 \(erase\): unknown keys \['translate'\]"),
        (_prog({"op": "keep", "min": [0, 0, 0]}), r"operation 1 \(keep\): lacks \['max'\]"),
        (
            _prog({"op": "insert", "min": [0, 0, 0], "max": [1, 1, 1]}),
            r"operation 1 \(insert\): lacks \['checkpoint'\]",
        ),
        (_prog({**ERASE, "min": [0, 0]}), r"operation 1 \(erase\): min must be a list of 3 numbers"),
        (_prog({**ERASE, "max": [1, "a", 1]}), r"operation 1 \(erase\): max must be a list of 3 numbers"),
        (_prog({**ERASE, "max": [1, float("nan"), 1]}), r"operation 1 \(erase\): max must be 3 finite numbers"),
        (_prog({**ERASE, "min": [0.6, -0.3, 0.0]}), r"operation 1 \(erase\): box is empty or inverted along x"),
        (_prog({**ERASE, "min": [0.0, 0.5, 0.6]}), r"operation 1 \(erase\): box is empty or inverted along y, z"),
        (_prog({**ERASE, "op": "move", "scale": 0}), r"operation 1 \(move\): scale must be > 0"),
        (_prog({**ERASE, "op": "move", "rotate_z": "ninety"}), r"operation 1 \(move\): rotate_z must be a finite"),
        (_prog({**ERASE, "op": "move", "translate": [0, 0, True]}), r"operation 1 \(move\): translate must be 3"),
        (_prog({**ERASE, "op": "insert", "checkpoint": ""}), r"operation 1 \(insert\): checkpoint must be a path"),
    ],
)
def test_structural_errors_name_the_operation_and_field(doc, message):
    with pytest.raises(EditError, match=message):
        parse_program(doc)


@pytest.mark.parametrize(
    "op, message",
    [
        (
            {"op": "erase", "min": [0, 0, 0], "max": [1.3, 0.1, 0.1]},
            r"operation 1 \(erase\): box \[0, 0, 0\] - \[1.3, 0.1, 0.1\] leaves the scene box .* along x",
        ),
        ({"op": "keep", "min": [-2, -2, -2], "max": [2, 2, 2]}, r"operation 1 \(keep\): box .* along x, y, z"),
        (
            {"op": "move", "min": [0, 0, 0], "max": [0.4, 0.4, 0.4], "translate": [1.0, 0, 0]},
            (
                r"operation 1 \(move\): translate/rotate_z/scale place the content at \[1, 0, 0\] - \[1.4, 0.4, 0.4\], "
                r"outside the scene box .* along x"
            ),
        ),
        (
            {"op": "move", "min": [0.5, 0.5, 0], "max": [1.2, 1.2, 0.2], "rotate_z": 45},
            r"operation 1 \(move\): .* outside the scene box .* along x, y",
        ),
        (
            {"op": "move", "min": [0, 0, 0], "max": [0.8, 0.8, 0.8], "scale": 4},
            r"operation 1 \(move\): .* outside the scene box",
        ),
    ],
)
def test_boxes_and_placements_must_stay_in_the_scene_box(op, message):
    with pytest.raises(EditError, match=message):
        edit_model(ball_model(), parse_program(_prog(op)))


def test_an_insert_box_must_lie_in_the_inserted_scene(other_ckpt):
    # other scene: scale 0.6, offset 0.1 -> world x in [-1.833, 1.5]
    program = parse_program(
        _prog(
            {
                "op": "insert",
                "checkpoint": str(other_ckpt),
                "min": [1.4, 0, 0],
                "max": [1.6, 0.1, 0.1],
                "translate": [-1.0, 0, 0],
            }
        )
    )
    with pytest.raises(
        EditError,
        match=r"operation 1 \(insert\): box .* leaves the inserted checkpoint's "
        r"scene box .* along x",
    ):
        edit_model(ball_model(), program, load_inserted(program, "cpu"))


@pytest.mark.parametrize("content", [None, b"not a checkpoint", b"edited"])
def test_an_unreadable_inserted_checkpoint_names_the_operation(tmp_path, content):
    path = tmp_path / "src" / "checkpoint.pt"
    if content == b"edited":
        base = ball_model()
        save_checkpoint(path, edit_model(base, parse_program(_prog(ERASE)))[0])
        expected = r"operation 2 \(insert\): checkpoint .* is itself edited"
    elif content is not None:
        path.parent.mkdir()
        path.write_bytes(content)
        expected = r"operation 2 \(insert\): checkpoint cannot be read: checkpoint .* is truncated or not a pvd"
    else:
        expected = r"operation 2 \(insert\): checkpoint cannot be read: checkpoint .* does not exist"
    program = parse_program(
        _prog(ERASE, {"op": "insert", "checkpoint": str(path), "min": [0, 0, 0], "max": [0.1, 0.1, 0.1]})
    )
    with pytest.raises(EditError, match=expected):
        load_inserted(program, "cpu")


def test_program_files_that_cannot_be_read(tmp_path):
    with pytest.raises(EditError, match="edit program .*missing.yaml does not exist"):
        read_program(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("operations: [\n")
    with pytest.raises(EditError, match="edit program .*bad.yaml cannot be read"):
        read_program(tmp_path / "bad.yaml")
    (tmp_path / "bad.json").write_text(json.dumps(_prog({"op": "erase"})))
    with pytest.raises(EditError, match=r"bad.json: edit program: operation 1 \(erase\): lacks \['min', 'max'\]"):
        read_program(tmp_path / "bad.json")


def test_an_edited_base_and_a_bad_floor_are_refused():
    base = ball_model()
    program = parse_program(_prog(ERASE))
    with pytest.raises(EditError, match="density_floor must be a number <= the base's lower density clamp -2.0"):
        edit_model(base, program, density_floor=0.0)
    edited, _ = edit_model(base, program)
    with pytest.raises(EditError, match="base checkpoint is already edited"):
        edit_model(edited, program)
