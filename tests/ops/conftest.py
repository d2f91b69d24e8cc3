"""Shared fixtures of the native-op parity tests."""

from __future__ import annotations

import pytest

from pvd.ops import backend

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.fixture(scope="module")
def native_build():
    """Build (or find in the cache) the CPU extension once; a compile error fails here."""
    try:
        return backend.build("cpu")
    except backend.NativeBuildError as exc:
        pytest.fail(f"the CPU native build failed: {exc}")
