"""Import boundaries between the subpackages of ``pvd``, read from one declared table.

A module may import its own subpackage and any subpackage of a *lower* layer, nothing else --
module-level imports and imports inside functions alike. ``metrics`` imports nothing from ``pvd``.
The table is the README's picture: jobs -> cli -> commands -> runs -> presets -> train | evaluate | view | report ->
model -> names -> render -> data -> fields -> ops -> metrics -> records, devices -> record_types -> errors.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PVD = Path(__file__).resolve().parents[1] / "pvd"

# top to bottom; a unit is a subpackage (pvd/x/) or a top-level module (pvd/x.py)
LAYERS: tuple[tuple[str, ...], ...] = (
    ("jobs",),  # the `pvd` entry point (a job server's client) and the job server
    ("cli",),
    ("commands",),
    ("runs",),
    ("presets",),
    ("train", "edit", "interop", "evaluate", "view", "report"),
    ("model",),
    ("names",),
    ("render",),
    ("data",),
    ("fields",),
    ("ops",),
    ("metrics",),
    ("records", "devices"),
    ("record_types",),
    ("errors",),
)
IMPORTS_NOTHING = {"metrics"}


def unit_of(module: str) -> str | None:
    """``pvd.train.loop`` -> ``train``; ``pvd`` (the package root) -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "pvd" else None


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, at any depth; ``from pvd import x`` gives ``pvd.x``."""
    found = []
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base == "pvd":
                found += [(node.lineno, f"pvd.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, base))
    return found


def crossings(root: Path, layers=LAYERS, imports_nothing=IMPORTS_NOTHING) -> list[str]:
    """Every import under ``root`` (a ``pvd`` package folder) that the table forbids."""
    level = {unit: i for i, units in enumerate(layers) for unit in units}
    bad = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        src = unit_of(module)
        if src is None:
            continue
        if src not in level:
            bad.append(f"{path}: unit {src!r} is not in the boundary table")
            continue
        for line, target in imported_modules(path, module):
            dst = unit_of(target)
            if target.split(".")[0] != "pvd" or dst is None or dst == src:
                continue
            if src in imports_nothing or dst not in level or level[dst] <= level[src]:
                bad.append(f"{path}:{line}: {src} imports {target}")
    return bad


def test_no_import_crosses_the_table():
    assert crossings(PVD) == []


def test_every_unit_is_in_the_table():
    units = {
        p.stem if p.is_file() else p.name
        for p in PVD.iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py") or (p.is_dir() and (p / "__init__.py").exists())
    }
    known = {u for layer in LAYERS for u in layer}
    assert units - known == set()


@pytest.mark.parametrize(
    "source, message",
    [
        ("from pvd.train.loop import run_steps\n", "fields imports pvd.train.loop"),
        ("def f():\n    import pvd.evaluate.evaluate\n", "fields imports pvd.evaluate.evaluate"),
        ("def f():\n    from pvd import model\n", "fields imports pvd.model"),
        ("from ..render import Renderer\n", "fields imports pvd.render"),
    ],
)
def test_checker_finds_an_upward_import(tmp_path, source, message):
    pkg = tmp_path / "pvd"
    for unit in ("fields", "render", "train", "evaluate"):
        (pkg / unit).mkdir(parents=True)
        (pkg / unit / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text("")
    (pkg / "fields" / "ok.py").write_text("from pvd.ops import sh\nfrom pvd.errors import UserError\nimport torch\n")
    assert crossings(pkg) == []
    (pkg / "fields" / "bad.py").write_text(source)
    found = crossings(pkg)
    assert len(found) == 1 and message in found[0]


def test_checker_keeps_metrics_free_of_pvd(tmp_path):
    pkg = tmp_path / "pvd"
    (pkg / "metrics").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "metrics" / "psnr.py").write_text("from pvd.errors import UserError\n")
    assert crossings(pkg) == [f"{pkg / 'metrics' / 'psnr.py'}:1: metrics imports pvd.errors"]


def test_argparse_lives_in_the_command_layer_only():
    users = sorted(
        str(p.relative_to(PVD.parent))
        for p in PVD.rglob("*.py")
        if "argparse" in {m.split(".")[0] for _, m in imported_modules(p, "pvd.x")}
    )
    allowed = ("pvd/commands/", "pvd/jobs/")  # and pvd/cli.py: the command layer and the entry points above it
    assert users and all(u == "pvd/cli.py" or u.startswith(allowed) for u in users), users
