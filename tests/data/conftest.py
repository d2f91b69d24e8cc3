"""Fixtures of the data tests: the real scenes in a form the loaders can read, built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvd.data.nsvf import restore_links


@pytest.fixture(scope="session")
def nsvf_lego(nsvf_lego_dir: Path, tmp_path_factory) -> Path:
    """The NSVF-layout lego. Its rgb/*.png are relative symbolic links to the Blender lego PNGs;
    where the shared copy stores them as text files, this builds a tree of real links instead
    (the shared data is never modified)."""
    return restore_links(nsvf_lego_dir, tmp_path_factory.mktemp("nsvf_lego"))


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
