"""NaN and infinite inputs to every op, on both backends (the PyTorch twin and the CPU native build):
each returns, with the same results (NaN where the other has NaN), and the renderer finishes an
image of degenerate rays instead of marching forever (a real subprocess with a deadline)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pvd.ops.composite import composite_torch
from pvd.ops.hash_grid import hash_grid_torch, make_layout
from pvd.ops.march import march_torch
from pvd.ops.ray_aabb import ray_aabb_torch
from pvd.ops.sh import sh_encode_torch

NAN, INF = float("nan"), float("inf")
ROOT = Path(__file__).resolve().parents[2]


def _same(native, twin):
    for a, b in zip(native if isinstance(native, tuple) else (native,), twin if isinstance(twin, tuple) else (twin,)):
        assert a.shape == b.shape and a.dtype == b.dtype
        torch.testing.assert_close(a, b, equal_nan=True, rtol=1e-5, atol=1e-6)


ORIGINS = torch.tensor([[0.0, 0, 0], [NAN, 0, 0], [0, 0, 0], [INF, 0, 0], [0, 0, 0], [-INF, 0, 0], [0.2, 0.1, 0]])
DIRECTIONS = torch.tensor([[0.0, 0, 1], [0, 0, 1], [NAN, NAN, NAN], [0, 0, 1], [0, 0, 0], [1, 0, 0], [0, INF, 0]])


def test_ray_aabb_on_nonfinite_rays(native_build):
    aabb = torch.tensor([-1.0, -1, -1, 1, 1, 1])
    twin = ray_aabb_torch(ORIGINS, DIRECTIONS, aabb)
    _same(native_build.module.ray_aabb_fwd(ORIGINS, DIRECTIONS, aabb), twin)
    assert twin[2].tolist() == [True, False, False, False, True, False, False]  # non-finite rays miss


NEAR_FAR = [
    ("far inf", [0.0, 0.0], [1.0, INF]),
    ("far nan", [0.0, 0.0], [1.0, NAN]),
    ("near nan", [0.0, NAN], [1.0, 1.0]),
    ("near -inf", [0.0, -INF], [1.0, 1.0]),
    ("both inf", [0.0, INF], [1.0, INF]),
]


@pytest.mark.parametrize("gamma", [0.0, 0.02], ids=["linear", "geometric"])
@pytest.mark.parametrize("cascades", [1, 2])
@pytest.mark.parametrize("case", [c[0] for c in NEAR_FAR])
def test_march_on_nonfinite_bounds_gives_no_samples_and_ends_at_far(native_build, case, cascades, gamma):
    _, near, far = next(c for c in NEAR_FAR if c[0] == case)
    near, far = torch.tensor(near), torch.tensor(far)
    o, d = torch.zeros(2, 3), torch.tensor([[0.0, 0, 1], [0, 0, 1]])
    occ = torch.ones(cascades, 8, 8, 8, dtype=torch.bool)
    args = (o, d, near, far, torch.full((2,), 0.5), occ, 2.0, 0.01, 0.1, gamma, 1000, 100000)
    twin = march_torch(*args)
    _same(native_build.module.march_fwd(*args), twin)
    assert (twin[0] == 1).sum() == 0  # the bad ray: no samples
    assert (twin[0] == 0).sum() > 0  # the good one marched
    bad_far = float(torch.where(near[1] < far[1], far[1], near[1]))
    assert torch.equal(twin[3][1:].isnan(), torch.tensor([bad_far != bad_far]))
    if bad_far == bad_far:
        assert float(twin[3][1]) == bad_far  # t_end = far: a caller's loop stops


@pytest.mark.parametrize("cascades", [1, 3])
def test_march_on_nonfinite_origins_and_directions(native_build, cascades):
    occ = torch.rand(cascades, 8, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.5
    n = len(ORIGINS)
    args = (
        ORIGINS,
        DIRECTIONS,
        torch.zeros(n),
        torch.ones(n),
        torch.full((n,), 0.5),
        occ,
        2.0,
        0.01,
        0.1,
        0.0,
        1000,
        1000,
    )
    _same(native_build.module.march_fwd(*args), march_torch(*args))


def test_hash_grid_on_nonfinite_points(native_build):
    layout = make_layout(2, 2, 10, 4, 8)
    table = torch.rand(layout.n_entries, 2, generator=torch.Generator().manual_seed(0))
    offsets, resolutions = torch.tensor(layout.offsets), torch.tensor(layout.resolutions)
    x = torch.tensor([[0.5, 0.5, 0.5], [NAN, 0.5, 0.5], [INF, 0.2, 0.2], [-INF, 0.1, 0.1], [0.3, NAN, INF]])
    twin = hash_grid_torch(x, table, offsets, resolutions)
    _same(native_build.module.hash_grid_fwd(x, table, offsets, resolutions), twin)
    assert twin[1].isnan().all() and twin[2].isfinite().all()  # NaN in, NaN out; inf clamps to a face


def test_sh_on_nonfinite_directions(native_build):
    d = torch.tensor([[0.0, 0, 1], [NAN, 0, 1], [INF, 0, 0], [0, -INF, 0]])
    _same(native_build.module.sh_encode_fwd(d, 4), sh_encode_torch(d, 4))


def test_composite_on_nonfinite_samples(native_build):
    """Native compositing keeps a ray's NaN to that ray: each ray's result equals the twin's on that
    ray alone. (The twin itself, run on the whole batch, lets one NaN sample spoil every ray.)"""
    sigmas = torch.tensor([1.0, NAN, 2.0, INF, 0.5, 1.0, 0.7])
    rgbs = torch.rand(7, 3, generator=torch.Generator().manual_seed(0))
    rgbs[4, 1] = NAN
    deltas = torch.tensor([0.1, 0.1, INF, 0.1, 0.1, 0.1, 0.1])
    ts = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, NAN, 0.1])
    ray_indices = torch.tensor([0, 0, 1, 1, 2, 3, 4])
    weights, rgb, depth, opacity = native_build.module.composite_fwd(sigmas, rgbs, deltas, ts, ray_indices, 5)
    for ray in (0, 2, 3, 4):  # ray 1 (infinite sigma and delta) differs between the backends in its NaN/0
        sel = ray_indices == ray
        w, c, z, a = composite_torch(
            sigmas[sel], rgbs[sel], deltas[sel], ts[sel], torch.zeros(int(sel.sum()), dtype=torch.long), 1
        )
        _same((weights[sel], rgb[ray : ray + 1], depth[ray : ray + 1], opacity[ray : ray + 1]), (w, c, z, a))
    assert rgb[4].isfinite().all()  # the clean ray is untouched by the others' NaN


RENDER = """
import torch
from pvd.data.cameras import Cameras, Normalization, image_rays
from pvd.fields import ARCHS
from pvd.model import ModelMeta, build_model
from pvd.presets import arch_preset
from pvd.ops.backend import active_backend
preset = arch_preset("tiny", "hash")
model = build_model(ModelMeta("hash", "tiny", preset.field, preset.render, bound=1.0))
model.grid.occupancy.fill_(True)
c2w = torch.zeros(1, 4, 4)            # the all-zero transform_matrix of the issue
c2w[0, :3, 3] = torch.tensor({origin})
cams = Cameras(c2w, torch.tensor([20.0]), torch.tensor([20.0]), torch.tensor([8.0]), torch.tensor([8.0]), 16, 16)
out = model.renderer.render_image(image_rays(cams, 0, Normalization()), torch.ones(3))
print(active_backend("cpu"), out.rgb.shape[0], bool(out.opacity.eq(0).all()))
"""


@pytest.mark.parametrize("backend_name", ["torch", "native"])
@pytest.mark.parametrize("origin", ["[0.0, 0.0, 0.0]", "[0.0, 0.0, float('nan')]"], ids=["inside", "nan"])
def test_render_of_a_zero_camera_finishes(native_build, backend_name, origin):
    env = {**os.environ, "PVD_BACKEND": backend_name, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", RENDER.format(origin=origin)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    kind = "native-cpu" if backend_name == "native" else "torch"
    assert proc.stdout.split() == [kind, "256", "True"]  # every ray a miss: background only
