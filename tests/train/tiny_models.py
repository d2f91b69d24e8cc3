"""Small models for the distillation-loop tests: a tiny-preset field of any architecture on a coarse
renderer, built directly from its metadata (no training)."""

from __future__ import annotations

from dataclasses import replace

from pvd.model import ModelMeta, build_model
from pvd.presets import field_config
from pvd.render import RenderConfig

RENDER = RenderConfig(max_steps=64, grid_resolution=16)


def tiny_model(key, norm, kind="teacher", render=RENDER, **field_overrides):
    """An untrained ``key`` model of the tiny preset in the box of ``norm`` (field config values
    replaced by ``field_overrides``)."""
    cfg = replace(field_config(key, "tiny"), **field_overrides)
    meta = ModelMeta(
        model_type=key,
        preset="tiny",
        field_config=cfg,
        render_config=render,
        bound=norm.bound,
        normalization=norm,
        kind=kind,
    )
    return build_model(meta)
