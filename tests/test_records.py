"""Atomic writes: results get the permissions of the user's umask, not mkstemp's private 0o600."""

from __future__ import annotations

import os
import stat

import pytest

from pvd.records import atomic_path, current_umask, file_mode, write_json


@pytest.fixture
def umask():
    """Set the process umask for one test (``umask(0o077)``); the old one comes back afterwards."""
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(umask, tmp_path, mask, expected):
    umask(mask)
    assert current_umask() == mask and file_mode() == expected and file_mode(directory=True) == 0o777 & ~mask
    write_json(tmp_path / "record.json", {"a": 1})
    with atomic_path(tmp_path / "sub" / "table.md") as tmp:
        tmp.write_text("x\n")
    assert _mode(tmp_path / "record.json") == expected
    assert _mode(tmp_path / "sub" / "table.md") == expected
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["table.md"]  # no temporary file left


def test_a_writer_that_replaces_the_temporary_file_still_gets_the_mode(umask, tmp_path):
    """Some writers (ffmpeg, savefig) may recreate the file: the mode is set after they finish."""
    umask(0o022)
    with atomic_path(tmp_path / "video.gif") as tmp:
        tmp.unlink()
        tmp.write_bytes(b"GIF89a")
        os.chmod(tmp, 0o600)
    assert _mode(tmp_path / "video.gif") == 0o644


def test_demo_scene_folders_follow_the_umask(umask, tmp_path):
    """The demo scenes are built in a mkdtemp folder (0o700) and renamed into place."""
    from pvd.data.demo import DemoConfig, write_demo
    from pvd.data.demo_capture import write_demo_capture

    umask(0o022)
    small = DemoConfig(size=8, n_train=1, n_val=1, n_test=1, spp=1)
    write_demo(tmp_path / "scene", small, progress=False)
    write_demo_capture(tmp_path / "capture", small)
    assert _mode(tmp_path / "scene") == _mode(tmp_path / "capture") == 0o755
    assert _mode(tmp_path / "scene" / "transforms_test.json") == 0o644
