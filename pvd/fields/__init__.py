"""The five radiance fields behind one interface (:class:`pvd.fields.base.Field`), and their registry.

Keys (:data:`ARCHS`, the one list of architectures): ``hash`` (Instant-NGP), ``vm`` (TensoRF VM),
``mlp`` (NeRF), ``tensors`` (Plenoxels), ``gs`` (3D Gaussian splatting: rendered by the rasteriser,
and defined at points for the volume renderer, :mod:`pvd.fields.gs`); :data:`DISPLAY_NAMES` are the
papers' names. Each has a
frozen config dataclass (:data:`CONFIGS`, defaults: the paper's sizes, docs/method.md); the sizes of the
``tiny`` and ``paper`` presets live in :mod:`pvd.presets` (``build_field(key, preset, bound)``).

    field = make_field("vm", VMConfig(resolution=200), bound=1.0)

Parameters (bound 1) and forward+backward throughput (``s``, ``rgb`` and ``h`` into a scalar loss,
then backward) on 2^16 samples uniform in the box, float32, pure PyTorch except where noted, in
samples per CPU-second on one thread of the shared 2-core AMD EPYC (CPU time, so other jobs on
the machine distort it less than wall time; measured with 2^16 samples, 5 repeats, best kept):

    key      preset  params     fwd+bwd    fwd only   notes
    hash     tiny     0.44 M     125 k/s    144 k/s   twin of pvd.ops.hash_grid; 1.5 M/s native
    hash     paper   10.56 M      62 k/s     80 k/s   0.36 M/s with the native CPU kernel (*)
    vm       tiny     0.90 M     525 k/s    1.7 M/s
    vm       paper   17.35 M     100 k/s    406 k/s
    mlp      tiny     0.043 M    262 k/s    741 k/s   matrix products dominate
    mlp      paper    0.44 M      28 k/s    106 k/s
    tensors  tiny     7.34 M     1.07 M/s   2.5 M/s   the dense 29 MB gradient dominates
    tensors  paper   58.7 M      389 k/s    2.3 M/s

(*) measured before the paper hash field became the reference's GridEncoder (10.62 M parameters,
8-row-aligned levels, +0.5 offset); not re-measured since.

Tiny presets trained by ``pvd train --preset tiny`` (1500 steps, 1024 rays/step) on the 80 px demo
scene, one thread, CPU-seconds of the whole run (test PSNR): hash 22 s (30.95 dB, native hash-grid
kernel), vm 43 s (31.29 dB), mlp 81 s (29.25 dB, with lr 1e-2; 26.7 dB at width 64 and lr 5e-3),
tensors 84 s (30.04 dB; about half of it is the unfused AdamW step over 7.3 M parameters). gs
(whole views, 1500 steps, 4 k random Gaussians densified to 7.7 k): 54 s (33.01 dB, native splat
kernel; 114 s with the PyTorch twin), benchmarks/results/gs_demo.txt.
"""

from __future__ import annotations

import dataclasses

from pvd.errors import UserError
from pvd.fields.base import Field, FieldOutput
from pvd.fields.edited import EditedConfig, EditedField
from pvd.fields.gs import GSConfig, GSField
from pvd.fields.hash import HashConfig, HashField
from pvd.fields.mlp import MLPConfig, MLPField
from pvd.fields.tensors import TensorsConfig, TensorsField
from pvd.fields.vm import VMConfig, VMField

ARCHS: tuple[str, ...] = ("hash", "vm", "mlp", "tensors", "gs")
# every field a checkpoint can hold: the four architectures and ``edited`` (compiled scene edits over
# source fields of those architectures, see pvd.fields.edited and pvd.edit)
FIELDS: dict[str, type[Field]] = {
    "hash": HashField,
    "vm": VMField,
    "mlp": MLPField,
    "tensors": TensorsField,
    "gs": GSField,
    "edited": EditedField,
}
CONFIGS: dict[str, type] = {
    "hash": HashConfig,
    "vm": VMConfig,
    "mlp": MLPConfig,
    "tensors": TensorsConfig,
    "gs": GSConfig,
    "edited": EditedConfig,
}
MODEL_TYPES: tuple[str, ...] = tuple(FIELDS)
DISPLAY_NAMES: dict[str, str] = {"hash": "INGP", "vm": "TensoRF", "mlp": "NeRF", "tensors": "Plenoxels", "gs": "3DGS"}


def check_arch(key: str, what: str = "model_type") -> None:
    """Raise a :class:`UserError` naming ``what`` unless ``key`` is an architecture."""
    if key not in ARCHS:
        raise UserError(f"unknown {what} {key!r}: expected one of {', '.join(ARCHS)}")


def make_field(key: str, config, bound: float, density_range=(-2.0, 7.0), **overrides) -> Field:
    """Construct the field ``key`` from its ``config`` with values replaced by ``overrides``.

    Args:
        key: 'hash', 'vm', 'mlp', 'tensors' or 'gs'.
        config: an instance of ``CONFIGS[key]``.
        bound: half-size of the box ``[-bound, bound]^3`` (> 0).
        density_range: (lo, hi) clamp of the log-density ``s`` (lo < hi).
        **overrides: config field names and values (e.g. ``resolution=200``).
    Raises:
        UserError: unknown key or override name, or invalid values.
    """
    check_arch(key)
    names = [f.name for f in dataclasses.fields(config)]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise UserError(
            f"unknown {key} field config option(s) {', '.join(unknown)}: expected some of {', '.join(names)}"
        )
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
    "ARCHS",
    "CONFIGS",
    "DISPLAY_NAMES",
    "EditedConfig",
    "EditedField",
    "FIELDS",
    "Field",
    "FieldOutput",
    "GSConfig",
    "GSField",
    "HashConfig",
    "HashField",
    "MLPConfig",
    "MLPField",
    "MODEL_TYPES",
    "TensorsConfig",
    "TensorsField",
    "VMConfig",
    "VMField",
    "check_arch",
    "make_field",
]
