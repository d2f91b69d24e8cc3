"""Shared fixtures of the training tests."""

from __future__ import annotations

import pytest

from pvd.data import index_split, scene_normalization


@pytest.fixture(scope="module")
def scene(demo_scene):
    """The demo scene's train split index and its box normalisation (bound 1, scale 0.8)."""
    index = index_split(demo_scene, "synthetic", "train")
    return index, scene_normalization(index, "synthetic", 1.0, 0.8)
