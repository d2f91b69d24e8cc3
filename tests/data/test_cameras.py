import math

import pytest
import torch

from pvd.data.cameras import NGP_ROTATION, Cameras, Normalization, image_rays, pixel_rays, sample_pixels


def _camera(c2w):
    one = torch.ones(1)
    return Cameras(c2w[None], one * 50.0, one * 50.0, one * 32.0, one * 24.0, 64, 48)


def test_centre_ray_looks_down_minus_z_in_camera_frame():
    cams = _camera(torch.eye(4))
    rays = pixel_rays(
        cams, torch.zeros(1, dtype=torch.long), torch.tensor([32.0]), torch.tensor([24.0]), Normalization()
    )
    torch.testing.assert_close(rays.directions, torch.tensor([[0.0, 0.0, -1.0]]))


def test_image_rays_are_unit_row_major_and_normalised_into_box():
    c2w = torch.eye(4)
    c2w[:3, 3] = torch.tensor([1.0, 2.0, 3.0])
    cams = _camera(c2w)
    norm = Normalization(bound=1.0, scale=0.5, offset=(0.1, 0.0, 0.0))
    rays = image_rays(cams, 0, norm)
    assert rays.origins.shape == (64 * 48, 3)
    torch.testing.assert_close(rays.directions.norm(dim=-1), torch.ones(64 * 48))
    torch.testing.assert_close(rays.origins[0], torch.tensor([0.6, 1.0, 1.5]))
    # first row is the top of the image: +y in camera space
    assert rays.directions[0, 1] > 0 and rays.directions[-1, 1] < 0
    # pixel (0,0) centre at u=0.5: x direction component = (0.5-32)/50 before normalisation
    d = rays.directions[0]
    assert math.isclose(float(d[0] / -d[2]), (0.5 - 32) / 50, rel_tol=1e-5)


def test_scaled_intrinsics_and_pixel_sampler():
    cams = _camera(torch.eye(4)).scaled(0.5)
    assert (cams.width, cams.height) == (32, 24)
    assert float(cams.fx[0]) == 25.0 and float(cams.cx[0]) == 16.0
    g = torch.Generator().manual_seed(0)
    batch = sample_pixels(3, 32, 24, 100, g, jitter=True)
    assert batch.view.max() < 3 and batch.col.max() < 32 and batch.row.max() < 24
    assert ((batch.u - batch.col) >= 0).all() and ((batch.u - batch.col) < 1).all()


def test_cameras_plain_data_round_trip_and_cat():
    g = torch.Generator().manual_seed(0)
    a = Cameras(
        torch.rand(2, 4, 4, generator=g),
        torch.rand(2, generator=g),
        torch.rand(2, generator=g),
        torch.rand(2, generator=g),
        torch.rand(2, generator=g),
        8,
        6,
    )
    b = Cameras.from_dict(a.to_dict())
    for key in ("c2w", "fx", "fy", "cx", "cy"):
        torch.testing.assert_close(getattr(b, key), getattr(a, key), rtol=0, atol=0)
    both = Cameras.cat([a, b[1]])
    assert len(both) == 3 and torch.equal(both.c2w[2], a.c2w[1]) and (both.width, both.height) == (8, 6)
    with pytest.raises(ValueError, match="image size"):
        Cameras.cat([a, Cameras(a.c2w, a.fx, a.fy, a.cx, a.cy, 4, 4)])


def test_rotation_maps_points_and_directions_alike_and_inverts():
    norm = Normalization(bound=1.0, scale=0.8, offset=(0.1, -0.2, 0.0), rotation=NGP_ROTATION)
    p = torch.tensor([[1.0, 2.0, 3.0], [-0.5, 0.25, 0.75]])
    box = norm.to_box(p)
    # torch-ngp's frame: (x, y, z)_box = scale * (y, z, x)_world + offset
    expected = 0.8 * p[:, [1, 2, 0]] + torch.tensor([0.1, -0.2, 0.0])
    torch.testing.assert_close(box, expected)
    torch.testing.assert_close(norm.to_world(box), p)
    torch.testing.assert_close(norm.to_box_dir(p), p[:, [1, 2, 0]])
    # a ray through a world point passes through that point's box image
    c2w = torch.eye(4)
    c2w[:3, 3] = torch.tensor([0.3, -1.0, 2.0])
    cams = _camera(c2w)
    rays = pixel_rays(cams, torch.tensor([0]), torch.tensor([10.3]), torch.tensor([20.7]), norm)
    plain = pixel_rays(cams, torch.tensor([0]), torch.tensor([10.3]), torch.tensor([20.7]), Normalization(scale=0.8))
    world_point = plain.origins / 0.8 + 2.5 * plain.directions
    box_point = norm.to_box(world_point)
    t = ((box_point - rays.origins) * rays.directions).sum(-1, keepdim=True)
    torch.testing.assert_close(rays.origins + t * rays.directions, box_point, atol=1e-5, rtol=0)


def test_rotation_is_stored_and_old_dicts_load_as_identity():
    norm = Normalization(2.0, 0.33, (0.0, 0.0, 0.0), NGP_ROTATION)
    assert Normalization.from_dict(norm.to_dict()) == norm
    old = {"bound": 1.0, "scale": 0.8, "offset": [0.0, 0.0, 0.0]}
    assert Normalization.from_dict(old) == Normalization(1.0, 0.8) and not Normalization.from_dict(old).rotated
    with pytest.raises(ValueError, match="rotation matrix"):
        Normalization(rotation=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, -1.0)))


def test_rotated_by_composes_with_the_offset():
    norm = Normalization(1.0, 0.5, (0.1, 0.2, 0.3)).rotated_by(NGP_ROTATION)
    assert norm.rotation == NGP_ROTATION and norm.offset == pytest.approx((0.2, 0.3, 0.1))
    p = torch.tensor([[1.0, -2.0, 0.5]])
    torch.testing.assert_close(norm.to_box(p), (0.5 * p + torch.tensor([0.1, 0.2, 0.3]))[:, [1, 2, 0]])
