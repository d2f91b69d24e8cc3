"""The registry: keys, presets, overrides, and clear errors for everything a user can get wrong."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from pvd.errors import UserError
from pvd.fields import ARCHS, FIELDS
from pvd.presets import PRESETS, build_field, field_config


def test_registry_keys_and_presets():
    assert ARCHS == ("hash", "vm", "mlp", "tensors", "gs") and set(FIELDS) == {*ARCHS, "edited"}
    for key, cls in FIELDS.items():
        assert cls.key == key
    for key in ARCHS:
        assert set(PRESETS) == {"tiny", "paper"} and all(key in PRESETS[p] for p in PRESETS)
        for preset in ("tiny", "paper"):
            config = field_config(key, preset)
            assert dataclasses.is_dataclass(config)
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(config, dataclasses.fields(config)[0].name, 1)


def test_unknown_key_names_the_valid_ones():
    with pytest.raises(UserError, match="'ngp'.*hash, vm, mlp, tensors, gs"):
        build_field("ngp", "tiny", 1.0)


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(UserError, match="'huge'") as err:
        field_config("vm", "huge")
    assert "tiny" in str(err.value) and "paper" in str(err.value)


def test_unknown_override_names_the_valid_ones():
    with pytest.raises(UserError, match="resolutoin.*resolution"):
        build_field("tensors", "tiny", 1.0, resolutoin=32)


@pytest.mark.parametrize(
    "key, override",
    [
        ("hash", {"n_levels": 0}),
        ("vm", {"resolution": 1}),
        ("mlp", {"skip": 6}),
        ("tensors", {"init_scale": -1.0}),
        ("hash", {"finest_resolution": 8.0}),
    ],
)
def test_invalid_config_values(key, override):
    name = next(iter(override))
    with pytest.raises(UserError, match=f"{key} field config: {name}"):
        build_field(key, "tiny", 1.0, **override)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"bound": 0.0}, "bound"),
        ({"bound": 1.0, "density_range": (3.0, -1.0)}, "density_range"),
        ({"bound": 1.0, "density_range": (1.0,)}, "density_range"),
    ],
)
def test_invalid_bound_and_density_range(kwargs, match):
    with pytest.raises(UserError, match=match):
        build_field("mlp", "tiny", **kwargs)


def test_overrides_and_config_round_trip_through_json():
    field = build_field("vm", "tiny", 1.5, density_range=(-1.0, 5.0), resolution=24, density_rank=4)
    assert field.config.resolution == 24 and field.config.density_rank == 4
    assert field.bound == 1.5 and field.density_range == (-1.0, 5.0)
    # tiny vm: resolution is per unit of bound (24 * 1.5 = 36 points over the box)
    assert field.config.per_bound and field.density_planes.shape == (3, 4, 36, 36)
    assert build_field("vm", "paper", 2.0, resolution=24).density_planes.shape[-1] == 24
    saved = json.loads(json.dumps(dataclasses.asdict(field.config)))
    rebuilt = build_field("vm", "tiny", 1.5, (-1.0, 5.0), **saved)
    assert rebuilt.config == field.config
    rebuilt.load_state_dict(field.state_dict())
    x = torch.rand(32, 3) * 3 - 1.5
    d = torch.nn.functional.normalize(torch.randn(32, 3), dim=1)
    assert torch.equal(rebuilt(x, d).rgb, field(x, d).rgb)


def test_hash_finest_resolution_scales_with_bound():
    small = build_field("hash", "tiny", 1.0)
    large = build_field("hash", "tiny", 2.0)
    finest = field_config("hash", "tiny").finest_resolution
    assert small.layout.resolutions[-1] == pytest.approx(finest, abs=1)
    assert large.layout.resolutions[-1] == pytest.approx(2 * finest, abs=1)
