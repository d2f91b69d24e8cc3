"""``pvd import`` / ``pvd export`` of the reference's checkpoints (docs/method.md).

Files are built in the tests with exactly the reference's names and shapes (random values, the
documented sizes at the paper preset, bound 1); the imported fields are compared with the reference's lookup
formulas written independently in ``reference_cases.py`` (float64) at random points: clamped
log-density within 2e-4 absolute, colour within 2e-5 (float32 against float64 arithmetic).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from reference_cases import PARAMS, checkpoint, morton, reference_field

from pvd.cli import main
from pvd.data import index_split
from pvd.data.cameras import NGP_ROTATION
from pvd.evaluate.evaluate import render_view
from pvd.model import load_model, read_checkpoint

ARCHS = ["hash", "mlp", "vm", "tensors"]


@pytest.fixture(scope="module")
def imported(demo_scene, tmp_path_factory):
    """arch -> (reference payload, workspace) of one import per architecture, made on first use."""
    cache = {}

    def get(arch):
        if arch not in cache:
            root = tmp_path_factory.mktemp(f"import_{arch}")
            payload = checkpoint(arch, seed=ARCHS.index(arch))
            torch.save(payload, root / f"{arch}_ep0300.pth")
            rc = main(
                [
                    "import",
                    str(root / f"{arch}_ep0300.pth"),
                    "--model_type",
                    arch,
                    "--data_type",
                    "synthetic",
                    str(demo_scene),
                    "--workspace",
                    str(root / "ws"),
                ]
            )
            assert rc == 0
            cache[arch] = (payload, root)
        return cache[arch]

    return get


def _points(n, bound, seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 3, generator=g) * 2 - 1) * bound
    d = torch.randn(n, 3, generator=g)
    return x, d / d.norm(dim=1, keepdim=True)


@pytest.mark.parametrize("arch", ARCHS)
def test_imported_field_is_the_reference_field(arch, imported):
    payload, root = imported(arch)
    model = load_model(root / "ws" / "checkpoint.pt")
    assert model.meta.preset == "paper" and model.meta.step == 30000
    assert sum(p.numel() for p in model.field.parameters()) == PARAMS[arch]
    x, d = _points(4096, 1.0, seed=1)
    if arch == "hash":  # points beyond the box encode to zero there
        x = torch.cat([x, torch.tensor([[1.02, 0.0, 0.0], [-0.3, -1.01, 0.2], [0.5, 0.5, 1.5]])])
        d = torch.cat([d, torch.tensor([[0.0, 0.0, 1.0]] * 3)])
    with torch.no_grad():
        out = model.field(x, d)
    s_ref, rgb_ref = reference_field(arch, payload["model"], x, d)
    torch.testing.assert_close(out.s.double(), s_ref, rtol=0, atol=2e-4)
    torch.testing.assert_close(out.rgb.double(), rgb_ref, rtol=0, atol=2e-5)
    assert s_ref.std() > 0.05 and rgb_ref.std() > 0.01  # the comparison is not between constants


def test_occupancy_grid_from_morton_order_and_bitfield(imported):
    payload, root = imported("mlp")
    model = load_model(root / "ws" / "checkpoint.pt")
    grid, ref = model.grid, payload["model"]
    g = torch.Generator().manual_seed(3)
    cells = torch.randint(128, (2000, 3), generator=g).tolist()
    flat = ref["density_grid"][0]
    bits = ref["density_bitfield"]
    for i, j, k in cells:
        m = morton(i, j, k)
        assert float(grid.density[0, i, j, k]) == max(float(flat[m]), 0.0)
        assert bool(grid.seen[0, i, j, k]) == (float(flat[m]) >= 0)
        assert bool(grid.occupancy[0, i, j, k]) == bool((int(bits[m // 8]) >> (m % 8)) & 1)
    assert float(grid.mean_density) == pytest.approx(payload["mean_density"], rel=1e-6)
    assert 0.05 < grid.occupied_fraction() < 0.95
    assert int(grid.n_updates) == 30000 // 16


def test_import_writes_a_self_describing_checkpoint_and_record(imported, demo_scene):
    _, root = imported("mlp")
    stored = read_checkpoint(root / "ws" / "checkpoint.pt")
    norm = stored.meta.normalization
    assert norm.rotation == NGP_ROTATION and norm.scale == 0.8 and stored.meta.bound == 1.0
    assert stored.meta.field_config.skip_input_first and not stored.meta.field_config.divide_by_bound
    train = index_split(demo_scene, "synthetic", "train")
    assert torch.equal(stored.meta.cameras.c2w, train.cameras.c2w)
    record = json.loads((root / "ws" / "record.json").read_text())
    assert record["kind"] == "import" and record["source_global_step"] == 30000
    assert len(record["source_sha256"]) == 64 and record["ignored_entries"] == []


def _fail(args, capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    return err


def test_bad_files_give_one_clear_error_each(tmp_path, demo_scene, capsys):
    payload = checkpoint("mlp")

    def attempt(name, data, arch="mlp", raw=None):
        path = tmp_path / name
        if raw is not None:
            path.write_bytes(raw)
        else:
            torch.save(data, path)
        return _fail(
            [
                "import",
                str(path),
                "--model_type",
                arch,
                "--data_type",
                "synthetic",
                str(demo_scene),
                "--workspace",
                str(tmp_path / "ws"),
            ],
            capsys,
        )

    missing = {**payload, "model": {k: v for k, v in payload["model"].items() if k != "sigma_net.1.weight"}}
    assert (
        "model['sigma_net.1.weight'] is missing; the reference's mlp architecture has it with shape [16, 64]"
        in attempt("missing.pth", missing)
    )
    bad = {**payload, "model": {**payload["model"], "nerf_mlp.4.weight": torch.zeros(256, 256)}}
    assert (
        "model['nerf_mlp.4.weight'] has shape [256, 256]; the reference's mlp architecture has [256, 319]"
        in attempt("shape.pth", bad)
    )
    err = attempt("arch.pth", payload, arch="tensors")
    assert "--model_type tensors does not match reference checkpoint" in err
    assert "which holds a mlp model ('nerf_mlp.0.weight')" in err
    torch.save(payload, tmp_path / "whole.pth")
    raw = (tmp_path / "whole.pth").read_bytes()
    assert "is truncated or not a torch checkpoint" in attempt("cut.pth", None, raw=raw[: len(raw) // 2])
    assert "has no 'model' state dict" in attempt("foreign.pth", {"state": 1})
    assert not (tmp_path / "ws" / "checkpoint.pt").exists()


def test_hash_offsets_and_box_must_match_the_architecture(tmp_path, demo_scene, capsys):
    payload = checkpoint("hash")
    offsets = payload["model"]["encoder.offsets"].clone()
    offsets[3] += 8
    bad = {**payload, "model": {**payload["model"], "encoder.offsets": offsets}}
    torch.save(bad, tmp_path / "h.pth")
    err = _fail(
        [
            "import",
            str(tmp_path / "h.pth"),
            "--model_type",
            "hash",
            "--data_type",
            "synthetic",
            str(demo_scene),
            "--workspace",
            str(tmp_path / "ws"),
        ],
        capsys,
    )
    assert "encoder.offsets[3] = 63440, the reference architecture at bound 1 has 63432" in err
    err = _fail(
        [
            "import",
            str(tmp_path / "h.pth"),
            "--model_type",
            "hash",
            "--data_type",
            "synthetic",
            str(demo_scene),
            "--workspace",
            str(tmp_path / "ws"),
            "--bound",
            "2",
        ],
        capsys,
    )
    assert "--bound 2 does not match reference checkpoint" in err and "whose box has bound 1" in err


@pytest.mark.parametrize("arch", ARCHS)
def test_export_then_import_is_identical(arch, imported, demo_scene, tmp_path):
    _, root = imported(arch)
    first = load_model(root / "ws" / "checkpoint.pt")
    assert main(["export", "--ckpt", str(root / "ws" / "checkpoint.pt"), "--out", str(tmp_path / "out.pth")]) == 0
    exported = torch.load(tmp_path / "out.pth", weights_only=True)
    original = torch.load(root / f"{arch}_ep0300.pth", weights_only=True)
    assert sorted(exported["model"]) == sorted(original["model"])
    for name, value in original["model"].items():
        assert torch.equal(exported["model"][name], value.to(exported["model"][name].dtype)), name
    assert (
        main(
            [
                "import",
                str(tmp_path / "out.pth"),
                "--model_type",
                arch,
                "--data_type",
                "synthetic",
                str(demo_scene),
                "--workspace",
                str(tmp_path / "ws"),
            ]
        )
        == 0
    )
    second = load_model(tmp_path / "ws" / "checkpoint.pt")
    for a, b in ((first.field, second.field), (first.grid, second.grid)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    cams = index_split(demo_scene, "synthetic", "test").cameras
    img_a = render_view(first, cams, 0, torch.device("cpu"))
    img_b = render_view(second, cams, 0, torch.device("cpu"))
    assert torch.equal(img_a, img_b) and img_a.std() > 0


def test_export_refuses_tiny_and_other_frames(tmp_path, capsys, imported):
    from pvd.model import ModelMeta, build_model, save_checkpoint
    from pvd.presets import arch_preset

    p = arch_preset("tiny", "vm")
    tiny = build_model(
        ModelMeta(model_type="vm", preset="tiny", field_config=p.field, render_config=p.render, bound=1.0)
    )
    save_checkpoint(tmp_path / "tiny.pt", tiny)
    err = _fail(["export", "--ckpt", str(tmp_path / "tiny.pt"), "--out", str(tmp_path / "x.pth")], capsys)
    assert "'tiny'-preset vm model" in err
    p = arch_preset("paper", "mlp")
    plain = build_model(
        ModelMeta(model_type="mlp", preset="paper", field_config=p.field, render_config=p.render, bound=1.0)
    )
    save_checkpoint(tmp_path / "plain.pt", plain)
    err = _fail(["export", "--ckpt", str(tmp_path / "plain.pt"), "--out", str(tmp_path / "x.pth")], capsys)
    assert "not in torch-ngp's frame" in err


def test_imported_teacher_distils_and_evaluates(imported, demo_scene, tmp_path):
    _, root = imported("tensors")
    ckpt = str(root / "ws" / "checkpoint.pt")
    assert (
        main(
            [
                "distill",
                str(demo_scene),
                "--data_type",
                "synthetic",
                "--teacher_type",
                "tensors",
                "--ckpt_teacher",
                ckpt,
                "--model_type",
                "hash",
                "--workspace",
                str(tmp_path / "s"),
                "--iters",
                "4",
                "--batch_rays",
                "64",
                "--no_progress",
            ]
        )
        == 0
    )
    student = read_checkpoint(tmp_path / "s" / "checkpoint.pt").meta
    assert student.normalization.rotation == NGP_ROTATION and student.teacher_type == "tensors"
    assert (
        main(
            [
                "evaluate",
                str(demo_scene),
                "--data_type",
                "synthetic",
                "--ckpt",
                ckpt,
                "--workspace",
                str(tmp_path / "e"),
                "--no-lpips",
                "--no_progress",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["n_images"] == 3


def test_teacher_trained_in_the_ngp_frame_exports(demo_scene, tmp_path):
    assert (
        main(
            [
                "train",
                str(demo_scene),
                "--data_type",
                "synthetic",
                "--model_type",
                "tensors",
                "--preset",
                "paper",
                "--frame",
                "ngp",
                "--iters",
                "2",
                "--batch_rays",
                "64",
                "--workspace",
                str(tmp_path / "t"),
                "--no_progress",
            ]
        )
        == 0
    )
    assert main(["export", "--ckpt", str(tmp_path / "t" / "checkpoint.pt"), "--out", str(tmp_path / "t.pth")]) == 0
    assert (
        main(
            [
                "import",
                str(tmp_path / "t.pth"),
                "--model_type",
                "tensors",
                "--data_type",
                "synthetic",
                str(demo_scene),
                "--workspace",
                str(tmp_path / "i"),
            ]
        )
        == 0
    )
    a, b = load_model(tmp_path / "t" / "checkpoint.pt"), load_model(tmp_path / "i" / "checkpoint.pt")
    assert torch.equal(a.field.grid, b.field.grid) and torch.equal(a.grid.occupancy, b.grid.occupancy)
    assert a.meta.normalization == b.meta.normalization


def _pvd_process(*argv) -> subprocess.CompletedProcess:
    """A real ``pvd`` process (its own exit code, stderr and locks)."""
    return subprocess.run([sys.executable, "-m", "pvd.cli", *map(str, argv)], capture_output=True, text=True)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".pvd.lock"
    }


def test_import_into_another_runs_workspace_is_refused(imported, demo_scene, tmp_path):
    payload, root = imported("mlp")
    ws = tmp_path / "teacher"
    assert (
        main(
            [
                "train",
                str(demo_scene),
                "--data_type",
                "synthetic",
                "--model_type",
                "mlp",
                "--workspace",
                str(ws),
                "--iters",
                "2",
                "--batch_rays",
                "64",
                "--no_progress",
                "--curve_points",
                "0",
            ]
        )
        == 0
    )
    before = _files(ws)
    args = [
        "import",
        root / "mlp_ep0300.pth",
        "--model_type",
        "mlp",
        "--data_type",
        "synthetic",
        demo_scene,
        "--workspace",
        ws,
    ]
    out = _pvd_process(*args)
    assert out.returncode == 2
    assert f"--workspace {ws} holds a train run of mlp, not an import run of mlp" in out.stderr.strip().splitlines()[-1]
    assert _files(ws) == before
    again = _pvd_process(*args[:-1], root / "ws")  # over the finished import itself: asks for --overwrite
    assert again.returncode == 2 and "holds a finished import run" in again.stderr and "--overwrite" in again.stderr
    assert _pvd_process(*args[:-1], root / "ws", "--overwrite").returncode == 0


def test_export_over_an_existing_file_asks_for_overwrite(imported, tmp_path):
    _, root = imported("hash")
    out = tmp_path / "hash_ep0000.pth"
    out.write_bytes(b"keep me")
    args = ["export", "--ckpt", root / "ws" / "checkpoint.pt", "--out", out]
    result = _pvd_process(*args)
    assert result.returncode == 2 and f"--out {out} exists" in result.stderr and out.read_bytes() == b"keep me"
    assert _pvd_process(*args, "--overwrite").returncode == 0 and out.read_bytes() != b"keep me"
    folder = _pvd_process("export", "--ckpt", root / "ws", "--out", out)
    assert folder.returncode == 2 and "is a folder; expected a checkpoint file" in folder.stderr
