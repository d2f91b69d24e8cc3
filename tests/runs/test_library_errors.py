"""Library errors name the spec field; the CLI maps fields to flags (:class:`pvd.errors.SpecError`).

A library caller (``StageSchedule(..., iters=0)``) reads ``iters must be >= 1, got 0``; the CLI shows
the same error as ``--iters must be >= 1, got 0``. The last test keeps CLI flags (``--iters``) out of
the messages of library code: only the command layer (pvd/commands, pvd/cli.py, pvd/jobs) spells flags.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from pvd.cli import error_line, main
from pvd.data.demo import SceneEdit, edited_solids
from pvd.data.download import DownloadError, download_dataset
from pvd.errors import SpecError
from pvd.train.stages import StageConfig, StageSchedule

PVD = Path(__file__).resolve().parents[2] / "pvd"

# the command layer turns fields into flags: it may spell them
COMMAND_LAYER = ("commands/", "cli.py", "jobs/")

FLAG = re.compile(r"(?<![\w-])--[A-Za-z]")
BARE_TOKEN = re.compile(r"--[\w-]+(=\S*)?")


def test_a_library_error_names_the_field_and_the_cli_shows_the_flag():
    with pytest.raises(SpecError) as err:
        StageSchedule(StageConfig(), iters=0, has_feature=True)
    assert err.value.field == "iters" and err.value.problem == "must be >= 1, got 0"
    assert str(err.value) == "iters must be >= 1, got 0"
    assert error_line(err.value, "distill") == "pvd distill: error: --iters must be >= 1, got 0"


def test_other_options_in_a_message_are_fields_to_a_library_and_flags_to_the_cli():
    with pytest.raises(SpecError) as err:
        edited_solids(0, SceneEdit(without=("disc",), move=(("disc", (0.1, 0.0, 0.0)),)))
    assert err.value.field == "move"
    assert str(err.value) == "move 'disc': the solid is also left out by without"
    assert error_line(err.value, "data") == "pvd data: error: --move 'disc': the solid is also left out by --without"


def test_a_domain_error_about_an_option_is_both_kinds(tmp_path):
    """Callers catching the domain's error type still catch it; the CLI still names the flag."""
    with pytest.raises(DownloadError) as err:
        download_dataset("synthetic", tmp_path, sha256="not-a-digest")
    assert isinstance(err.value, SpecError) and err.value.field == "sha256"
    assert str(err.value).startswith("sha256 'not-a-digest': expected a SHA-256 digest")


def test_the_cli_shows_a_library_error_with_the_flag(tmp_path, capsys):
    assert main(["data", "demo", str(tmp_path / "scene"), "--size", "0"]) == 2
    assert capsys.readouterr().err.strip() == "pvd data: error: --size must be at least 1, got 0"
    assert not (tmp_path / "scene").exists()


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def flag_texts(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string of ``source`` that spells a CLI flag (``--iters``, ``f"--{name}"``).

    Docstrings may mention flags. A string that is a flag alone is a command-line token, not a
    message, where it is an element of a list, tuple or set (an argv, aliases) or compared
    (``"--check" in argv``); anywhere else (e.g. a flag handed to a message helper) it counts.
    """
    tree = ast.parse(source)
    docs = _docstrings(tree)
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    inside_fstring = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(p.value if isinstance(p, ast.Constant) else "X" for p in node.values)
            if FLAG.search(text):
                found.append((node.lineno, text))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in docs or id(node) in inside_fstring or not FLAG.search(node.value):
                continue
            token = BARE_TOKEN.fullmatch(node.value)
            if token and isinstance(parents.get(id(node)), (ast.List, ast.Tuple, ast.Set, ast.Compare)):
                continue
            found.append((node.lineno, node.value))
    return found


def test_the_check_finds_flags_in_messages():
    old = """
def f(iters, name):
    \"\"\"Docstrings may say ``--iters``.\"\"\"
    if iters < 1:
        raise UserError(f"--iters must be >= 1, got {iters}")
    raise UserError(f"--{name} must be at least 1")
    _named(name, "--without")
    subprocess.run(["git", "status", "--porcelain"])
    return "--check" in sys.argv, option(aliases=("--no-lpips",))
"""
    assert sorted(line for line, _ in flag_texts(old)) == [5, 6, 7]


def test_library_messages_name_fields_not_flags():
    """Library code names an option by its spec field (:class:`pvd.errors.SpecError`, other options in
    backticks) or in plain words; only the command layer spells ``--flags``."""
    offenders = []
    for path in sorted(PVD.rglob("*.py")):
        rel = path.relative_to(PVD).as_posix()
        if rel.startswith(COMMAND_LAYER):
            continue
        offenders += [f"pvd/{rel}:{line}: {text!r}" for line, text in flag_texts(path.read_text())]
    assert not offenders, "library messages spell CLI flags:\n" + "\n".join(offenders)
