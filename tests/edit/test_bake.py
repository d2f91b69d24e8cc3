"""``pvd edit --bake``: the edit written into a tensors grid renders like the wrapped (edited) model.

Scene: :func:`edit_cases.ball_model` on its 33^3 grid (a voxel is 0.078 world units, a third of the
ball's radius) with empty space at the fields' clamp (``outside=-2``, where trained empty space
sits), rendered from 4 cameras at 40x40 px (a voxel spans about 3 px). Measured PSNR of the baked
render against the wrapped one (min / mean over the views; the unedited base against the wrapped
render in brackets, what a bake that did nothing would score):

    erase cutting the ball in half          29.1 / 30.9 dB   (21.5)   deciding per voxel centre: 22.8 / 23.7
    move by whole voxels (-8, 3, 1)         44.3 / 47.2 dB   (10.9)   empty space added twice: 35.5 / 38.8
    move by (-0.6, 0.2, 0.1), rotate_z 30   30.7 / 33.5 dB   (11.3)   without the SH turn: 25.6 / 31.0
    insert from another tensors grid        32.6 / 37.1 dB   (21.9)

The differences lie within a voxel of the box faces (sharp in the wrapped model, a cell wide in
the grid) and, for turned or fractionally moved content, come from resampling it; away from faces
an erase is exact and a move by whole voxels copies the voxels (both asserted below). The render
thresholds sit 1-2 dB under the measurements, and well above what each wrong variant scores.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from edit_cases import RES, ball_model

from pvd.cli import main
from pvd.data.cameras import Cameras, Normalization
from pvd.data.poses import look_at
from pvd.edit.apply import edit_model, load_inserted
from pvd.edit.bake import bake_model, sample_channels, sh_rotate_z, voxel_centres
from pvd.edit.program import EditError, parse_program
from pvd.evaluate.evaluate import render_view
from pvd.fields.tensors import TensorsConfig, TensorsField
from pvd.metrics import mse, psnr_from_mse
from pvd.model import ModelMeta, build_model, load_model, save_checkpoint
from pvd.render import RenderConfig

NORM_SCALE = 0.8
VOXEL = 2 / (RES - 1) / NORM_SCALE  # world units
BOX = {"min": [-0.1, -0.4, -0.2], "max": [0.7, 0.4, 0.6]}  # the ball with 2 voxels to spare
OTHER_NORM = Normalization(1.0, 0.6, (0.1, 0.0, 0.0))


def _cameras(n: int = 4, size: int = 40) -> Cameras:
    angle = torch.arange(n) * 2 * math.pi / n + 0.3
    centres = torch.stack([2.5 * torch.cos(angle), 2.5 * torch.sin(angle), torch.full_like(angle, 1.25)], -1)
    c2w = look_at(centres, torch.zeros(n, 3), torch.tensor([0.0, 0.0, 1.0]))
    focal, centre = torch.full((n,), 2.5 * size), torch.full((n,), size / 2)
    return Cameras(c2w, focal, focal, centre, centre, size, size)


def _psnrs(a, b) -> list[float]:
    cams = _cameras()
    return [
        psnr_from_mse(mse(render_view(a, cams, v, "cpu"), render_view(b, cams, v, "cpu"))) for v in range(len(cams))
    ]


def _both(base, *ops, inserted=None):
    program = parse_program({"operations": list(ops)})
    inserted = inserted if inserted is not None else load_inserted(program, "cpu")
    return edit_model(base, program, inserted)[0], bake_model(base, program, inserted)[0]


def _check_renders(base, wrapped, baked, min_db: float, mean_db: float) -> None:
    got = _psnrs(baked, wrapped)
    assert min(got) >= min_db and sum(got) / len(got) >= mean_db, got
    nothing = _psnrs(base, wrapped)  # what a bake that did nothing would score
    assert sum(nothing) / len(nothing) < mean_db - 5


@pytest.mark.parametrize("angle", [0.3, 1.2, -2.0, math.pi / 2])
def test_sh_rotate_z_turns_the_colour_like_the_content(angle):
    """Turning coefficients by a equals evaluating the original at directions turned by -a,
    through the field's own SH colour (so the signs of its basis are the ones checked)."""
    g = torch.Generator().manual_seed(0)
    field = TensorsField(TensorsConfig(resolution=2), 1.0)
    coeffs = torch.randn(200, 3, 9, generator=g)
    d = torch.nn.functional.normalize(torch.randn(200, 3, generator=g), dim=-1)
    c, s = math.cos(-angle), math.sin(-angle)
    d_back = d @ torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T
    turned = field.color(sh_rotate_z(coeffs, angle).reshape(200, 27), d)
    assert torch.allclose(turned, field.color(coeffs.reshape(200, 27), d_back), atol=1e-5)
    assert not torch.allclose(turned, field.color(coeffs.reshape(200, 27), d), atol=1e-2)


