"""Ray-box intersection on hand-worked cases."""

import math

import torch

from pvd.ops.ray_aabb import ray_aabb, ray_aabb_torch

BOX = torch.tensor([-1.0, -1.0, -1.0, 1.0, 1.0, 1.0])


def _unit(v):
    v = torch.tensor(v, dtype=torch.float32)
    return v / v.norm()


def test_hand_cases():
    origins = torch.tensor(
        [
            [-3.0, 0.0, 0.0],  # straight through along +x: enters at 2, leaves at 4
            [0.0, 0.0, 0.0],  # starts at the centre: entry behind (-1), exit at 1
            [-3.0, 2.0, 0.0],  # parallel to x, above the box: miss
            [3.0, 0.0, 0.0],  # pointing away from the box: box behind, miss
            [-3.0, -3.0, 0.0],  # diagonal in the xy plane through the edge region
            [0.5, 0.25, -5.0],  # along +z, parallel to x and y slabs but inside them
        ]
    )
    directions = torch.stack(
        [
            _unit([1, 0, 0]),
            _unit([0, 1, 0]),
            _unit([1, 0, 0]),
            _unit([1, 0, 0]),
            _unit([1, 1, 0]),
            _unit([0, 0, 1]),
        ]
    )
    t_near, t_far, hit = ray_aabb_torch(origins, directions, BOX)
    assert hit.tolist() == [True, True, False, False, True, True]
    s2 = math.sqrt(2)
    expected_near = [2.0, -1.0, 2 * s2, 4.0]
    expected_far = [4.0, 1.0, 4 * s2, 6.0]
    hits = [0, 1, 4, 5]
    assert torch.allclose(t_near[hits], torch.tensor(expected_near), atol=1e-5)
    assert torch.allclose(t_far[hits], torch.tensor(expected_far), atol=1e-5)
    assert torch.isinf(t_near[[2, 3]]).all() and torch.isinf(t_far[[2, 3]]).all()


def test_grazing_and_off_centre_box():
    box = torch.tensor([0.0, 0.0, 0.0, 2.0, 1.0, 1.0])
    origins = torch.tensor([[1.0, 0.5, 3.0], [5.0, 0.5, 0.5], [1.0, 1.5, 3.0]])
    directions = torch.tensor([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    t_near, t_far, hit = ray_aabb(origins, directions, box)
    assert hit.tolist() == [True, True, False]
    assert torch.allclose(t_near[:2], torch.tensor([2.0, 3.0]))
    assert torch.allclose(t_far[:2], torch.tensor([3.0, 5.0]))


def test_random_rays_points_lie_on_box_surface():
    gen = torch.Generator().manual_seed(0)
    origins = torch.randn(256, 3, generator=gen) * 3
    directions = torch.nn.functional.normalize(torch.randn(256, 3, generator=gen), dim=-1)
    t_near, t_far, hit = ray_aabb_torch(origins, directions, BOX)
    for t in (t_near[hit], t_far[hit]):
        p = origins[hit] + t[:, None] * directions[hit]
        assert torch.allclose(p.abs().amax(dim=-1), torch.ones(int(hit.sum())), atol=1e-4)
    mid = origins[hit] + 0.5 * (t_near[hit] + t_far[hit])[:, None] * directions[hit]
    assert (mid.abs() <= 1 + 1e-4).all()
    # a missed ray's closest points along a dense sweep never enter the box
    ts = torch.linspace(0, 12, 2000)
    pts = origins[~hit][:, None] + ts[None, :, None] * directions[~hit][:, None]
    assert not (pts.abs().amax(dim=-1) < 0.999).any()
