"""ModelMeta: typed, versioned, round-trips through plain data; foreign or newer layouts are clear errors."""

from __future__ import annotations

import pytest
import torch

from pvd.data.cameras import Cameras, Normalization
from pvd.model import META_VERSION, CheckpointError, ModelMeta, build_model, load_model, save_checkpoint
from pvd.presets import field_config, render_config


def _meta(**extra) -> ModelMeta:
    c2w = torch.eye(4).repeat(2, 1, 1)
    cams = Cameras(
        c2w, torch.full((2,), 20.0), torch.full((2,), 20.0), torch.full((2,), 8.0), torch.full((2,), 6.0), 16, 12
    )
    return ModelMeta(
        model_type="vm",
        preset="tiny",
        field_config=field_config("vm", "tiny"),
        render_config=render_config("tiny", 0.003),
        bound=2.0,
        density_range=(-2.0, 7.0),
        normalization=Normalization(2.0, 0.33, (0.1, 0.0, -0.2)),
        kind="student",
        teacher_type="hash",
        data_type="llff",
        downscale=8,
        cameras=cams,
        near=0.5,
        far=9.0,
        train_config={"iters": 5, "ckpt_every": 2},
        step=5,
        **extra,
    )


def test_round_trip_through_plain_data():
    meta = _meta()
    d = meta.to_dict()
    assert d["version"] == META_VERSION and d["field_config"]["resolution"] == 96
    assert d["cameras"]["width"] == 16 and "teacher_checkpoint" not in d  # None entries left out
    back = ModelMeta.from_dict(d)
    assert back.to_dict() == d
    assert back.field_config == meta.field_config and back.render_config == meta.render_config
    assert torch.equal(back.cameras.c2w, meta.cameras.c2w)


def test_a_checkpoint_without_version_reads_as_the_current_layout(tmp_path):
    torch.manual_seed(0)
    model = build_model(_meta())
    save_checkpoint(tmp_path / "c.pt", model)
    payload = torch.load(tmp_path / "c.pt", weights_only=True)
    del payload["meta"]["version"]
    torch.save(payload, tmp_path / "old.pt")
    assert load_model(tmp_path / "old.pt").meta.to_dict() == model.meta.to_dict()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(version=2), "meta version 2 is not supported"),
        (lambda d: d.update(colour_space="srgb"), "unknown meta keys \\['colour_space'\\]"),
        (lambda d: d.pop("render_config"), "meta lacks \\['render_config'\\]"),
        (lambda d: d.update(model_type="ngp"), "unknown model_type 'ngp'"),
        (lambda d: d["field_config"].update(resolutoin=3), "unknown VMConfig keys \\['resolutoin'\\]"),
        (lambda d: d.update(kind="pupil"), "kind 'pupil'"),
    ],
)
def test_foreign_or_newer_meta_is_a_clear_error(tmp_path, edit, message):
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "c.pt", build_model(_meta()))
    payload = torch.load(tmp_path / "c.pt", weights_only=True)
    edit(payload["meta"])
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=message) as err:
        load_model(tmp_path / "bad.pt")
    assert "bad.pt" in str(err.value)


def test_identity_ignores_the_checkpoint_interval_only():
    meta = _meta()
    other_interval = ModelMeta.from_dict({**meta.to_dict(), "train_config": {"iters": 5, "ckpt_every": 7}})
    assert other_interval.identity() == meta.identity()
    other_iters = ModelMeta.from_dict({**meta.to_dict(), "train_config": {"iters": 6, "ckpt_every": 2}})
    assert other_iters.identity() != meta.identity()
