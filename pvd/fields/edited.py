"""``edited``: a field that applies compiled scene edits to one or more source fields when queried.

The edit program itself (world coordinates, validation) lives in :mod:`pvd.edit`; this module sees
its compiled form, all in *box* coordinates of the edited scene (the base checkpoint's box):

* ``sources``: the source fields' descriptions (``model_type``, ``field_config``, ``bound``,
  ``density_range``; plus provenance keys ``checkpoint``, ``sha256``, ``normalization`` that the
  field ignores). Source 0 is the base scene; its parameters and those of every inserted source
  are this module's parameters (``sources.{i}.*`` in the state dict), so a checkpoint of an edited
  field holds everything it renders.
* ``ops``: applied in order to the scene function ``F_0 = source 0``:

  - ``erase`` (``lo``, ``hi``): ``F_k(x) = 0`` inside the box, ``F_{k-1}(x)`` elsewhere;
  - ``keep`` (``lo``, ``hi``): the converse;
  - ``move`` (``lo``, ``hi``, ``matrix``, ``offset``, ``rotation``, ``density_factor``): with
    ``y = matrix @ x + offset`` (the inverse placement), ``F_k(x) = [x not in box] F_{k-1}(x)
    (+) [y in box] density_factor * F_{k-1}(y, rotation @ d)``;
  - ``insert`` (``source``, the same keys, box in the source's box coordinates):
    ``F_k(x) = F_{k-1}(x) (+) [y in box] density_factor * F_source(y, rotation @ d)``;

  where ``(+)`` adds densities and mixes colours (and ``h``) in proportion to density.
  ``density_factor`` keeps optical depth under scaling (``1 / scale`` times the ratio of the two
  scenes' normalisation scales).

Erased space has density **exactly 0** (``s`` = the lower end of this field's density range),
not the source fields' floor ``exp(-2)``; the rest keeps the sources' own clamps. ``h`` is exposed
when every source has a feature (its density channel is ``log sigma``, clamped).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pvd.errors import UserError
from pvd.fields.base import Field, FieldOutput

OP_KEYS = {
    "erase": {"kind", "lo", "hi"},
    "keep": {"kind", "lo", "hi"},
    "move": {"kind", "lo", "hi", "matrix", "offset", "rotation", "density_factor"},
    "insert": {"kind", "source", "lo", "hi", "matrix", "offset", "rotation", "density_factor"},
}
SOURCE_KEYS = {"model_type", "field_config", "bound", "density_range"}
PROVENANCE_KEYS = {"checkpoint", "sha256", "normalization"}


def _fail(message: str) -> None:
    raise UserError(f"edited field config: {message}")


def _check_matrix(value, rows: int, cols: int, where: str) -> None:
    ok = isinstance(value, (list, tuple)) and len(value) == rows
    if ok and cols:
        ok = all(isinstance(r, (list, tuple)) and len(r) == cols for r in value)
    if not ok:
        _fail(f"{where} must be a {rows}x{cols} list of numbers" if cols else f"{where} must be {rows} numbers")


@dataclass(frozen=True)
class EditedConfig:
    """A compiled edit (see module doc).

    Attributes:
        sources: per source field, a mapping of :data:`SOURCE_KEYS` (and provenance).
        ops: the compiled operations, box coordinates of the edited scene.
        program: the edit program as written (world coordinates), for the record.
    """

    sources: tuple = ()
    ops: tuple = ()
    program: dict | None = None

    def __post_init__(self):
        from pvd.fields import ARCHS

        if not self.sources:
            _fail("needs at least one source")
        for i, src in enumerate(self.sources):
            if not isinstance(src, dict):
                _fail(f"source {i} must be a mapping")
            missing = sorted(SOURCE_KEYS - set(src))
            unknown = sorted(set(src) - SOURCE_KEYS - PROVENANCE_KEYS)
            if missing or unknown:
                _fail(f"source {i}: missing keys {missing}, unknown keys {unknown}")
            if src["model_type"] not in ARCHS:
                _fail(f"source {i}: model_type {src['model_type']!r} is not one of {list(ARCHS)}")
        for i, op in enumerate(self.ops):
            kind = op.get("kind") if isinstance(op, dict) else None
            if kind not in OP_KEYS:
                _fail(f"op {i}: kind {kind!r} is not one of {list(OP_KEYS)}")
            if set(op) != OP_KEYS[kind]:
                _fail(f"op {i} ({kind}): keys {sorted(op)}, expected {sorted(OP_KEYS[kind])}")
            _check_matrix(op["lo"], 3, 0, f"op {i} ({kind}) lo")
            _check_matrix(op["hi"], 3, 0, f"op {i} ({kind}) hi")
            if kind in ("move", "insert"):
                _check_matrix(op["matrix"], 3, 3, f"op {i} ({kind}) matrix")
                _check_matrix(op["rotation"], 3, 3, f"op {i} ({kind}) rotation")
                _check_matrix(op["offset"], 3, 0, f"op {i} ({kind}) offset")
            if kind == "insert" and not (isinstance(op["source"], int) and 1 <= op["source"] < len(self.sources)):
                _fail(
                    f"op {i} (insert): source {op['source']!r} is not an inserted source index "
                    f"(1..{len(self.sources) - 1})"
                )


@dataclass
class _Query:
    """Per-point result of a partial evaluation: sigma [n], rgb [n, 3] or None, h [n, 16] or None."""

    sigma: Tensor
    rgb: Tensor | None
    h: Tensor | None


def _mix(a: _Query, b: _Query) -> _Query:
    """Overlapping content: densities add, colour and ``h`` mix in proportion to density."""
    sigma = a.sigma + b.sigma
    wa = torch.where(sigma > 0, a.sigma / sigma.clamp_min(1e-30), torch.full_like(sigma, 0.5))[:, None]

    def blend(u, v):
        return None if u is None else u * wa + v * (1 - wa)

    return _Query(sigma, blend(a.rgb, b.rgb), blend(a.h, b.h))


class EditedField(Field):
    """Scene edits over source fields, evaluated per query (see module doc)."""

    key = "edited"

    def __init__(self, config: EditedConfig, bound: float, density_range=(-2.0, 7.0)):
        from pvd.fields import CONFIGS, FIELDS

        super().__init__(config, bound, density_range)
        fields = []
        for i, src in enumerate(config.sources):
            cfg = src["field_config"]
            if not isinstance(cfg, dict):
                _fail(f"source {i}: field_config must be a mapping")
            try:
                cfg = CONFIGS[src["model_type"]](**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})
            except TypeError as exc:
                _fail(f"source {i}: field_config does not fit {src['model_type']}: {exc}")
            fields.append(FIELDS[src["model_type"]](cfg, float(src["bound"]), tuple(src["density_range"])))
        self.sources = nn.ModuleList(fields)
        self.has_feature = all(f.has_feature for f in fields)
        self.ops = [self._op_tensors(op) for op in config.ops]

    @staticmethod
    def _op_tensors(op: dict) -> dict:
        out = dict(op)
        for key in ("lo", "hi", "matrix", "offset", "rotation"):
            if key in op:
                out[key] = torch.tensor(op[key], dtype=torch.float32)
        return out

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        self.ops = [{k: fn(v) if isinstance(v, Tensor) else v for k, v in op.items()} for op in self.ops]
        return self

    # -- evaluation -----------------------------------------------------------------------------
    @staticmethod
    def _inside(x: Tensor, op: dict) -> Tensor:
        return ((x >= op["lo"]) & (x <= op["hi"])).all(-1)

    def _empty(self, n: int, like: Tensor, colour: bool) -> _Query:
        h = None
        if colour and self.has_feature:
            h = like.new_zeros(n, 16)
            h[:, 0] = self.density_range[0]
        return _Query(like.new_zeros(n), like.new_zeros(n, 3) if colour else None, h)

    def _source(self, i: int, x: Tensor, d: Tensor | None) -> _Query:
        field = self.sources[i]
        if d is None:
            return _Query(field.density(x), None, None)
        out = field(x, d)
        return _Query(out.sigma, out.rgb, out.h if self.has_feature else None)

    def _scatter(self, into: _Query, mask: Tensor, part: _Query) -> _Query:
        sigma = into.sigma.clone()
        sigma[mask] = part.sigma.to(sigma.dtype)
        rgb = h = None
        if into.rgb is not None:
            rgb = into.rgb.clone()
            rgb[mask] = part.rgb.to(rgb.dtype)
        if into.h is not None:
            h = into.h.clone()
            h[mask] = part.h.to(h.dtype)
        return _Query(sigma, rgb, h)

    def _level(self, k: int, x: Tensor, d: Tensor | None) -> _Query:
        """The scene after the first ``k`` ops at [n, 3] box points (directions [n, 3] or None)."""
        if k == 0:
            return self._source(0, x, d)
        op = self.ops[k - 1]
        result = self._empty(x.shape[0], x, d is not None)
        if op["kind"] in ("erase", "keep", "move"):
            stay = self._inside(x, op)
            if op["kind"] != "keep":
                stay = ~stay
            if stay.any():
                result = self._scatter(result, stay, self._level(k - 1, x[stay], None if d is None else d[stay]))
        else:
            result = self._level(k - 1, x, d)
        if op["kind"] in ("move", "insert"):
            y = x @ op["matrix"].T + op["offset"]
            hit = self._inside(y, op)
            if hit.any():
                dy = None if d is None else torch.nn.functional.normalize(d[hit] @ op["rotation"].T, dim=-1)
                part = (
                    self._level(k - 1, y[hit], dy) if op["kind"] == "move" else self._source(op["source"], y[hit], dy)
                )
                part = _Query(part.sigma * op["density_factor"], part.rgb, part.h)
                here = _Query(
                    result.sigma[hit],
                    None if result.rgb is None else result.rgb[hit],
                    None if result.h is None else result.h[hit],
                )
                result = self._scatter(
                    result, hit, _mix(here, part) if d is not None else _Query(here.sigma + part.sigma, None, None)
                )
        return result

    def _finish_sigma(self, sigma: Tensor) -> tuple[Tensor, Tensor]:
        lo, hi = self.density_range
        s = torch.log(sigma.clamp_min(1e-30)).clamp(lo, hi)
        return s, torch.where(sigma > 0, torch.exp(s), torch.zeros_like(s))

    def forward(self, x: Tensor, d: Tensor) -> FieldOutput:
        """[n, 3] box positions and unit directions -> :class:`FieldOutput` of the edited scene."""
        q = self._level(len(self.ops), x, d)
        s, sigma = self._finish_sigma(q.sigma)
        h = None
        if q.h is not None:
            h = torch.cat([s[:, None], q.h[:, 1:]], dim=1)
        return FieldOutput(s=s, sigma=sigma, rgb=q.rgb, h=h)

    def density(self, x: Tensor) -> Tensor:
        """[n, 3] box positions -> [n] density of the edited scene (exactly 0 where erased)."""
        return self._finish_sigma(self._level(len(self.ops), x, None).sigma)[1]
