"""The decoded-image cache (pvd.data.image_cache): a split's second load comes from one ``.npy``
entry keyed by the files' content, changed files miss it, damaged entries are replaced, and the
loaders' errors are unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pvd.data import image_cache, images
from pvd.data.loader import index_split
from pvd.data.scene import DataError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder of this test's own, and a counter of decoded files."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(image_cache.ENV, str(folder))
    decoded = []
    real = images.read_image
    monkeypatch.setattr(images, "read_image", lambda path: decoded.append(path) or real(path))
    return folder, decoded


def _scene(root, write_png, n=4, seed=0):
    """A tiny Blender-layout scene (RGBA PNGs of 8 x 6 px) with a train split of ``n`` views."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        write_png(root / "train" / f"r_{i}.png", rng.integers(0, 256, (6, 8, 4), dtype=np.uint8))
        pose = np.eye(4)
        pose[2, 3] = 4.0
        frames.append({"file_path": f"./train/r_{i}", "transform_matrix": pose.tolist()})
    (root / "transforms_train.json").write_text(json.dumps({"camera_angle_x": 0.7, "frames": frames}))
    return root


def test_a_second_load_reads_the_entry_and_gives_the_same_images(tmp_path, write_png, cache):
    folder, decoded = cache
    root = _scene(tmp_path / "scene", write_png)
    first = index_split(root, "synthetic", "train", 2).load(progress=False)
    assert len(decoded) == 4 and len(list(folder.glob("*.npy"))) == 1
    second = index_split(root, "synthetic", "train", 2).load(progress=False)
    assert len(decoded) == 4  # nothing decoded again
    assert torch.equal(first.images, second.images) and second.images.shape == (4, 3, 4, 4)


def test_a_changed_file_misses_and_a_damaged_entry_is_replaced(tmp_path, write_png, cache):
    folder, decoded = cache
    root = _scene(tmp_path / "scene", write_png)
    index_split(root, "synthetic", "train", 2).load(progress=False)
    write_png(root / "train" / "r_2.png", np.full((6, 8, 4), 255, dtype=np.uint8))  # same size, new content
    changed = index_split(root, "synthetic", "train", 2).load(progress=False)
    assert len(decoded) == 8 and len(list(folder.glob("*.npy"))) == 2
    assert torch.all(changed.images[2] == 1.0)
    for entry in folder.glob("*.npy"):
        entry.write_bytes(b"not an array")
    again = index_split(root, "synthetic", "train", 2).load(progress=False)
    assert len(decoded) == 12 and torch.equal(again.images, changed.images)
    assert np.load(sorted(folder.glob("*.npy"), key=lambda p: p.stat().st_mtime)[-1]).shape == (4, 3, 4, 4)
    for entry in folder.glob("*.npy"):
        np.save(entry, np.zeros((4, 3, 4), dtype=np.float32))  # a valid array of the wrong rank
    assert torch.equal(index_split(root, "synthetic", "train", 2).load(progress=False).images, changed.images)
    assert len(decoded) == 16


def test_full_size_splits_and_off_skip_the_cache_and_errors_still_name_the_file(
    tmp_path, write_png, cache, monkeypatch
):
    folder, decoded = cache
    root = _scene(tmp_path / "scene", write_png)
    index_split(root, "synthetic", "train", 1).load(progress=False)  # full size: not kept
    assert not folder.exists() or not list(folder.glob("*.npy"))
    monkeypatch.setenv(image_cache.ENV, "off")
    index_split(root, "synthetic", "train", 2).load(progress=False)
    assert not folder.exists() or not list(folder.glob("*.npy"))
    monkeypatch.setenv(image_cache.ENV, str(folder))
    index = index_split(root, "synthetic", "train", 2)
    (root / "train" / "r_1.png").unlink()
    with pytest.raises(DataError, match=r"r_1.png: image file not found"):
        index.load(progress=False)
