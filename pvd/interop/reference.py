"""The reference's checkpoint files (docs/method.md): what they hold, read with every entry checked.

A reference ``.pth`` is a dict: ``model`` (the state dict), ``epoch``, ``global_step``, ``stats``,
``mean_count``, ``mean_density``; ``vm`` adds ``resolution``. :func:`expected_entries` lists the
state-dict entries (name -> shape) the reference's architecture has for a field config, bound and
occupancy grid; :func:`read_reference` loads a file and checks every one of them, naming the file,
the first missing or misshapen entry and the architecture it expected.

Names of the reference (torch-ngp lineage) and their pvd counterparts:

    hash     encoder.embeddings [E, 2], encoder.offsets [15] int32      -> table
    mlp      nerf_mlp.{i}.weight/.bias                                   -> trunk.{i}
    vm       sigma_mat.{p} [1, r, R, R], sigma_vec.{p} [1, r, R, 1]      -> density_planes / _lines [3, ...]
             color_mat.{p}, color_vec.{p}, basis_mat.weight              -> appearance_*, basis.weight
    tensors  tensor_volume.0 [1, 28, D, H, W] (axes z, y, x)             -> grid [R^3, 28]
    heads    sigma_net.{i}.weight, color_net.{i}.weight  -> sigma_net.layers.{i}, color_net.mlp.layers.{i}
    grid     aabb_train, aabb_infer [6], density_grid [C, R^3] (Morton),
             density_bitfield [C R^3 / 8] uint8, step_counter [16, 2] int32
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pvd.errors import SpecError, UserError
from pvd.records import atomic_path

ARCH_SIGNATURES = {
    "hash": "encoder.embeddings",
    "mlp": "nerf_mlp.0.weight",
    "vm": "sigma_mat.0",
    "tensors": "tensor_volume.0",
}
"""One entry that only the state dicts of that architecture hold."""

GRID_ENTRIES = ("aabb_train", "aabb_infer", "density_grid", "density_bitfield", "step_counter")


class ReferenceFormatError(UserError):
    """A reference checkpoint is missing, truncated, of another architecture or misshapen."""


class ReferenceMismatch(ReferenceFormatError, SpecError):
    """A reference checkpoint does not fit an option given for it (``model_type``, ``bound``): a
    :class:`ReferenceFormatError` that names the option's field (the CLI shows its flag)."""


@dataclass(frozen=True)
class ReferenceFile:
    """A loaded reference checkpoint.

    Attributes:
        path: the file.
        model: its state dict (name -> tensor).
        extras: the top-level entries besides ``model`` (epoch, global_step, stats, mean_count,
            mean_density, resolution).
    """

    path: Path
    model: dict
    extras: dict

    @property
    def bound(self) -> float:
        """Half-size of the box, from ``aabb_train``."""
        return float(self.model["aabb_train"][3])

    @property
    def global_step(self) -> int:
        return int(self.extras.get("global_step") or 0)

    def field_resolution(self, arch: str) -> int | None:
        """The grid resolution of a vm (``resolution`` entry) or tensors (volume shape) file when it is
        the same along every axis; None for other architectures or anisotropic grids."""
        if arch == "vm" and self.extras.get("resolution") is not None:
            res = [int(v) for v in self.extras["resolution"]]
        elif (
            arch == "tensors"
            and isinstance(self.model.get("tensor_volume.0"), Tensor)
            and self.model["tensor_volume.0"].dim() == 5
        ):
            res = list(self.model["tensor_volume.0"].shape[2:])
        else:
            return None
        if len(set(res)) != 1:
            raise ReferenceFormatError(
                f"reference checkpoint {self.path}: {arch} grid resolution {res} is not "
                f"the same along every axis; pvd's {arch} field is cubic"
            )
        return res[0]


