"""Fixtures of the data tests: the real scenes in a form the loaders can read, built once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _link_target(path: Path) -> Path | None:
    """Target of a symbolic link that a copy flattened into a small text file, else None."""
    if path.is_symlink() or path.stat().st_size > 1024:
        return None
    try:
        text = path.read_text().strip()
    except UnicodeDecodeError:
        return None
    target = (path.parent / text).resolve()
    return target if target.is_file() else None


@pytest.fixture(scope="session")
def nsvf_lego(nsvf_lego_dir: Path, tmp_path_factory) -> Path:
    """The NSVF-layout lego. Its rgb/*.png are relative symbolic links to the Blender lego PNGs;
    where the shared copy stores them as text files, this builds a tree of real links instead
    (the shared data is never modified)."""
    rgb = sorted((nsvf_lego_dir / "rgb").iterdir())
    if _link_target(rgb[0]) is None:
        return nsvf_lego_dir
    root = tmp_path_factory.mktemp("nsvf_lego") / "Lego"
    (root / "rgb").mkdir(parents=True)
    for name in ("pose", "intrinsics.txt", "bbox.txt"):
        os.symlink(nsvf_lego_dir / name, root / name)
    for png in rgb:
        target = _link_target(png)
        assert target is not None, f"{png} is neither an image nor a link stub"
        os.symlink(target, root / "rgb" / png.name)
    return root


@pytest.fixture
def write_png():
    """``write_png(path, array)``: save a uint8/uint16 [H, W(, C)] array as PNG, creating folders."""
    import imageio.v3 as iio

    def write(path: Path, array) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        iio.imwrite(path, array)
        return path

    return write
