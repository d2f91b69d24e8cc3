"""Run specs: the one declaration of every option of a run.

A spec is a frozen, keyword-only dataclass per run kind (:mod:`pvd.runs.train`, ...). Each field is
declared with :func:`option`, which records its help text, its choices (taken from the registries),
its range and where it lands in the engine's config; from that one declaration

* the spec checks itself on construction (``DistillSpec(..., iters=0)`` raises :class:`SpecError`
  naming ``iters``), so library code, tests and the CLI get the same checks;
* the CLI derives its flags (:mod:`pvd.commands.args`: ``--iters``, help with the default);
* the workflow's config schema derives the settings a cell may set (:mod:`pvd.runs.schema`);
* the engine config is built (:func:`apply_into`: ``into="stages.depth_weight"``);
* the record stores the spec as it ran (:func:`spec_dict`).

Types a field may have: ``bool``, ``int``, ``float`` (finite), ``str``, ``Path``, those with ``| None``
(unset: the preset's, the checkpoint's or the dataset's value, as its help says), ``tuple[float, ...]``
of a fixed length (``nargs``) and, for repeatable options, ``tuple[tuple[float, ...], ...]``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pvd.errors import SpecError

MISSING = dataclasses.MISSING


@dataclass(frozen=True)
class Option:
    """What :func:`option` records about a spec field (its ``metadata["pvd"]``).

    Attributes:
        help: one line for ``--help`` and the schema's description.
        choices: the allowed values (from a registry), or None.
        minimum / maximum: inclusive range of a number; ``above``: exclusive lower bound.
        positional: a positional argument of the CLI (``SCENE_DIR``) instead of a flag.
        aliases: other spellings the CLI accepts (hidden from ``--help``).
        metavar: the CLI's name of the value(s).
        nargs: values per use of a tuple option.
        repeat: the option may be given several times (a tuple of tuples).
        into: dotted path of the engine-config field it overrides (``stages.depth_weight``).
        convert: value -> what goes ``into`` the engine config (e.g. a string to a bool).
        workflow: a setting the workflow's config may give a cell (its schema derives from this).
        check: an extra check, value -> problem text or None.
    """

    help: str
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    positional: bool = False
    aliases: tuple[str, ...] = ()
    metavar: str | tuple[str, ...] | None = None
    nargs: int | None = None
    repeat: bool = False
    into: str | None = None
    convert: Callable[[Any], Any] | None = None
    workflow: bool = False
    check: Callable[[Any], str | None] | None = None


def option(default: Any = MISSING, help: str = "", **kwargs: Any) -> Any:
    """A spec field with its :class:`Option` (``default`` MISSING: a required option)."""
    return field(default=default, metadata={"pvd": Option(help=help, **kwargs)})


def options(spec_cls: type) -> list[tuple[dataclasses.Field, Option]]:
    """(field, option) of every option of a spec class, in declaration order."""
    return [(f, f.metadata["pvd"]) for f in dataclasses.fields(spec_cls) if "pvd" in f.metadata]


def option_of(spec_cls: type, name: str) -> Option:
    """The :class:`Option` of ``spec_cls.name``."""
    for f, opt in options(spec_cls):
        if f.name == name:
            return opt
    raise KeyError(f"{spec_cls.__name__} has no option {name!r}")


@dataclass(frozen=True)
class FieldType:
    """A spec field's annotation, resolved: ``base`` (bool, int, float, str, Path), ``optional``
    (``| None``), ``tuple`` (a fixed-length tuple of ``base``) and ``repeat`` (a tuple of those)."""

    base: type
    optional: bool = False
    tuple: bool = False
    repeat: bool = False


def field_type(spec_cls: type, name: str) -> FieldType:
    """Resolve the annotation of ``spec_cls.name`` (postponed annotations included)."""
    hint = typing.get_type_hints(spec_cls)[name]
    optional = False
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        optional = True
        (hint,) = [a for a in args if a is not type(None)]
    if typing.get_origin(hint) is tuple:
        inner = typing.get_args(hint)[0]
        if typing.get_origin(inner) is tuple:
            return FieldType(typing.get_args(inner)[0], optional, tuple=True, repeat=True)
        return FieldType(inner, optional, tuple=True)
    return FieldType(hint, optional)


def _problem(value: Any, ftype: FieldType, opt: Option) -> str | None:
    """What is wrong with one scalar ``value`` of a field, or None."""
    if ftype.base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expects a number, got {value!r}"
        if not math.isfinite(value):
            return f"must be a finite number, got {value!r}"
    elif ftype.base is int and (isinstance(value, bool) or not isinstance(value, int)):
        return f"expects a whole number, got {value!r}"
    elif ftype.base is bool and not isinstance(value, bool):
        return f"expects true or false, got {value!r}"
    elif ftype.base is str and not isinstance(value, str):
        return f"expects a string, got {value!r}"
    elif ftype.base is Path and not isinstance(value, Path):
        return f"expects a path, got {value!r}"
    if opt.choices is not None and value not in opt.choices:
        return f"{value!r} is unknown; expected one of {', '.join(map(str, opt.choices))}"
    if opt.minimum is not None and value < opt.minimum:
        return f"must be >= {opt.minimum:g}, got {value}"
    if opt.maximum is not None and value > opt.maximum:
        return f"must be <= {opt.maximum:g}, got {value}"
    if opt.above is not None and not value > opt.above:
        return f"must be > {opt.above:g}, got {value}"
    return None


def check_spec(spec: Any) -> None:
    """Check every option of ``spec`` (types, choices, ranges, extra checks); the first bad one is a
    :class:`SpecError` naming its field."""
    for f, opt in options(type(spec)):
        value = getattr(spec, f.name)
        ftype = field_type(type(spec), f.name)
        if value is None:
            if not ftype.optional:
                raise SpecError(f.name, "is required")
            continue
        items = [value]
        if ftype.tuple:
            groups = value if ftype.repeat else (value,)
            if not isinstance(value, tuple) or (ftype.repeat and not all(isinstance(g, tuple) for g in groups)):
                raise SpecError(f.name, f"expects a tuple, got {value!r}")
            for group in groups:
                if opt.nargs is not None and len(group) != opt.nargs:
                    raise SpecError(f.name, f"expects {opt.nargs} values, got {len(group)}")
            items = [v for g in groups for v in g]
        for item in items:
            problem = _problem(item, ftype, opt)
            if problem is not None:
                raise SpecError(f.name, problem)
        if opt.check is not None:
            problem = opt.check(value)
            if problem is not None:
                raise SpecError(f.name, problem)


class Spec:
    """Base of every run spec: checks itself when constructed (see :func:`check_spec`)."""

    def __post_init__(self) -> None:
        check_spec(self)

    def replace(self, **changes: Any):
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def spec_dict(spec: Any) -> dict:
    """The spec as JSON-friendly values (paths as strings, tuples as lists), for records."""
    return {f.name: _plain(getattr(spec, f.name)) for f, _ in options(type(spec))}


def _set_path(cfg: Any, path: list[str], value: Any) -> Any:
    if len(path) == 1:
        return dataclasses.replace(cfg, **{path[0]: value})
    inner = getattr(cfg, path[0])
    return dataclasses.replace(cfg, **{path[0]: _set_path(inner, path[1:], value)})


def apply_into(spec: Any, cfg: Any) -> Any:
    """``cfg`` (a frozen engine config) with every set option of ``spec`` that declares ``into``
    written at its dotted path (converted by its ``convert``); unset (None) options keep ``cfg``'s."""
    for f, opt in options(type(spec)):
        value = getattr(spec, f.name)
        if opt.into is None or value is None:
            continue
        cfg = _set_path(cfg, opt.into.split("."), opt.convert(value) if opt.convert else value)
    return cfg
