"""``hash``: Instant-NGP, a multiresolution hash grid followed by the shared heads.

Box positions ``x`` in ``[-bound, bound]^3`` are mapped to ``[0, 1]^3`` and encoded by
:func:`pvd.ops.hash_grid.hash_grid` (levels in a geometric progression from ``base_resolution`` to
``finest_resolution * bound`` cells per axis; dense indexing where a level fits its table, the
XOR-prime hash otherwise) -> [n, n_levels * n_features] -> ``sigma_net`` -> ``h = [s_raw, f]``
[n, 16]; colour = ``color_net(SH16(d) ++ f)``. The finest resolution scales with ``bound`` (as in the
reference) so the finest cell has the same world size in every scene.

Grid conventions (config options; the defaults are pvd's own, the ``paper`` preset sets the
reference's, docs/method.md): ``resolution_rounding`` "floor" (level ``l`` has ``floor(16 g^l)`` cells and
vertices on the cube's faces) or "ceil" (the reference's GridEncoder: coordinate
``u * (16 g^l - 1) + vertex_offset``, ``ceil`` vertex counts); ``row_multiple`` (the reference
rounds every level's rows up to a multiple of 8); ``vertex_offset`` 0.5 (the reference's
``align_corners=False``, needs "ceil"); ``outside`` "clamp" (points beyond the box take the value on
its face) or "zero" (they encode to zero, as in the reference).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pvd.errors import UserError
from pvd.fields.base import Field
from pvd.fields.heads import ColorHead, SigmaNet
from pvd.ops.hash_grid import ROUNDINGS, hash_grid, make_layout

OUTSIDE = ("clamp", "zero")


@dataclass(frozen=True)
class HashConfig:
    """Sizes of the hash field.

    Attributes:
        n_levels: resolution levels of the grid.
        n_features: features per level (the encoding is ``n_levels * n_features`` wide).
        log2_table_size: rows per level's table are at most ``2 ** log2_table_size``.
        base_resolution: cells per axis of the coarsest level.
        finest_resolution: cells per axis of the finest level **per unit of bound**.
        init_scale: table entries start uniform in ``[-init_scale, init_scale]``.
        sigma_hidden: hidden width of ``sigma_net``.
        color_hidden: hidden width of the colour head.
        resolution_rounding: "floor" (pvd) or "ceil" (the reference's level sizes and coordinates).
        row_multiple: each level's rows are rounded up to a multiple of this (reference: 8).
        vertex_offset: 0 or 0.5 (reference, ``align_corners=False``; needs "ceil").
        outside: "clamp" (pvd) or "zero" (reference): encoding of points outside the box.
    """

    n_levels: int = 14
    n_features: int = 2
    log2_table_size: int = 19
    base_resolution: int = 16
    finest_resolution: float = 2048.0
    init_scale: float = 1e-4
    sigma_hidden: int = 64
    color_hidden: int = 64
    resolution_rounding: str = "floor"
    row_multiple: int = 1
    vertex_offset: float = 0.0
    outside: str = "clamp"

    def __post_init__(self):
        for name in (
            "n_levels",
            "n_features",
            "log2_table_size",
            "base_resolution",
            "finest_resolution",
            "init_scale",
            "sigma_hidden",
            "color_hidden",
        ):
            if getattr(self, name) <= 0:
                raise UserError(f"hash field config: {name} must be > 0, got {getattr(self, name)!r}")
        if self.resolution_rounding not in ROUNDINGS:
            raise UserError(
                f"hash field config: resolution_rounding must be one of {list(ROUNDINGS)}, "
                f"got {self.resolution_rounding!r}"
            )
        if self.row_multiple < 1:
            raise UserError(f"hash field config: row_multiple must be >= 1, got {self.row_multiple!r}")
        if self.vertex_offset not in (0.0, 0.5):
            raise UserError(f"hash field config: vertex_offset must be 0 or 0.5, got {self.vertex_offset!r}")
        if self.vertex_offset and self.resolution_rounding != "ceil":
            raise UserError("hash field config: vertex_offset 0.5 needs resolution_rounding 'ceil'")
        if self.outside not in OUTSIDE:
            raise UserError(f"hash field config: outside must be one of {list(OUTSIDE)}, got {self.outside!r}")
        if self.finest_resolution < self.base_resolution:
            raise UserError(
                f"hash field config: finest_resolution ({self.finest_resolution}) must be "
                f">= base_resolution ({self.base_resolution})"
            )


class HashField(Field):
    """Instant-NGP field. Parameters: ``table`` [n_entries, n_features], ``sigma_net``, ``color_net``."""

    key = "hash"
    has_feature = True

    def __init__(self, config: HashConfig, bound: float, density_range=(-2.0, 7.0)):
        super().__init__(config, bound, density_range)
        if config.resolution_rounding == "floor":
            finest = max(config.base_resolution, round(config.finest_resolution * self.bound))
        else:  # the reference's desired_resolution, unrounded
            finest = max(config.base_resolution, config.finest_resolution * self.bound)
        self.layout = make_layout(
            config.n_levels,
            config.n_features,
            config.log2_table_size,
            config.base_resolution,
            finest,
            rounding=config.resolution_rounding,
            row_multiple=config.row_multiple,
            shift=config.vertex_offset,
        )
        table = torch.empty(self.layout.n_entries, config.n_features)
        self.table = nn.Parameter(table.uniform_(-config.init_scale, config.init_scale))
        self.register_buffer("offsets", torch.tensor(self.layout.offsets, dtype=torch.long), persistent=False)
        self.register_buffer("resolutions", torch.tensor(self.layout.resolutions, dtype=torch.long), persistent=False)
        self.register_buffer("scales", torch.tensor(self.layout.scales, dtype=torch.float32), persistent=False)
        self.sigma_net = SigmaNet(config.n_levels * config.n_features, config.sigma_hidden)
        self.color_net = ColorHead(config.color_hidden)

    def raw_density_and_feature(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """[n, 3] box positions -> (s_raw [n], h [n, 16], f [n, 15])."""
        unit = (x + self.bound) / (2.0 * self.bound)
        enc = hash_grid(
            unit,
            self.table,
            self.offsets,
            self.resolutions,
            self.scales,
            self.layout.shift,
            self.config.outside == "zero",
        )
        h = self.sigma_net(enc)
        return h[:, 0], h, h[:, 1:]

    def color(self, geo: Tensor, d: Tensor) -> Tensor:
        """f [n, 15], d [n, 3] -> rgb [n, 3]."""
        return self.color_net(geo, d)