def test_resampling_and_voxel_centres_follow_the_field_layout():
    """The bake's trilinear sampling equals the field's own (inside the box and clamped outside it),
    and the field reads each voxel's channels back exactly at its centre."""
    g = torch.Generator().manual_seed(0)
    field = TensorsField(TensorsConfig(resolution=9), 1.5)
    x = (torch.rand(1000, 3, generator=g) * 2 - 1) * 1.6
    grid = field.grid.detach()
    assert torch.allclose(sample_channels(grid, 9, 1.5, x), field.interpolate(x).detach(), atol=1e-6)
    assert torch.allclose(field.interpolate(voxel_centres(9, 1.5)).detach(), grid, atol=1e-6)


def test_erase_renders_like_the_wrapped_edit_and_is_exact_away_from_its_faces():
    base = ball_model(outside=-2.0)
    op = {"op": "erase", "min": [0.3, -0.5, -0.5], "max": [0.8, 0.5, 0.5]}
    wrapped, baked = _both(base, op)
    assert baked.model_type == "tensors" and baked.meta.density_range == (-10.0, 7.0)
    _check_renders(base, wrapped, baked, 28.0, 30.0)
    # a point whose trilinear corners' cells (1.5 voxels around it) miss the box, or lie inside it
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(20000, 3, generator=g) * 2 - 1) * NORM_SCALE
    d = torch.nn.functional.normalize(torch.randn(20000, 3, generator=g), dim=-1)
    lo, hi = (torch.tensor(op[k]) * NORM_SCALE for k in ("min", "max"))
    reach = 1.5 * VOXEL * NORM_SCALE + 1e-4
    far = ((x + reach < lo) | (x - reach > hi)).any(-1)
    deep = ((x - reach > lo) & (x + reach < hi)).all(-1)
    out, ref = baked.field(x, d), wrapped.field(x, d)
    assert (ref.sigma[far] > 100).any() and (ref.sigma[deep] == 0).all() and deep.sum() > 100
    assert torch.allclose(out.sigma[far], ref.sigma[far], rtol=1e-5) and torch.allclose(out.rgb[far], ref.rgb[far])
    assert (out.sigma[deep] <= math.exp(-10.0) * 1.0001).all()


def _assert_copies(base, baked, shift: torch.Tensor) -> None:
    """Destination voxels whose cell lies in the placed box hold the source voxels' channels."""
    res, bound = base.field.res, base.field.bound
    h = 2 * bound / (res - 1)  # box units
    x = voxel_centres(res, bound)
    lo, hi = ((torch.tensor(BOX[k]) * NORM_SCALE + shift * h) for k in ("min", "max"))
    inside = ((x - h / 2 >= lo) & (x + h / 2 <= hi)).all(-1)
    src = torch.round((x[inside] + bound) / h).long() - shift.long()  # (i, j, k)
    rows = (src[:, 2] * res + src[:, 1]) * res + src[:, 0]
    moved, source = baked.field.grid.detach()[inside], base.field.grid.detach()[rows]
    assert (source[:, 0] == 5).sum() > 20 and (base.field.grid.detach()[inside, 0] == 5).sum() == 0
    assert torch.allclose(moved, source, atol=1e-5)


def test_move_by_whole_voxels_copies_the_voxels():
    base = ball_model(outside=-2.0)
    shift = torch.tensor([-8.0, 3.0, 1.0])
    wrapped, baked = _both(base, {"op": "move", **BOX, "translate": (shift * VOXEL).tolist()})
    _check_renders(base, wrapped, baked, 42.0, 45.0)
    _assert_copies(base, baked, shift)


def test_a_grid_sized_per_bound_is_baked_on_its_own_points():
    base = ball_model(outside=-2.0, resolution=22, per_bound=True, norm=Normalization(1.5, NORM_SCALE, (0.0, 0.0, 0.0)))
    assert base.field.res == 33
    shift = torch.tensor([-6.0, 2.0, 1.0])
    voxel = 3.0 / 32 / NORM_SCALE
    _, baked = _both(base, {"op": "move", **BOX, "translate": (shift * voxel).tolist()})
    _assert_copies(base, baked, shift)


def test_move_with_rotate_z_turns_the_content_and_its_view_dependence():
    base = ball_model(outside=-2.0, tilt=2.0)  # colour depends on the view's x
    wrapped, baked = _both(base, {"op": "move", **BOX, "translate": [-0.6, 0.2, 0.1], "rotate_z": 30})
    _check_renders(base, wrapped, baked, 29.0, 32.5)


def test_insert_from_a_tensors_checkpoint(tmp_path):
    other = ball_model((-0.2, 0.1, 0.3), 0.2, (-1.0, 2.0, 0.5), norm=OTHER_NORM, outside=-2.0)
    save_checkpoint(tmp_path / "other.pt", other)
    base = ball_model(outside=-2.0)
    op = {
        "op": "insert",
        "checkpoint": str(tmp_path / "other.pt"),
        "min": [-0.45, -0.15, 0.05],
        "max": [0.05, 0.35, 0.55],
        "translate": [-0.3, 0.4, 0.0],
    }
    wrapped, baked = _both(base, op)
    _check_renders(base, wrapped, baked, 31.0, 35.0)


