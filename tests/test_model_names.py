"""Model names: teacher, pair and ablation variant parse and print one way; malformed names are named."""

from __future__ import annotations

import pytest

from pvd.errors import UserError
from pvd.names import ModelName
from pvd.train.distill import pair_name


@pytest.mark.parametrize(
    "text, teacher, student, variant",
    [
        ("hash", "hash", "", ""),
        ("tensors", "tensors", "", ""),
        ("hash2vm", "hash", "vm", ""),
        ("vm2tensors@l1", "vm", "tensors", "l1"),
        ("mlp2hash@no-active_2", "mlp", "hash", "no-active_2"),
        ("edited", "edited", "", ""),
        ("edited2mlp", "edited", "mlp", ""),
    ],
)
def test_names_round_trip(text, teacher, student, variant):
    name = ModelName.parse(text)
    assert (name.teacher, name.student, name.variant) == (teacher, student, variant)
    assert str(name) == text
    assert name.is_teacher == (student == "")
    assert name.arch == (student or teacher)
    assert str(name.pair) == text.partition("@")[0]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is not '{teacher}'"),
        ("hash2", "is not '{teacher}'"),
        ("2vm", "is not '{teacher}'"),
        ("hash2vm2mlp", "is not '{teacher}'"),
        ("hash@l1", "is not '{teacher}'"),
        ("hash2vm@", "is not '{teacher}'"),
        ("nerf", "teacher 'nerf' is not one of"),
        ("hash2nerf", "student 'nerf' is not one of"),
        ("hash2edited", "student 'edited' is not one of"),
        ("hash2vm@a b", "a variant names an ablation"),
        ("hash2vm@l1@l2", "a variant names an ablation"),
    ],
)
def test_malformed_names_are_one_clear_error(text, message):
    with pytest.raises(UserError, match=f"model name {text!r}") as err:
        ModelName.parse(text)
    assert message in str(err.value)


def test_names_from_parts():
    assert ModelName.of("vm") == ModelName("vm") and ModelName.of("vm", "hash") == ModelName.parse("hash2vm")
    assert ModelName.parse("hash2vm").with_variant("l1") == ModelName.parse("hash2vm@l1")
    assert pair_name("hash", "vm") == "hash2vm"
    with pytest.raises(UserError, match="student 'nerf'"):
        pair_name("hash", "nerf")
