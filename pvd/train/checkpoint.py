"""Self-describing checkpoints: a field, its occupancy grid and everything needed to render it.

A checkpoint file is a ``torch.save`` dict with

* ``format``: ``"pvd-checkpoint/1"``;
* ``meta``: plain data describing the model — ``model_type``, ``preset``, ``field_config`` (dict),
  ``density_range``, ``bound``, ``normalization`` (dict), ``render_config`` (dict), ``data_type``,
  ``scene_dir``, ``downscale``, ``image_width``, ``image_height``, ``kind`` (``teacher``/``student``),
  ``teacher_type`` (students), ``cameras`` (the training cameras: ``c2w`` [n,4,4] list, ``fx``, ``fy``,
  ``cx``, ``cy``, ``width``, ``height``) and ``step``;
* ``field`` and ``grid``: state dicts;
* ``train_state`` (optional): optimiser/scheduler/RNG state for ``--resume``.

Files are written atomically; loading checks the format and names the file in every error.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import asdict, dataclass, fields as dc_fields
from pathlib import Path

import torch

from pvd.data.cameras import Cameras, Normalization
from pvd.errors import UserError
from pvd.fields import FIELDS, field_config
from pvd.fields.base import Field
from pvd.records import atomic_path
from pvd.render import OccupancyGrid, RenderConfig, Renderer

FORMAT = "pvd-checkpoint/1"


class CheckpointError(UserError):
    """A checkpoint file is missing, truncated, foreign or inconsistent."""


@dataclass
class Model:
    """Everything needed to render a trained field.

    Attributes:
        field: the radiance field.
        grid: its occupancy grid.
        renderer: renderer over ``field`` and ``grid``.
        normalization: dataset world -> renderer box map.
        meta: the checkpoint's plain-data description (see module doc).
    """

    field: Field
    grid: OccupancyGrid
    renderer: Renderer
    normalization: Normalization
    meta: dict

    @property
    def model_type(self) -> str:
        return self.meta["model_type"]

    def to(self, device) -> "Model":
        self.field.to(device)
        self.grid.to(device)
        return self


def cameras_to_meta(cameras: Cameras) -> dict:
    """Plain-data form of cameras for the checkpoint meta."""
    return {"c2w": cameras.c2w.tolist(), "fx": cameras.fx.tolist(), "fy": cameras.fy.tolist(),
            "cx": cameras.cx.tolist(), "cy": cameras.cy.tolist(),
            "width": cameras.width, "height": cameras.height}


def cameras_from_meta(d: dict) -> Cameras:
    """Inverse of :func:`cameras_to_meta`."""
    t = lambda k: torch.tensor(d[k], dtype=torch.float32)  # noqa: E731
    return Cameras(t("c2w"), t("fx"), t("fy"), t("cx"), t("cy"), int(d["width"]), int(d["height"]))


def config_from_dict(cls, values: dict, where: str):
    """Rebuild a frozen config dataclass, rejecting unknown keys (names them)."""
    known = {f.name for f in dc_fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise CheckpointError(f"{where}: unknown {cls.__name__} keys {unknown}; known: {sorted(known)}")
    converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**converted)


def build_model(meta: dict, device: str | torch.device = "cpu", where: str = "config") -> Model:
    """Construct an untrained model (field + grid + renderer) from a meta dict."""
    key = meta["model_type"]
    if key not in FIELDS:
        raise CheckpointError(f"{where}: unknown model_type {key!r}; expected one of {sorted(FIELDS)}")
    cfg_cls = type(field_config(key, meta["preset"]))
    cfg = config_from_dict(cfg_cls, meta["field_config"], where)
    field = FIELDS[key](cfg, float(meta["bound"]), tuple(meta["density_range"]))
    render_cfg = config_from_dict(RenderConfig, meta["render_config"], where)
    grid = OccupancyGrid(float(meta["bound"]), render_cfg.grid_resolution)
    model = Model(field, grid, Renderer(field, grid, render_cfg),
                  Normalization.from_dict(meta["normalization"]), meta)
    return model.to(device)


def describe(model_type: str, preset: str, field_cfg, render_cfg: RenderConfig, bound: float,
             density_range: tuple[float, float], normalization: Normalization, **extra) -> dict:
    """The meta dict for a new model."""
    return {"model_type": model_type, "preset": preset, "field_config": asdict(field_cfg),
            "bound": float(bound), "density_range": list(density_range),
            "normalization": normalization.to_dict(), "render_config": asdict(render_cfg), **extra}


def save_checkpoint(path: str | Path, model: Model, train_state: dict | None = None) -> None:
    """Atomically write ``model`` (and optional resume state) to ``path``."""
    payload = {"format": FORMAT, "meta": model.meta,
               "field": {k: v.detach().cpu() for k, v in model.field.state_dict().items()},
               "grid": {k: v.detach().cpu() for k, v in model.grid.state_dict().items()}}
    if train_state is not None:
        payload["train_state"] = train_state
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | Path) -> dict:
    """Load and validate the raw checkpoint dict; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is truncated or not a pvd checkpoint "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"checkpoint {path} is not a pvd checkpoint: format {found!r}, expected {FORMAT!r}")
    for key in ("meta", "field", "grid"):
        if key not in payload:
            raise CheckpointError(f"checkpoint {path} lacks its {key!r} entry")
    return payload


def load_model(path: str | Path, device: str | torch.device = "cpu") -> Model:
    """Rebuild the model stored at ``path`` on ``device``."""
    payload = read_checkpoint(path)
    model = build_model(payload["meta"], "cpu", where=f"checkpoint {path}")
    try:
        model.field.load_state_dict(payload["field"])
        model.grid.load_state_dict(payload["grid"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path}: stored tensors do not fit the described "
                              f"{payload['meta']['model_type']} model: {str(exc).splitlines()[0]}") from None
    return model.to(device)
