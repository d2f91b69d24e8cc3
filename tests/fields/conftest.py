"""Fields built once per session: the paper presets hold up to 58.7 M floats (235 MB)."""

from __future__ import annotations

import pytest
import torch
from field_cases import NARROW_RANGE

from pvd.presets import build_field


@pytest.fixture(scope="session")
def field_cache():
    """``get(key, preset)`` -> the field at bound 1 with the narrow density range, built once (seeded)."""
    cache = {}

    def get(key: str, preset: str):
        if (key, preset) not in cache:
            torch.manual_seed(0)
            cache[(key, preset)] = build_field(key, preset, 1.0, density_range=NARROW_RANGE)
        return cache[(key, preset)]

    return get


@pytest.fixture(autouse=True)
def one_thread():
    """Run each field test on one thread: the shared CPUs are oversubscribed, where spinning
    intra-op threads cost far more than they bring at these sizes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
