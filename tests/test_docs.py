"""The repository is self-contained: no tracked file cites documents outside it.

A clone has no ``../shared`` folder, so a citation of the project's private method notes (by their
file name, their folder or their section numbers) points at nothing. The method is described in
``docs/method.md``; cite that, or state the fact. (Paths to the real test scenes under
``../shared/data`` are fine: the tests and benchmarks read them where they exist.)
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# What a citation of the notes looks like: their name (alone, with ".md", a section number or "'s"),
# their folder, a bare section number. Spelt in pieces so that this file does not match itself.
_NAME = "MET" + "HOD"
_FOLDER = "shared/" + "docs"
_SECTION = "\u00a7"
CITATIONS = re.compile(rf"\b{_NAME}\b|{_FOLDER}|{_SECTION}\s*\d")


def tracked_files() -> list[str]:
    proc = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=False)
    if proc.returncode != 0:
        pytest.skip("not a git checkout")
    return [name for name in proc.stdout.decode().split("\0") if name]


def citations(names: list[str], root: Path = REPO) -> list[str]:
    """``path:line: text`` of every line under ``root`` citing the method notes."""
    found = []
    for name in names:
        path = root / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files (images)
        for number, line in enumerate(text.splitlines(), 1):
            if CITATIONS.search(line):
                found.append(f"{name}:{number}: {line.strip()}")
    return found


def test_no_tracked_file_cites_the_method_notes():
    found = citations(tracked_files())
    assert not found, "cite docs/method.md instead of the private method notes:\n" + "\n".join(found)


def test_the_check_finds_a_citation(tmp_path):
    """The pattern catches each form of citation, anywhere in the tree."""
    lines = {
        "a.md": f"see {_NAME}.md",
        "b.py": f"# as in {_NAME} {_SECTION}3",
        "c.yaml": f"x: 1  # ../{_FOLDER}/{_NAME}.md",
        "d.md": f"written from {_SECTION}9",
        "e.py": f"gives {_NAME}'s numbers",
        "pvd/commands/f.py": f"{_NAME} {_SECTION}4",
        "ok.md": "scenes in ../shared/data; the method: docs/method.md",
    }
    for name, line in lines.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(line + "\n")
    hits = {hit.split(":")[0] for hit in citations(list(lines), tmp_path)}
    assert hits == {"a.md", "b.py", "c.yaml", "d.md", "e.py", "pvd/commands/f.py"}
