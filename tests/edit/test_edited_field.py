"""The edited field: what each operation does to density and colour, its grid, its checkpoint."""

from __future__ import annotations

import pytest
import torch
from edit_cases import ball_model

from pvd.edit.apply import edit_model, load_inserted
from pvd.edit.program import parse_program
from pvd.model import (
    CheckpointError,
    ModelMeta,
    load_model,
    read_checkpoint,
    save_checkpoint,
)

NORM_SCALE = 0.8


def _box(world):
    return torch.as_tensor(world, dtype=torch.float32) * NORM_SCALE


def _edit(*ops, base=None, **kwargs):
    program = parse_program({"operations": list(ops)})
    return edit_model(base or ball_model(), program, load_inserted(program, "cpu"), **kwargs)


def _dirs(n):
    return torch.nn.functional.normalize(torch.randn(n, 3, generator=torch.Generator().manual_seed(1)), dim=-1)


def test_erase_is_exactly_empty_and_leaves_the_rest():
    base = ball_model()
    edited, stats = _edit({"op": "erase", "min": [0.3, -0.5, -0.5], "max": [0.8, 0.5, 0.5]}, base=base)
    x = _box([[0.35, 0.0, 0.2], [0.1, 0.0, 0.2], [-0.9, 0.9, 0.9]])
    d = _dirs(3)
    out, ref = edited.field(x, d), base.field(x, d)
    assert out.sigma[0] == 0 and out.s[0] == -10.0
    assert torch.equal(out.sigma[1:], ref.sigma[1:]) and torch.equal(out.rgb[1:], ref.rgb[1:])
    assert torch.equal(edited.field.density(x), out.sigma)
    assert edited.meta.density_range == (-10.0, 7.0)
    # the half of the ball in the box left the grid; nothing was added
    assert 0 < stats.removed < stats.occupied_before and stats.added == 0
    assert not edited.grid.occupied(_box([[0.4, 0.0, 0.2]])).item()
    assert edited.grid.occupied(_box([[0.15, 0.0, 0.2]])).item()


def test_keep_crops():
    base = ball_model()
    edited, _ = _edit({"op": "keep", "min": [0.3, -0.5, -0.5], "max": [0.8, 0.5, 0.5]}, base=base)
    sigma = edited.field.density(_box([[0.35, 0.0, 0.2], [0.1, 0.0, 0.2]]))
    assert sigma[0] == base.field.density(_box([[0.35, 0.0, 0.2]]))[0] and sigma[1] == 0


def test_move_translates_the_content_and_empties_the_source():
    base = ball_model()
    edited, stats = _edit(
        {"op": "move", "min": [0.0, -0.3, -0.1], "max": [0.6, 0.3, 0.5], "translate": [-0.7, 0.2, 0.1]}, base=base
    )
    p = torch.tensor([[0.3, 0.0, 0.2], [0.45, 0.1, 0.3], [0.2, -0.2, 0.0]])
    d = _dirs(3)
    onto = _box(p + torch.tensor([-0.7, 0.2, 0.1]))
    moved, ref = edited.field(onto, d), base.field(_box(p), d)
    # densities add to the destination's own (there: the base's floor exp(-2))
    assert torch.allclose(moved.sigma, ref.sigma + base.field.density(onto), rtol=1e-5)
    assert torch.allclose(moved.rgb[:2], ref.rgb[:2], atol=0.01)
    assert (edited.field.density(_box(p)) == 0).all()
    assert stats.added > 0 and stats.removed > 0


