"""Reference checkpoints <-> pvd models (docs/method.md): parameters, occupancy grid and scene frame.

:func:`import_reference` turns a :class:`~pvd.interop.reference.ReferenceFile` into a :class:`Model`
described by a caller-made :class:`ModelMeta` (the command layer picks the preset's config, the
scene and its normalisation, whose rotation must be torch-ngp's frame); :func:`export_reference`
is the inverse for models whose field config is the reference's architecture.

Parameter maps (reference -> pvd; all copies, no arithmetic):

* hash: ``encoder.embeddings`` -> ``table`` (row offsets must agree);
* mlp: ``nerf_mlp.{i}`` -> ``trunk.{i}`` (needs ``skip_input_first``: the skip layer's columns
  are [encoding, hidden] in both);
* vm: ``{sigma,color}_{mat,vec}.{p}`` [1, r, ...] -> ``{density,appearance}_{planes,lines}`` [3, r, ...];
* tensors: ``tensor_volume.0`` [1, 28, z, y, x] -> ``grid`` [(z R + y) R + x, 28];
* heads: ``sigma_net.{i}`` -> ``sigma_net.layers.{i}``, ``color_net.{i}`` -> ``color_net.mlp.layers.{i}``.

Occupancy grid: ``density_grid`` (Morton order; -1 marks cells no training camera sees) ->
``density`` (unseen cells 0) and ``seen``; ``density_bitfield`` -> ``occupancy``; the file's
``mean_density`` -> ``mean_density``; ``global_step // 16`` -> ``n_updates`` (one update every 16 steps).
"""

from __future__ import annotations

import torch
from torch import Tensor

from pvd.data.cameras import NGP_ROTATION
from pvd.interop.morton import from_morton, pack_bits, to_morton, unpack_bits
from pvd.interop.reference import (
    ReferenceFile,
    ReferenceFormatError,
    ReferenceMismatch,
    check_entries,
    field_entries,
    grid_entries,
)
from pvd.model import Model, ModelMeta, build_model

REFERENCE_DENSITY_RANGE = (-2.0, 7.0)
UPDATE_EVERY = 16


def _heads(prefix_ours: str, prefix_ref: str, n: int) -> list[tuple[str, str]]:
    return [(f"{prefix_ours}.{i}.weight", f"{prefix_ref}.{i}.weight") for i in range(n)]


def name_pairs(arch: str, config) -> list[tuple[str, str]]:
    """(pvd name, reference name) of every parameter copied as is (vm's stacked factors aside)."""
    color = _heads("color_net.mlp.layers", "color_net", 3)
    if arch == "hash":
        return [("table", "encoder.embeddings")] + _heads("sigma_net.layers", "sigma_net", 2) + color
    if arch == "mlp":
        trunk = [(f"trunk.{i}.{k}", f"nerf_mlp.{i}.{k}") for i in range(config.n_layers) for k in ("weight", "bias")]
        return trunk + _heads("sigma_net.layers", "sigma_net", 2) + color
    if arch == "vm":
        return [("basis.weight", "basis_mat.weight")] + color
    return []


VM_STACKS = {
    "density_planes": "sigma_mat",
    "density_lines": "sigma_vec",
    "appearance_planes": "color_mat",
    "appearance_lines": "color_vec",
}


def used_entries(model: Model) -> set[str]:
    """Reference entry names the conversion of ``model`` reads."""
    offsets = getattr(model.field, "layout", None)
    return set(
        field_entries(model.model_type, model.meta.field_config, offsets.offsets if offsets is not None else None)
    ) | set(grid_entries(model.grid.cascades, model.grid.resolution))


def unused_entries(ref: ReferenceFile, model: Model) -> list[str]:
    """State-dict entries of ``ref`` that the conversion into ``model`` does not read."""
    return sorted(set(ref.model) - used_entries(model))


def check_reference_config(arch: str, config, where: str) -> None:
    """The pvd options whose reference value is needed for a parameter-for-parameter copy."""
    wrong = []
    if arch == "hash":
        want = {
            "resolution_rounding": "ceil",
            "row_multiple": 8,
            "vertex_offset": 0.5,
            "outside": "zero",
            "n_features": 2,
            "sigma_hidden": 64,
            "color_hidden": 64,
        }
        wrong = [f"{k}={getattr(config, k)!r} (reference: {v!r})" for k, v in want.items() if getattr(config, k) != v]
    elif arch == "mlp":
        want = {
            "skip_input_first": True,
            "divide_by_bound": False,
            "out_dim": 28,
            "color_hidden": 64,
            "sigma_hidden": 64,
        }
        wrong = [f"{k}={getattr(config, k)!r} (reference: {v!r})" for k, v in want.items() if getattr(config, k) != v]
    elif arch == "vm" and config.color_hidden != 64:
        wrong = [f"color_hidden={config.color_hidden} (reference: 64)"]
    if wrong:
        raise ReferenceFormatError(
            f"{where}: the {arch} field config differs from the reference architecture: "
            f"{', '.join(wrong)}; only the paper preset matches it"
        )


def field_state(ref: ReferenceFile, arch: str, config) -> dict[str, Tensor]:
    """The pvd field's state dict from the reference's (float32 copies)."""
    m = ref.model
    state = {ours: m[theirs].float().clone() for ours, theirs in name_pairs(arch, config)}
    if arch == "vm":
        for ours, theirs in VM_STACKS.items():
            state[ours] = torch.cat([m[f"{theirs}.{p}"].float() for p in range(3)], dim=0)
    elif arch == "tensors":
        vol = m["tensor_volume.0"].float()[0]  # [28, z, y, x]
        state["grid"] = vol.permute(1, 2, 3, 0).reshape(-1, vol.shape[0]).contiguous()
    return state


