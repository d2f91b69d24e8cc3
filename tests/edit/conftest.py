"""Fixtures of the edit tests: small real checkpoints with known content (see edit_cases.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from edit_cases import ball_model

from pvd.data.cameras import Normalization
from pvd.model import save_checkpoint


@pytest.fixture
def ball_ckpt(tmp_path) -> Path:
    path = tmp_path / "ball" / "checkpoint.pt"
    save_checkpoint(path, ball_model())
    return path


@pytest.fixture
def other_ckpt(tmp_path) -> Path:
    """Another scene (other normalisation) with a ball at (-0.2, 0.1, 0.3), radius 0.2."""
    path = tmp_path / "other" / "checkpoint.pt"
    save_checkpoint(
        path, ball_model((-0.2, 0.1, 0.3), 0.2, (-1.0, 2.0, 0.5), norm=Normalization(1.0, 0.6, (0.1, 0.0, 0.0)))
    )
    return path