def test_move_rotates_view_directions_and_scales_density():
    base = ball_model(tilt=2.0)  # colour depends on the x of the view direction
    edited, _ = _edit(
        {"op": "move", "min": [0.0, -0.3, -0.1], "max": [0.6, 0.3, 0.5], "rotate_z": 90, "scale": 0.5}, base=base
    )
    # box centre c = (0.3, 0, 0.2); T(p) = c + 0.5 * Rz(90) (p - c)
    p = torch.tensor([[0.35, 0.05, 0.25]])
    rel = p - torch.tensor([0.3, 0.0, 0.2])
    q = torch.tensor([0.3, 0.0, 0.2]) + 0.5 * torch.stack([-rel[:, 1], rel[:, 0], rel[:, 2]], -1)
    d = torch.tensor([[1.0, 0.0, 0.0]])
    d_rot = torch.tensor([[0.0, 1.0, 0.0]])  # Rz(90) d
    out, ref = edited.field(_box(q), d_rot), base.field(_box(p), d)
    assert torch.allclose(out.rgb, ref.rgb, atol=1e-3)
    assert not torch.allclose(edited.field(_box(q), d).rgb, ref.rgb, atol=1e-2)
    # half the size, twice the density (q lies in the emptied source box: nothing else adds)
    assert torch.allclose(out.sigma, ref.sigma * 2, rtol=1e-5)


def test_insert_maps_between_two_normalisations(other_ckpt):
    other = load_model(other_ckpt)
    base = ball_model()
    op = {
        "op": "insert",
        "checkpoint": str(other_ckpt),
        "min": [-0.45, -0.15, 0.05],
        "max": [0.05, 0.35, 0.55],
        "translate": [-0.3, 0.4, 0.0],
    }
    edited, stats = _edit(op, base=base)
    p = torch.tensor([[-0.2, 0.1, 0.3], [-0.1, 0.2, 0.35]])  # inside the other ball (world)
    d = _dirs(2)
    onto = p + torch.tensor([-0.3, 0.4, 0.0])
    out = edited.field(_box(onto), d)
    src = other.field(p * 0.6 + torch.tensor([0.1, 0.0, 0.0]), d)
    # the base's floor (sigma exp(-2)) adds to the inserted density; scale ratio 0.6 / 0.8
    expected = src.sigma * 0.6 / 0.8 + base.field.density(_box(onto))
    assert torch.allclose(out.sigma, expected, rtol=1e-5)
    assert torch.allclose(out.rgb, src.rgb, atol=0.01)
    assert stats.added > 0 and len(edited.field.sources) == 2


def test_the_checkpoint_rebuilds_the_same_model(tmp_path, ball_ckpt, other_ckpt):
    base = load_model(ball_ckpt)
    program = parse_program(
        {
            "operations": [
                {"op": "erase", "min": [0.3, -0.5, -0.5], "max": [0.8, 0.5, 0.5]},
                {"op": "insert", "checkpoint": str(other_ckpt), "min": [-0.45, -0.15, 0.05], "max": [0.05, 0.35, 0.55]},
            ]
        }
    )
    edited, _ = edit_model(base, program, load_inserted(program, "cpu"), base_path=ball_ckpt)
    save_checkpoint(tmp_path / "e.pt", edited)
    back = load_model(tmp_path / "e.pt")
    x = torch.rand(500, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    d = _dirs(500)
    a, b = edited.field(x, d), back.field(x, d)
    assert torch.equal(a.sigma, b.sigma) and torch.equal(a.rgb, b.rgb)
    assert torch.equal(edited.grid.occupancy, back.grid.occupancy)
    sources = back.meta.field_config.sources
    assert [s["model_type"] for s in sources] == ["tensors", "tensors"]
    assert sources[0]["checkpoint"] == str(ball_ckpt) and len(sources[1]["sha256"]) == 64
    assert back.meta.field_config.program == program.to_dict()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda fc: fc["ops"][0].update(kind="cut"), r"edited field config: op 0: kind 'cut' is not one of"),
        (lambda fc: fc["ops"][0].pop("hi"), r"edited field config: op 0 \(erase\): keys"),
        (lambda fc: fc["sources"][0].update(model_type="edited"), r"source 0: model_type 'edited' is not one of"),
        (lambda fc: fc["sources"][0].pop("bound"), r"source 0: missing keys \['bound'\]"),
        (lambda fc: fc.update(sources=[]), "needs at least one source"),
        (lambda fc: fc["ops"][0].update(lo=[0, 0]), r"op 0 \(erase\) lo must be 3 numbers"),
    ],
)
def test_a_damaged_edited_meta_is_a_clear_checkpoint_error(tmp_path, change, message):
    edited, _ = _edit({"op": "erase", "min": [0.3, -0.5, -0.5], "max": [0.8, 0.5, 0.5]})
    save_checkpoint(tmp_path / "e.pt", edited)
    payload = torch.load(tmp_path / "e.pt", weights_only=True)
    change(payload["meta"]["field_config"])
    with pytest.raises(
        CheckpointError, match=f"checkpoint .*e.pt: {message}" if "edited field" in message else message
    ):
        ModelMeta.from_dict(payload["meta"], where=f"checkpoint {tmp_path / 'e.pt'}")
    torch.save(payload, tmp_path / "e.pt")
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(tmp_path / "e.pt")