def head_entries(sigma: tuple[int, ...] | None, color: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """``sigma_net`` (widths in -> hidden -> 16, or None for vm) and ``color_net`` (31 -> h -> h -> 3)."""
    out = {}
    for name, widths in (("sigma_net", sigma), ("color_net", color)):
        if widths is not None:
            out.update({f"{name}.{i}.weight": (b, a) for i, (a, b) in enumerate(pairwise(widths))})
    return out


def field_entries(arch: str, config, offsets: tuple[int, ...] | None = None) -> dict[str, tuple[int, ...]]:
    """State-dict entries (name -> shape) of the reference's field ``arch`` sized by ``config`` (a
    pvd field config); ``offsets`` are the hash grid's row offsets."""
    if arch == "hash":
        enc = config.n_levels * config.n_features
        return {
            "encoder.embeddings": (offsets[-1], config.n_features),
            "encoder.offsets": (len(offsets),),
            **head_entries((enc, config.sigma_hidden, 16), (31, config.color_hidden, config.color_hidden, 3)),
        }
    if arch == "mlp":
        enc = 3 * (2 * config.n_octaves + 1)
        out = {}
        for i in range(config.n_layers):
            a = enc if i == 0 else config.width + (enc if i == config.skip + 1 else 0)
            b = config.out_dim if i == config.n_layers - 1 else config.width
            out.update({f"nerf_mlp.{i}.weight": (b, a), f"nerf_mlp.{i}.bias": (b,)})
        return {
            **out,
            **head_entries(
                (config.out_dim, config.sigma_hidden, 16), (31, config.color_hidden, config.color_hidden, 3)
            ),
        }
    if arch == "vm":
        r = config.resolution
        out = {}
        for kind, rank in (("sigma", config.density_rank), ("color", config.appearance_rank)):
            for p in range(3):
                out[f"{kind}_mat.{p}"] = (1, rank, r, r)
                out[f"{kind}_vec.{p}"] = (1, rank, r, 1)
        out["basis_mat.weight"] = (15, 3 * config.appearance_rank)
        return {**out, **head_entries(None, (31, config.color_hidden, config.color_hidden, 3))}
    if arch == "tensors":
        r = config.resolution
        return {"tensor_volume.0": (1, 28, r, r, r)}
    raise ValueError(f"unknown architecture {arch!r}")


def grid_entries(cascades: int, resolution: int) -> dict[str, tuple[int, ...]]:
    """The renderer's buffers in every reference state dict."""
    n = cascades * resolution**3
    return {
        "aabb_train": (6,),
        "aabb_infer": (6,),
        "density_grid": (cascades, resolution**3),
        "density_bitfield": (n // 8,),
        "step_counter": (16, 2),
    }


def _load(path: Path) -> dict:
    """``torch.load`` of plain data, numpy scalars in ``stats`` allowed; errors name the file."""
    if not path.is_file():
        raise ReferenceFormatError(f"reference checkpoint {path} does not exist")
    allowed = [np.dtype, type(np.dtype(np.float64)), type(np.dtype(np.float32)), type(np.dtype(np.int64))]
    scalar = (np._core if hasattr(np, "_core") else np.core).multiarray.scalar
    try:
        with torch.serialization.safe_globals(allowed + [scalar]):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ReferenceFormatError(
            f"reference checkpoint {path} is truncated or not a torch checkpoint ({type(exc).__name__}: {first[:200]})"
        ) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("model"), dict):
        raise ReferenceFormatError(
            f"reference checkpoint {path} has no 'model' state dict: not a file of the "
            f"reference code (a pvd checkpoint is used as it is, as a run's checkpoint, not imported)"
        )
    return payload


def detect_arch(model: dict) -> list[str]:
    """Architectures whose signature entry the state dict holds."""
    return [arch for arch, name in ARCH_SIGNATURES.items() if name in model]


def check_entries(path: Path, model: dict, expected: dict[str, tuple[int, ...]], arch: str) -> None:
    """Every expected entry present with its shape; the first failure is the error."""
    for name, shape in expected.items():
        if name not in model:
            raise ReferenceFormatError(
                f"reference checkpoint {path}: entry model[{name!r}] is missing; the "
                f"reference's {arch} architecture has it with shape {list(shape)}"
            )
        value = model[name]
        if not isinstance(value, Tensor) or tuple(value.shape) != tuple(shape):
            found = list(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ReferenceFormatError(
                f"reference checkpoint {path}: entry model[{name!r}] has shape {found}; "
                f"the reference's {arch} architecture has {list(shape)}"
            )


def read_reference(path: str | Path, arch: str) -> ReferenceFile:
    """Load a reference checkpoint of architecture ``arch`` (another one: a :class:`ReferenceMismatch`
    naming ``model_type``) and check its renderer entries; the field's entries are checked by
    :func:`check_entries` once the config is known."""
    path = Path(path)
    payload = _load(path)
    model = payload["model"]
    found = detect_arch(model)
    if arch not in found:
        what = f"a {found[0]} model ({ARCH_SIGNATURES[found[0]]!r})" if found else "no model the reference builds"
        raise ReferenceMismatch(
            "model_type",
            f"{arch} does not match reference checkpoint {path}, which holds {what} "
            f"(a {arch} model has the entry {ARCH_SIGNATURES[arch]!r})",
        )
    for name in ("aabb_train", "density_grid"):
        if not isinstance(model.get(name), Tensor):
            raise ReferenceFormatError(
                f"reference checkpoint {path}: entry model[{name!r}] is missing; every reference model has it"
            )
    aabb = model["aabb_train"].double().reshape(-1)
    if (
        aabb.numel() != 6
        or not torch.allclose(aabb[:3], -aabb[3:])
        or not aabb[3] > 0
        or not torch.allclose(aabb[3:], aabb[3:].mean().expand(3))
    ):
        raise ReferenceFormatError(
            f"reference checkpoint {path}: aabb_train {aabb.tolist()} is not a centred cube [-b, -b, -b, b, b, b]"
        )
    extras = {k: v for k, v in payload.items() if k != "model"}
    return ReferenceFile(path, model, extras)


def write_reference(path: str | Path, model: dict, extras: dict) -> None:
    """Write a reference checkpoint (``model`` state dict plus top-level ``extras``) atomically."""
    with atomic_path(path) as tmp:
        torch.save({"model": model, **extras}, tmp)