def import_reference(ref: ReferenceFile, meta: ModelMeta) -> Model:
    """Build the model ``meta`` describes and fill it from ``ref`` (names and shapes all checked).

    Raises:
        ReferenceFormatError: a missing or misshapen entry, other hash row offsets, a grid that
            does not fit ``meta``, a normalisation outside torch-ngp's frame; a
            :class:`ReferenceMismatch` naming ``bound`` for a box of another bound.
    """
    where = f"reference checkpoint {ref.path}"
    arch, config = meta.model_type, meta.field_config
    check_reference_config(arch, config, where)
    if meta.normalization.rotation != NGP_ROTATION:
        raise ReferenceFormatError(
            f"{where}: the reference's fields live in torch-ngp's frame; the scene "
            f"normalisation must carry its rotation (NGP_ROTATION)"
        )
    if abs(ref.bound - meta.bound) > 1e-6 * max(1.0, meta.bound):
        raise ReferenceMismatch(
            "bound", f"{meta.bound:g} does not match {where}, whose box has bound {ref.bound:g} (aabb_train)"
        )
    model = build_model(meta, "cpu")
    grid = model.grid
    offsets = getattr(model.field, "layout", None)
    expected = {
        **field_entries(arch, config, offsets.offsets if offsets is not None else None),
        **grid_entries(grid.cascades, grid.resolution),
    }
    check_entries(ref.path, ref.model, expected, arch)
    if arch == "hash":
        stored = ref.model["encoder.offsets"].to(torch.int64)
        ours = torch.tensor(offsets.offsets, dtype=torch.int64)
        if not torch.equal(stored, ours):
            level = int((stored != ours).nonzero()[0])
            raise ReferenceFormatError(
                f"{where}: encoder.offsets[{level}] = {int(stored[level])}, the reference "
                f"architecture at bound {meta.bound:g} has {int(ours[level])}"
            )
    if ref.model["density_bitfield"].dtype != torch.uint8:
        raise ReferenceFormatError(
            f"{where}: density_bitfield must be uint8, got {ref.model['density_bitfield'].dtype}"
        )
    model.field.load_state_dict(field_state(ref, arch, config))
    flat = ref.model["density_grid"].float()
    density = from_morton(flat)
    occupied = from_morton(unpack_bits(ref.model["density_bitfield"], flat.numel()).reshape(flat.shape))
    mean = ref.extras.get("mean_density")
    mean = float(mean) if mean is not None else float(flat.clamp(min=0).mean())
    grid.seen.copy_(density >= 0)
    grid.density.copy_(density.clamp(min=0))
    grid.occupancy.copy_(occupied & grid.seen)
    grid.mean_density.fill_(mean)
    grid.n_updates.fill_(ref.global_step // UPDATE_EVERY)
    return model


def export_reference(model: Model, epoch: int = 0) -> tuple[dict, dict]:
    """The reference's (state dict, top-level extras) of ``model``; inverse of :func:`import_reference`.

    Raises:
        ReferenceFormatError: the field config is not the reference architecture, the normalisation
            is not in torch-ngp's frame, or the density clamp is not [-2, 7].
    """
    meta = model.meta
    where = f"{meta.model_type} model ({meta.preset} preset)"
    arch, config = meta.model_type, meta.field_config
    check_reference_config(arch, config, where)
    if meta.normalization.rotation != NGP_ROTATION:
        raise ReferenceFormatError(
            f"{where}: its scene normalisation is not in torch-ngp's frame (rotation "
            f"{[list(r) for r in meta.normalization.rotation]}); the reference would "
            f"render it with the axes permuted"
        )
    if tuple(meta.density_range) != REFERENCE_DENSITY_RANGE:
        raise ReferenceFormatError(
            f"{where}: density_range {list(meta.density_range)} is not the reference's {list(REFERENCE_DENSITY_RANGE)}"
        )
    state = {k: v.detach().cpu() for k, v in model.field.state_dict().items()}
    out = {theirs: state[ours].clone() for ours, theirs in name_pairs(arch, config)}
    if arch == "hash":
        out["encoder.offsets"] = torch.tensor(model.field.layout.offsets, dtype=torch.int32)
    elif arch == "vm":
        for ours, theirs in VM_STACKS.items():
            out.update({f"{theirs}.{p}": state[ours][p : p + 1].clone() for p in range(3)})
    elif arch == "tensors":
        r = config.resolution
        out["tensor_volume.0"] = state["grid"].reshape(r, r, r, -1).permute(3, 0, 1, 2)[None].contiguous()
    grid = model.grid
    b = float(meta.bound)
    box = torch.tensor([-b, -b, -b, b, b, b], dtype=torch.float32)
    density = torch.where(grid.seen, grid.density, torch.full_like(grid.density, -1.0)).cpu()
    out.update(
        aabb_train=box,
        aabb_infer=box.clone(),
        density_grid=to_morton(density),
        density_bitfield=pack_bits(to_morton(grid.occupancy.cpu()).reshape(-1)),
        step_counter=torch.zeros(16, 2, dtype=torch.int32),
    )
    extras = {
        "epoch": int(epoch),
        "global_step": int(meta.step),
        "stats": {"loss": [], "valid_loss": [], "results": [], "checkpoints": [], "best_result": None},
        "mean_count": 0,
        "mean_density": float(grid.mean_density),
    }
    if arch == "vm":
        extras["resolution"] = [config.resolution] * 3
    return out, extras