def test_programs_follow_an_axis_permuting_frame():
    """In torch-ngp's frame (box axes = world y, z, x) a world box and a world placement land where
    ``Normalization.to_box`` puts their points; a frame turned by another angle is an error."""
    import math

    from pvd.data.cameras import NGP_ROTATION, Normalization
    from pvd.edit.apply import compile_program
    from pvd.edit.program import EditError, check_program

    norm = Normalization(1.0, 0.7, (0.05, -0.1, 0.02), NGP_ROTATION)
    program = parse_program(
        {
            "operations": [
                {"op": "erase", "min": [-0.3, -0.2, -0.1], "max": [0.2, 0.4, 0.5]},
                {
                    "op": "move",
                    "min": [-0.4, -0.4, -0.4],
                    "max": [0.0, 0.1, 0.2],
                    "translate": [0.3, 0.1, -0.1],
                    "rotate_z": 30,
                },
            ]
        }
    )
    check_program(program, norm, {})
    erase, move = compile_program(program, norm, {})
    corners = torch.tensor([[-0.3, -0.2, -0.1], [0.2, 0.4, 0.5]], dtype=torch.float64)
    box = norm.to_box(corners)
    assert torch.allclose(torch.tensor(erase["lo"], dtype=torch.float64), box.min(0).values)
    assert torch.allclose(torch.tensor(erase["hi"], dtype=torch.float64), box.max(0).values)
    # a world point p placed at T(p): the compiled inverse maps box(T(p)) back to box(p)
    op = program.ops[1]
    p = torch.tensor([[-0.3, -0.1, 0.05], [-0.1, 0.0, -0.2]], dtype=torch.float64)
    placed = torch.tensor([op.place.apply(tuple(q.tolist()), op.box.centre) for q in p], dtype=torch.float64)
    matrix, offset = (torch.tensor(move[k], dtype=torch.float64) for k in ("matrix", "offset"))
    assert torch.allclose(norm.to_box(placed) @ matrix.T + offset, norm.to_box(p), atol=1e-9)
    # directions: world d seen at the placed content came from world Rz^T d at the source
    a = math.radians(30)
    rz_t = torch.tensor(
        [[math.cos(a), math.sin(a), 0.0], [-math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64
    )
    d = torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64)
    rot = torch.tensor(move["rotation"], dtype=torch.float64)
    assert torch.allclose(rot @ norm.to_box_dir(d), norm.to_box_dir(rz_t @ d), atol=1e-9)
    c, s = math.cos(0.3), math.sin(0.3)
    turned = Normalization(1.0, 0.7, (0.0, 0.0, 0.0), ((c, -s, 0.0), (s, c, 0.0), (0.0, 0.0, 1.0)))
    with pytest.raises(EditError, match="not an axis permutation"):
        check_program(program, turned, {})
