"""Teacher x student matrices and per-scene tables: values in the right cells, n/a and - kept apart,
valid Markdown / LaTeX (booktabs) / HTML."""

from __future__ import annotations

import html.parser

import pytest
from report_cases import ARCHS, GRID5, expected_psnr, write_cell

from pvd.report.collect import collect, find_metrics, read_csv, write_csv
from pvd.report.tables import METRICS, matrix_table, matrix_values, scene_table, write_dataset_tables


@pytest.fixture
def frame(results_tree, tmp_path):
    path = tmp_path / "results.csv"
    write_csv(collect(find_metrics(results_tree)), path)
    return read_csv(path)


def mean_psnr(teacher: str, student: str) -> float:
    return (expected_psnr(0, teacher, student) + expected_psnr(1, teacher, student)) / 2


def test_matrix_values_are_scene_means_in_their_cells(frame):
    values = matrix_values(frame, "synthetic", "psnr")
    assert list(values.index) == list(ARCHS) and list(values.columns) == ["", *ARCHS]
    for t in ARCHS:
        assert values.loc[t, ""] == pytest.approx(mean_psnr(t, ""))
        for s in ARCHS:
            assert values.loc[t, s] == pytest.approx(mean_psnr(t, s))


def test_matrix_table_rows_columns_and_mean_row(frame):
    table = matrix_table(frame, "synthetic", METRICS[0])
    assert table.columns[1] == "teacher itself" and table.columns[2] == "INGP (hash)"
    rows = {row[0]: row for row in table.rows}
    assert rows["TensoRF (vm)"][4] == f"{mean_psnr('vm', 'mlp'):.2f}"  # vm teacher -> mlp student
    assert rows["Plenoxels (tensors)"][1] == f"{mean_psnr('tensors', ''):.2f}"
    column_mean = sum(mean_psnr(t, "hash") for t in ARCHS) / 4
    assert table.rows[-1][0] == "mean" and table.rows[-1][2] == f"{column_mean:.2f}"
    assert "mean over 2 scene(s)" in table.title


def test_the_5x5_grid_has_the_splat_row_and_column(tmp_path):
    """With gs teachers and students (issue 26) the matrix gains a 3DGS row and column, in ARCHS order."""
    root = tmp_path / "results"
    for t in GRID5:
        write_cell(root, "synthetic", "demo", 0, t, "")
        for s in GRID5:
            write_cell(root, "synthetic", "demo", 0, t, s)
    path = tmp_path / "results.csv"
    write_csv(collect(find_metrics(root)), path)
    table = matrix_table(read_csv(path), "synthetic", METRICS[0])
    assert table.columns[2:] == ("INGP (hash)", "TensoRF (vm)", "NeRF (mlp)", "Plenoxels (tensors)", "3DGS (gs)")
    rows = {row[0]: row for row in table.rows}
    assert rows["3DGS (gs)"][1] == f"{expected_psnr(0, 'gs', ''):.2f}"
    assert rows["3DGS (gs)"][3] == f"{expected_psnr(0, 'gs', 'vm'):.2f}"
    assert rows["INGP (hash)"][6] == f"{expected_psnr(0, 'hash', 'gs'):.2f}"
    assert len(table.rows) == 5 + 1  # the mean row


def test_unavailable_and_not_run_are_distinct(frame):
    lpips = matrix_table(frame, "llff", METRICS[2])
    assert all(cell == "n/a" for row in lpips.rows for cell in row[1:])
    partial = frame[~((frame["dataset"] == "synthetic") & (frame["model"] == "mlp2vm"))]
    table = matrix_table(partial, "synthetic", METRICS[0])
    rows = {row[0]: row for row in table.rows}
    assert rows["NeRF (mlp)"][3] == "-" and rows["NeRF (mlp)"][2] != "-"


def test_scene_table_has_a_mean_row(frame):
    table = scene_table(frame, "synthetic")
    assert [row[0] for row in table.rows] == ["chair", "lego", "mean"]
    col = table.columns.index("hash->vm")
    assert table.rows[1][col] == f"{expected_psnr(0, 'hash', 'vm'):.2f}"
    assert table.rows[2][col] == f"{mean_psnr('hash', 'vm'):.2f}"


class _Cells(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells, self.tables = [], 0

    def handle_starttag(self, tag, attrs):
        self.tables += tag == "table"

    def handle_data(self, data):
        self.cells.append(data)


def test_documents(frame, tmp_path):
    frame.loc[frame["scene"] == "lego", "scene"] = "lego_v2"
    paths = write_dataset_tables(frame, "synthetic", tmp_path)
    assert [p.name for p in paths] == ["synthetic.md", "synthetic.tex", "synthetic.html"]
    md, tex, page = (p.read_text() for p in paths)
    assert f"| TensoRF (vm) | {mean_psnr('vm', ''):.2f} |" in md
    assert tex.count(r"\toprule") == tex.count(r"\bottomrule") == 5
    assert r"lego\_v2" in tex and "lego_v2" not in tex
    assert r"hash$\to$vm" in tex
    parser = _Cells()
    parser.feed(page)
    assert parser.tables == 5 and f"{mean_psnr('hash', 'tensors'):.2f}" in parser.cells


def test_imported_teachers_are_marked(results_tree, tmp_path):
    """A teacher converted by `pvd import` (record kind "import") is named in every table's note."""
    import json

    from pvd.report import collect, find_metrics, read_csv, write_csv
    from pvd.report.tables import dataset_tables

    record = results_tree / "synthetic" / "lego" / "teacher" / "vm" / "record.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "kind": "import"}))
    rows = collect(find_metrics(results_tree))
    assert {r.teacher_source for r in rows if r.teacher == "vm" and r.scene == "lego"} == {"import"}
    assert {r.teacher_source for r in rows if r.teacher == "hash"} == {"train"}
    write_csv(rows, tmp_path / "results.csv")
    tables = dataset_tables(read_csv(tmp_path / "results.csv"), "synthetic")
    assert all("Imported teachers: TensoRF" in t.note for t in tables)
    assert not any("Imported" in t.note for t in dataset_tables(read_csv(tmp_path / "results.csv"), "llff"))
