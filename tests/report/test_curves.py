"""Learning curves from records (curves.csv), time to quality (numbers checked by hand), the ablation
table and the qualitative grid, from files the tests write."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from report_cases import run_record, write_cell

from pvd.cli import main
from pvd.errors import UserError
from pvd.names import ModelName
from pvd.report.ablation import ablation_table
from pvd.report.collect import collect, find_metrics, grid_model, read_csv, write_csv
from pvd.report.curves import collect_curves, read_curves, write_curves
from pvd.report.qualitative import qualitative_figure
from pvd.report.time_to_quality import first_reach, speed_table, time_to_quality, time_to_quality_figure


def _record(root: Path, model: str, seconds: float, cpu: float, curve: list[tuple] | None, variant: str = ""):
    stage = "distill" if "2" in model else "teacher"
    path = root / "synthetic" / "lego" / stage / (model + (f"@{variant}" if variant else "")) / "record.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = run_record(model, seconds, cpu_seconds=cpu)
    if curve is not None:
        record["curve"] = [
            {
                "step": 10 * i,
                "seconds": s,
                "cpu_seconds": c,
                "psnr": p,
                **({"psnr_vs_teacher": p + 5} if stage == "distill" else {}),
            }
            for i, (s, c, p) in enumerate(curve)
        ]
    path.write_text(json.dumps(record))
    return path


@pytest.fixture
def curve_records(tmp_path):
    """mlp from scratch reaches 30 dB at 40 s; hash (5 s) -> mlp reaches it after 1.8 s, vm (50 s) -> mlp after 1 s."""
    root = tmp_path / "results"
    paths = [
        _record(root, "mlp", 40, 80, [(0, 0, 10), (10, 20, 20), (20, 40, 25), (40, 80, 30)]),
        _record(root, "hash", 5, 10, [(0, 0, 10), (5, 10, 33)]),
        _record(root, "vm", 50, 100, [(0, 0, 10), (50, 100, 33)]),
        _record(root, "hash2mlp", 4, 8, [(0, 0, 12), (1, 2, 28), (2, 4, 30.5), (4, 8, 31)]),
        _record(root, "vm2mlp", 4, 8, [(0, 0, 12), (1, 2, 31), (4, 8, 31)]),
        _record(root, "hash2mlp", 4, 8, [(0, 0, 5), (4, 8, 6)], variant="l1"),  # a variant: not in the speed table
        _record(root, "mlp2hash", 4, 8, None),  # no curve: no rows
    ]
    return root, paths


def test_first_reach_interpolates_between_probe_points():
    s, p = np.array([0.0, 10.0, 20.0]), np.array([10.0, 20.0, 30.0])
    assert first_reach(s, p, 15.0) == pytest.approx(5.0)
    assert first_reach(s, p, 5.0) == 0.0
    assert first_reach(s, p, 30.5) is None


def test_curves_csv_adds_the_teachers_time_to_students(curve_records, tmp_path):
    _, paths = curve_records
    rows = collect_curves(paths)
    write_curves(rows, tmp_path / "curves.csv")
    frame = read_curves(tmp_path / "curves.csv")
    assert set(frame["model"]) == {"mlp", "hash", "vm", "hash2mlp", "vm2mlp", "hash2mlp@l1"}
    student = frame[frame["model"] == "hash2mlp"]
    assert (student["offset_seconds"] == 5).all() and (student["offset_cpu_seconds"] == 10).all()
    assert list(student["step"]) == [0, 10, 20, 30] and list(student["psnr_vs_teacher"]) == [17, 33, 35.5, 36]
    assert (frame.loc[frame["model"] == "mlp", "offset_seconds"] == 0).all()
    assert set(frame.loc[frame["model"] == "hash2mlp@l1", "variant"]) == {"l1"}


def test_time_to_quality_picks_the_fastest_teacher_and_states_the_speedup(curve_records, tmp_path):
    _, paths = curve_records
    write_curves(collect_curves(paths), tmp_path / "curves.csv")
    frame = read_curves(tmp_path / "curves.csv")
    rows = {r.threshold: r for r in time_to_quality(frame, "synthetic")}
    assert {r.student for r in rows.values()} == {"mlp"}  # hash and vm have no distilled curve
    final = rows["final"]
    assert final.target_psnr == 30 and final.scratch_seconds == pytest.approx(40)
    assert final.teacher == "hash" and final.teacher_seconds == 5 and final.distill_seconds == pytest.approx(1.8)
    assert final.speedup == pytest.approx(40 / 6.8) and final.speedup_cpu == pytest.approx(80 / 13.6)
    assert rows["99 %"].scratch_seconds == pytest.approx(38.8) and rows["99 %"].distill_seconds == pytest.approx(1.68)
    assert rows["-0.5 dB"].speedup == pytest.approx(38 / 6.6)
    table = speed_table(frame, "synthetic")
    assert table.rows[0][:5] == ("NeRF (mlp)", "final", "30.00", "40.0", "hash") and table.rows[0][-2] == "5.88x"
    assert "tiny" in table.note and "cpu" in table.note
    written = time_to_quality_figure(frame, "synthetic", tmp_path / "figures")
    assert [p.name for p in written] == ["synthetic_time_to_quality.png", "synthetic_time_to_quality.pdf"]
    assert iio.imread(written[0]).shape[1] > 500


def test_report_command_writes_curves_and_time_to_quality(curve_records, tmp_path):
    root, _ = curve_records
    assert main(["report", "curves", "--results", str(root), "--out", str(tmp_path / "curves.csv")]) == 0
    assert (
        main(
            [
                "report",
                "time-to-quality",
                "--curves",
                str(tmp_path / "curves.csv"),
                "--figures",
                str(tmp_path / "fig"),
                "--tables",
                str(tmp_path / "tab"),
            ]
        )
        == 0
    )
    md = (tmp_path / "tab" / "time_to_quality.md").read_text()
    assert "| NeRF (mlp) | final | 30.00 | 40.0 | hash | 5.0 | 1.8 | 6.8 | 5.88x | 5.88x |" in md
    assert (tmp_path / "tab" / "time_to_quality.tex").read_text().count(r"\toprule") == 1
    assert (tmp_path / "fig" / "synthetic_time_to_quality.pdf").is_file()


def test_variant_models_parse_and_stay_out_of_the_matrices(results_tree, tmp_path):
    assert grid_model("hash2vm@loss_l1") == ModelName("hash", "vm", "loss_l1")
    for bad in ("hash@l1", "hash2vm@", "hash2vm@a/b"):
        with pytest.raises(UserError, match=f"model name '{bad}'"):
            grid_model(bad)
    write_cell(results_tree, "synthetic", "lego", 0, "hash", "vm")
    variant = results_tree / "synthetic" / "lego" / "eval" / "hash2vm@l1" / "metrics.json"
    variant.parent.mkdir(parents=True)
    base = json.loads((results_tree / "synthetic" / "lego" / "eval" / "hash2vm" / "metrics.json").read_text())
    variant.write_text(json.dumps({**base, "psnr": base["psnr"] - 1.5, "ssim": base["ssim"] - 0.01}))
    record = results_tree / "synthetic" / "lego" / "distill" / "hash2vm@l1" / "record.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps(run_record("hash2vm", 3.0)))
    write_csv(collect(find_metrics(results_tree)), tmp_path / "results.csv")
    frame = read_csv(tmp_path / "results.csv")
    assert list(frame.loc[frame["variant"] == "l1", "model"]) == ["hash2vm@l1"]
    table = ablation_table(frame, "synthetic")
    default, l1 = table.rows
    assert default[:3] == ("hash->vm", "default", "2") and l1[:3] == ("hash->vm", "l1", "1")
    assert l1[3] == f"{base['psnr'] - 1.5:.2f}" and l1[4] == "-1.50" and l1[6] == "-0.0100"
    assert main(["report", "ablation", "--csv", str(tmp_path / "results.csv"), "--out", str(tmp_path / "t")]) == 0
    assert "Δ PSNR (dB)" in (tmp_path / "t" / "ablation.md").read_text()
    assert "hash2vm@l1" not in (tmp_path / "t" / "ablation.tex").read_text()


DEPTH_GREEN = (0, 255, 0)  # the depth images' colour below: no other panel or label is pure green


def _evaluation(root: Path, model: str, psnr: float, shade: int, depth: bool = False) -> Path:
    """An evaluation folder as ``pvd evaluate --render_views 2`` writes it; without ``depth`` as
    evaluations from before depth images were saved."""
    folder = root / "synthetic" / "demo" / "eval" / model
    (folder / "renders").mkdir(parents=True)
    kinds = (("render", ""), ("gt", "_gt"), ("error", "_error")) + ((("depth", "_depth"),) if depth else ())
    names = {k: f"renders/002_r_2{suffix}.png" for k, suffix in kinds}
    for key, name in names.items():
        colour = {"render": shade, "depth": DEPTH_GREEN}.get(key, 200)
        iio.imwrite(folder / name, np.full((16, 20, 3), colour, np.uint8))
    per_image = [{"psnr": 0.0}, {"psnr": 0.0}, {"psnr": psnr}]
    entry = {"view": 2, "file": "test/r_2.png", **names, **({"depth_near": 1.5, "depth_far": 6.0} if depth else {})}
    (folder / "metrics.json").write_text(json.dumps({"psnr": psnr, "per_image": per_image, "renders": [entry]}))
    return folder / "metrics.json"


def _green_pixels(png: Path) -> int:
    img = iio.imread(png)[..., :3].astype(int)
    return int((np.abs(img - DEPTH_GREEN).max(-1) < 8).sum())


def test_qualitative_grid_from_saved_renders(tmp_path):
    paths = [_evaluation(tmp_path, m, 20 + i, 40 * i) for i, m in enumerate(("hash", "vm", "hash2vm", "vm2hash"))]
    written = qualitative_figure(paths, 2, tmp_path / "fig", crop=(2, 2, 10, 8), caption="preset tiny")
    assert [p.name for p in written] == ["synthetic_demo_qualitative.png", "synthetic_demo_qualitative.pdf"]
    assert iio.imread(written[0]).shape[0] > 200
    with pytest.raises(UserError, match="no renders of view 0"):
        qualitative_figure(paths, 0, tmp_path / "fig")
    with pytest.raises(UserError, match="does not fit"):
        qualitative_figure(paths, 2, tmp_path / "fig", crop=(15, 0, 10, 8))


def test_qualitative_grid_gains_a_depth_block_when_the_evaluations_saved_depth(tmp_path):
    models = ("hash", "vm", "hash2vm", "vm2hash")
    old = [_evaluation(tmp_path / "old", m, 20 + i, 40 * i) for i, m in enumerate(models)]
    new = [_evaluation(tmp_path / "new", m, 20 + i, 40 * i, depth=True) for i, m in enumerate(models)]
    mixed = [_evaluation(tmp_path / "mixed", m, 20 + i, 40 * i, depth=m != "vm2hash") for i, m in enumerate(models)]
    sizes, green = {}, {}
    for name, paths in (("old", old), ("new", new), ("mixed", mixed)):
        png = qualitative_figure(paths, 2, tmp_path / name / "fig")[0]
        sizes[name], green[name] = iio.imread(png).shape[:2], _green_pixels(png)
    # a third block of the same size as the other two: the figure is about half as wide again
    assert sizes["new"][0] == sizes["old"][0]
    assert 1.35 < sizes["new"][1] / sizes["old"][1] < 1.6, sizes
    assert sizes["mixed"] == sizes["new"]
    # the depth images are shown (4 cells), one cell fewer where an old evaluation saved none
    assert green["old"] == 0 and green["new"] > 0
    assert green["mixed"] == pytest.approx(green["new"] * 3 / 4, rel=0.1)


def test_time_to_quality_without_curves_still_draws_the_requested_figure(tmp_path):
    """Runs with probes off (curves.points: 0) record no curve: the workflow's figure is still written."""
    from pvd.cli import main
    from pvd.report.curves import write_curves

    write_curves([], tmp_path / "curves.csv")
    assert (
        main(
            [
                "report",
                "time-to-quality",
                "--curves",
                str(tmp_path / "curves.csv"),
                "--figures",
                str(tmp_path / "fig"),
                "--tables",
                str(tmp_path / "tab"),
                "--dataset",
                "synthetic",
            ]
        )
        == 0
    )
    assert (tmp_path / "fig" / "synthetic_time_to_quality.png").stat().st_size > 0
    assert (tmp_path / "tab" / "time_to_quality.md").is_file()
