"""The four radiance fields behind one interface (:class:`pvd.fields.base.Field`), and their registry.

Keys: ``hash`` (Instant-NGP), ``vm`` (TensoRF VM), ``mlp`` (NeRF), ``tensors`` (Plenoxels). Each has
a frozen config dataclass with two presets: ``paper`` (METHOD.md §1's numbers) and ``tiny`` (same code,
sizes that train on 2 CPU cores in about a minute).

    field = build_field("hash", "tiny", bound=1.0)                # a Field
    field = build_field("vm", "paper", 1.0, resolution=200)       # any config value can be overridden
    cfg = field_config("mlp", "paper")                            # the preset's frozen dataclass

A checkpoint can rebuild its field with ``build_field(key, preset, bound, density_range,
**dataclasses.asdict(field.config))`` (configs hold scalars only, so their dicts survive JSON).

Parameters (bound 1) and forward+backward throughput (``s``, ``rgb`` and ``h`` into a scalar loss,
then backward) on 2^16 samples uniform in the box, float32, pure PyTorch except where noted, in
samples per CPU-second on one thread of the shared 2-core AMD EPYC (CPU time, so other jobs on
the machine distort it less than wall time; measured with 2^16 samples, 5 repeats, best kept):

    key      preset  params     fwd+bwd    fwd only   notes
    hash     tiny     0.44 M     125 k/s    144 k/s   twin of pvd.ops.hash_grid; 1.5 M/s native
    hash     paper   10.56 M      62 k/s     80 k/s   0.36 M/s with the native CPU kernel
    vm       tiny     0.90 M     525 k/s    1.7 M/s
    vm       paper   17.35 M     100 k/s    406 k/s
    mlp      tiny     0.043 M    262 k/s    741 k/s   matrix products dominate
    mlp      paper    0.44 M      28 k/s    106 k/s
    tensors  tiny     7.34 M     1.07 M/s   2.5 M/s   the dense 29 MB gradient dominates
    tensors  paper   58.7 M      389 k/s    2.3 M/s

Tiny presets trained by ``pvd train --preset tiny`` (1500 steps, 1024 rays/step) on the 80 px demo
scene, one thread, CPU-seconds of the whole run (test PSNR): hash 22 s (30.95 dB, native hash-grid
kernel), vm 43 s (31.29 dB), mlp 81 s (29.25 dB, with lr 1e-2; 26.7 dB at width 64 and lr 5e-3),
tensors 84 s (30.04 dB; about half of it is the unfused AdamW step over 7.3 M parameters).
"""

from __future__ import annotations

import dataclasses

from pvd.errors import UserError
from pvd.fields import hash as _hash
from pvd.fields import mlp as _mlp
from pvd.fields import tensors as _tensors
from pvd.fields import vm as _vm
from pvd.fields.base import Field, FieldOutput
from pvd.fields.hash import HashConfig, HashField
from pvd.fields.mlp import MLPConfig, MLPField
from pvd.fields.tensors import TensorsConfig, TensorsField
from pvd.fields.vm import VMConfig, VMField

FIELDS: dict[str, type[Field]] = {
    "hash": HashField,
    "vm": VMField,
    "mlp": MLPField,
    "tensors": TensorsField,
}

PRESETS: dict[str, dict[str, object]] = {
    "hash": _hash.PRESETS,
    "vm": _vm.PRESETS,
    "mlp": _mlp.PRESETS,
    "tensors": _tensors.PRESETS,
}

DISPLAY_NAMES = {"hash": "INGP", "vm": "TensoRF", "mlp": "NeRF", "tensors": "Plenoxels"}


def field_config(key: str, preset: str):
    """The frozen config dataclass of architecture ``key`` at ``preset`` ('tiny' or 'paper')."""
    if key not in FIELDS:
        raise UserError(f"unknown model_type {key!r}: expected one of {', '.join(FIELDS)}")
    presets = PRESETS[key]
    if preset not in presets:
        raise UserError(f"unknown preset {preset!r} for model_type {key!r}: "
                        f"expected one of {', '.join(presets)}")
    return presets[preset]


def build_field(key: str, preset: str, bound: float, density_range=(-2.0, 7.0), **overrides) -> Field:
    """Construct the field ``key`` from ``preset`` with config values replaced by ``overrides``.

    Args:
        key: 'hash', 'vm', 'mlp' or 'tensors'.
        preset: 'tiny' or 'paper'.
        bound: half-size of the box ``[-bound, bound]^3`` (> 0).
        density_range: (lo, hi) clamp of the log-density ``s`` (lo < hi).
        **overrides: config field names and values (e.g. ``resolution=200``).
    Raises:
        UserError: unknown key/preset/override name, or invalid values.
    """
    config = field_config(key, preset)
    names = [f.name for f in dataclasses.fields(config)]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise UserError(f"unknown {key} field config option(s) {', '.join(unknown)}: "
                        f"expected some of {', '.join(names)}")
    config = dataclasses.replace(config, **overrides)
    if not float(bound) > 0:
        raise UserError(f"bound must be > 0, got {bound!r}")
    try:
        lo, hi = (float(v) for v in density_range)
    except (TypeError, ValueError):
        raise UserError(f"density_range must be two numbers (lo, hi), got {density_range!r}") from None
    if not lo < hi:
        raise UserError(f"density_range must be (lo, hi) with lo < hi, got {tuple(density_range)!r}")
    return FIELDS[key](config, float(bound), (lo, hi))


__all__ = [
    "DISPLAY_NAMES", "FIELDS", "PRESETS", "Field", "FieldOutput", "HashConfig", "HashField",
    "MLPConfig", "MLPField", "TensorsConfig", "TensorsField", "VMConfig", "VMField",
    "build_field", "field_config",
]
