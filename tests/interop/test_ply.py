"""The 3DGS .ply: export -> import round trip, the layout as plyfile reads it, and a file written
by an independent writer (numpy + plyfile, the documented layout) imported and rendered."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from plyfile import PlyData, PlyElement

from pvd.data import load_split, scene_normalization
from pvd.errors import UserError
from pvd.model import ModelMeta, build_model, load_model, save_checkpoint
from pvd.presets import field_config, render_config
from pvd.runs.export import ExportSpec, run_export
from pvd.runs.importing import ImportSpec, run_import

C0 = 0.28209479177387814
LAYOUT = (
    ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    + [f"f_rest_{i}" for i in range(45)]
    + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
)


def gs_checkpoint(scene, path, n: int = 200):
    """A random gs teacher of ``scene`` (synthetic defaults: bound 1, scale 0.8) saved at ``path``."""
    train = load_split(scene, "synthetic", "train", 1)
    norm = scene_normalization(train, "synthetic", 1.0, 0.8)
    config = field_config("gs", "tiny")
    meta = ModelMeta(
        "gs",
        "tiny",
        config,
        render_config("tiny"),
        1.0,
        normalization=norm,
        cameras=train.cameras,
        data_type="synthetic",
        scene_dir=str(scene),
    )
    torch.manual_seed(0)
    model = build_model(meta)
    gen = torch.Generator().manual_seed(3)
    params = {
        "means": 0.6 * (torch.rand(n, 3, generator=gen) * 2 - 1),
        "log_scales": torch.log(0.02 + 0.05 * torch.rand(n, 3, generator=gen)),
        "quats": torch.randn(n, 4, generator=gen),
        "opacity_logits": torch.randn(n, generator=gen),
        "sh_dc": torch.randn(n, 3, generator=gen),
        "sh_rest": 0.3 * torch.randn(n, 15, 3, generator=gen),
    }
    model.field.set_from(params)
    save_checkpoint(path, model)
    return model, train


def import_spec(ply, scene, ws) -> ImportSpec:
    return ImportSpec(
        reference_ckpt=ply, scene_dir=scene, model_type="gs", data_type="synthetic", workspace=ws, preset="tiny"
    )


def test_export_import_round_trip_and_layout(demo_scene, tmp_path):
    model, train = gs_checkpoint(demo_scene, tmp_path / "gs.pt")
    out = tmp_path / "splats.ply"
    run_export(ExportSpec(ckpt=tmp_path / "gs.pt", out=out, format="ply"))

    vertex = PlyData.read(str(out))["vertex"]
    assert [p.name for p in vertex.properties] == LAYOUT and vertex.count == 200
    assert all(p.val_dtype in ("f4", "float32") for p in vertex.properties)
    f = model.field
    assert np.all(np.asarray(vertex["nx"]) == 0)
    # pre-activation values in the dataset's world frame: box = 0.8 world (+ offset 0)
    assert np.allclose(vertex["x"], f.means[:, 0].detach().numpy() / 0.8, atol=1e-6)
    assert np.allclose(vertex["scale_1"], f.log_scales[:, 1].detach().numpy() - math.log(0.8), atol=1e-6)
    assert np.allclose(vertex["opacity"], f.opacity_logits.detach().numpy())
    assert np.allclose(vertex["rot_2"], f.quats[:, 2].detach().numpy())
    # f_rest is channel-major: red's 15 coefficients first
    assert np.allclose(vertex["f_rest_0"], f.sh_rest[:, 0, 0].detach().numpy())
    assert np.allclose(vertex["f_rest_1"], f.sh_rest[:, 1, 0].detach().numpy())
    assert np.allclose(vertex["f_rest_15"], f.sh_rest[:, 0, 1].detach().numpy())
    assert np.all(np.asarray(vertex["scale_0"]) < 0)  # log standard deviations of a few cm

    back = run_import(import_spec(out, demo_scene, tmp_path / "ws"))
    loaded = load_model(tmp_path / "ws" / "checkpoint.pt")
    for name in ("means", "log_scales", "quats", "opacity_logits", "sh_dc", "sh_rest"):
        assert torch.allclose(getattr(loaded.field, name), getattr(f, name), atol=1e-6), name
    assert loaded.field.degree == 3 and back.meta.normalization == model.meta.normalization
    bg = torch.ones(3)
    a = model.renderer.render_view_image(train.cameras, 0, model.normalization, bg)
    b = loaded.renderer.render_view_image(train.cameras, 0, loaded.normalization, bg)
    assert torch.allclose(a, b, atol=1e-5) and float((a - 1).abs().max()) > 0.1
    assert loaded.grid.occupied_fraction() > 0  # the volume renderer's grid comes from the point density


def test_a_file_from_an_independent_writer_imports_and_renders(demo_scene, tmp_path):
    """One red Gaussian at the world origin (where every demo camera looks), written with numpy."""
    data = np.zeros(1, dtype=[(name, "f4") for name in LAYOUT])
    color, opacity, scale = np.array([0.9, 0.1, 0.1]), 0.8, 0.1
    for i in range(3):
        data[f"f_dc_{i}"] = (color[i] - 0.5) / C0
        data[f"scale_{i}"] = math.log(scale)
    data["opacity"] = math.log(opacity / (1 - opacity))
    data["rot_0"] = 2.0  # unnormalised quaternions are normalised on use
    PlyData([PlyElement.describe(data, "vertex")]).write(str(tmp_path / "one.ply"))

    model = run_import(import_spec(tmp_path / "one.ply", demo_scene, tmp_path / "ws"))
    assert len(model.field) == 1 and torch.allclose(model.field.means, torch.zeros(1, 3))
    assert torch.exp(model.field.log_scales[0, 0]).item() == pytest.approx(0.08)  # 0.8 x 0.1 in the box
    test = load_split(demo_scene, "synthetic", "test", 1)
    img = model.renderer.render_view_image(test.cameras, 0, model.normalization, torch.ones(3))
    h, w = img.shape[:2]
    centre = img[h // 2 - 1 : h // 2 + 1, w // 2 - 1 : w // 2 + 1].mean((0, 1))
    # the 4 centre pixels sit (0.5, 0.5) px from the projected origin; the 2D variance is the EWA
    # projection of the box scale 0.08 at the camera's distance, plus the 0.3 px^2 dilation
    distance = 0.8 * float(test.cameras.c2w[0, :3, 3].norm())
    var = (float(test.cameras.fx[0]) * 0.08 / distance) ** 2 + 0.3
    alpha = opacity * math.exp(-0.5 * 0.5 / var)
    expected = alpha * torch.tensor(color, dtype=torch.float32) + (1 - alpha)
    assert torch.allclose(centre, expected, atol=2e-3)
    assert torch.allclose(img[0, 0], torch.ones(3))  # white far from the splat


def test_bad_files_are_one_clear_error(demo_scene, tmp_path):
    data = np.zeros(1, dtype=[(n, "f4") for n in ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "f_rest_0"]])
    PlyData([PlyElement.describe(data, "vertex")]).write(str(tmp_path / "odd.ply"))
    with pytest.raises(UserError, match="1 f_rest properties"):
        run_import(import_spec(tmp_path / "odd.ply", demo_scene, tmp_path / "ws"))
    (tmp_path / "text.ply").write_text("not a ply\n")
    with pytest.raises(UserError, match="text.ply is not a readable .ply"):
        run_import(import_spec(tmp_path / "text.ply", demo_scene, tmp_path / "ws2"))
