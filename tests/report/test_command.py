"""``pvd report``: every part through the real command line, and its one-line errors."""

from __future__ import annotations

from pvd.cli import main


def test_the_workflows_report_steps_by_hand(results_tree, tmp_path):
    """The report steps that the workflow chains (workflow/rules/report.smk), run one by one on a
    results folder; there is no ``pvd report all``: the workflow alone orders them."""
    out = tmp_path / "reports" / "run"
    csv, curves = out / "results.csv", out / "curves.csv"
    assert main(["report", "collect", "--results", str(results_tree), "--out", str(csv)]) == 0
    for part in ("tables", "figures"):
        assert main(["report", part, "--csv", str(csv), "--out", str(out / part)]) == 0
    assert main(["report", "reference", "--csv", str(csv), "--out", str(out / "tables")]) == 0
    assert main(["report", "cost", "--results", str(results_tree), "--out", str(out / "tables")]) == 0
    assert main(["report", "curves", "--results", str(results_tree), "--out", str(curves)]) == 0
    for name in (
        "results.csv",
        "curves.csv",
        "tables/synthetic.md",
        "tables/llff.tex",
        "tables/reference.html",
        "tables/cost.md",
        "figures/llff_heatmap.png",
        "figures/synthetic_scatter.pdf",
    ):
        assert (out / name).is_file(), name


def test_parts_one_by_one(results_tree, tmp_path, capsys):
    csv = tmp_path / "results.csv"
    metrics = sorted(str(p) for p in results_tree.glob("llff/*/eval/*/metrics.json"))
    assert main(["report", "collect", *metrics, "--out", str(csv)]) == 0
    assert "6 evaluated models" in capsys.readouterr().out
    assert main(["report", "tables", "--csv", str(csv), "--dataset", "llff", "--out", str(tmp_path / "t")]) == 0
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["llff.html", "llff.md", "llff.tex"]
    assert main(["report", "reference", "--csv", str(csv), "--out", str(tmp_path / "t")]) == 0
    assert (tmp_path / "t" / "reference.md").is_file()


def test_errors_are_one_line_and_exit_2(results_tree, tmp_path, capsys):
    assert main(["report", "collect", "--out", str(tmp_path / "x.csv")]) == 2
    assert "exactly one of them" in capsys.readouterr().err
    csv = tmp_path / "results.csv"
    assert main(["report", "collect", "--results", str(results_tree), "--out", str(csv)]) == 0
    assert main(["report", "figures", "--csv", str(csv), "--dataset", "tank", "--out", str(tmp_path)]) == 2
    assert "results.csv has no rows of them" in capsys.readouterr().err
    assert main(["report", "tables", "--csv", str(tmp_path / "missing.csv"), "--out", str(tmp_path)]) == 2
    assert "missing.csv does not exist" in capsys.readouterr().err