def test_insert_scales_density_and_takes_the_inserted_colour(tmp_path):
    """A uniform solid inserted at half size: 1.5 times its density (0.6 / (0.8 * 0.5)), its colour."""
    other = ball_model((0.0, 0.0, 0.0), 10.0, (-1.0, 2.0, 0.5), norm=OTHER_NORM, outside=-2.0)
    save_checkpoint(tmp_path / "other.pt", other)
    base = ball_model(outside=-2.0)
    op = {
        "op": "insert",
        "checkpoint": str(tmp_path / "other.pt"),
        "min": [-0.5, -0.5, -0.5],
        "max": [0.5, 0.5, 0.5],
        "translate": [-0.5, 0.5, 0.2],
        "scale": 0.5,
    }
    _, baked = _both(base, op)
    x = voxel_centres(RES, 1.0)
    h = VOXEL * NORM_SCALE
    lo, hi = (torch.tensor([-0.75, 0.25, -0.05]) * NORM_SCALE, torch.tensor([-0.25, 0.75, 0.45]) * NORM_SCALE)
    inside = ((x - h / 2 >= lo) & (x + h / 2 <= hi)).all(-1)
    grid = baked.field.grid.detach()
    assert inside.sum() >= 27
    assert torch.allclose(grid[inside, 0], torch.full((int(inside.sum()),), 5 + math.log(1.5)), atol=1e-5)
    assert torch.allclose(grid[inside, 1:], other.field.grid.detach()[:1, 1:].expand(int(inside.sum()), 27))


def _mlp_model():
    from pvd.fields.mlp import MLPConfig

    meta = ModelMeta(
        model_type="mlp",
        preset="tiny",
        field_config=MLPConfig(n_octaves=2, width=8, n_layers=3, skip=0),
        render_config=RenderConfig(max_steps=64, grid_resolution=16),
        bound=1.0,
        normalization=Normalization(1.0, 0.8, (0.0, 0.0, 0.0)),
        data_type="synthetic",
    )
    return build_model(meta)


def test_bake_refuses_a_non_tensors_base_and_insert(tmp_path):
    program = parse_program({"operations": [{"op": "erase", "min": [0.3, -0.5, -0.5], "max": [0.8, 0.5, 0.5]}]})
    with pytest.raises(EditError, match=r"^bake writes .* the base checkpoint is mlp: edit without bake"):
        bake_model(_mlp_model(), program)
    save_checkpoint(tmp_path / "mlp.pt", _mlp_model())
    program = parse_program(
        {
            "operations": [
                {"op": "erase", "min": [0.3, -0.5, -0.5], "max": [0.8, 0.5, 0.5]},
                {
                    "op": "insert",
                    "checkpoint": str(tmp_path / "mlp.pt"),
                    "min": [-0.2, -0.2, -0.2],
                    "max": [0.2, 0.2, 0.2],
                },
            ]
        }
    )
    with pytest.raises(EditError, match=r"^bake cannot insert from the mlp checkpoint .* operation 2 \(insert\)"):
        bake_model(ball_model(), program, load_inserted(program, "cpu"))


def test_cli_bake_writes_a_tensors_checkpoint_and_a_record(ball_ckpt, tmp_path, capsys):
    program = tmp_path / "p.json"
    program.write_text(
        json.dumps({"operations": [{"op": "move", **BOX, "translate": [-0.6, 0.2, 0.1], "rotate_z": 30}]})
    )
    ws = tmp_path / "baked"
    assert main(["edit", "--ckpt", str(ball_ckpt), "--workspace", str(ws), "--program", str(program), "--bake"]) == 0
    baked = load_model(ws / "checkpoint.pt")
    assert baked.model_type == "tensors" and baked.meta.density_range == (-10.0, 7.0)
    expected, _ = bake_model(load_model(ball_ckpt), parse_program(json.loads(program.read_text())))
    assert torch.equal(baked.field.grid, expected.field.grid)
    assert torch.equal(baked.grid.occupancy, expected.grid.occupancy)
    record = json.loads((ws / "record.json").read_text())
    assert record["baked"] is True and record["config"]["bake"] is True and record["base_type"] == "tensors"
    assert record["sources"] == [
        {
            "model_type": "tensors",
            "checkpoint": str(ball_ckpt),
            "sha256": baked.meta.train_config["edit"]["sources"][0]["sha256"],
        }
    ]
    assert len(record["sources"][0]["sha256"]) == 64 and record["program"]["operations"][0]["rotate_z"] == 30
    assert baked.meta.train_config["edit"]["baked"] is True
    save_checkpoint(tmp_path / "mlp" / "checkpoint.pt", _mlp_model())
    capsys.readouterr()
    assert (
        main(
            [
                "edit",
                "--ckpt",
                str(tmp_path / "mlp" / "checkpoint.pt"),
                "--workspace",
                str(tmp_path / "e"),
                "--erase",
                "0",
                "0",
                "0",
                "0.5",
                "0.5",
                "0.5",
                "--bake",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("pvd edit: error: --bake writes") and "is mlp" in err
    assert "edit without --bake" in err
    assert not (tmp_path / "e" / "checkpoint.pt").exists()
