"""Flags derived from run specs: one argparse argument per spec option, and back.

``--name`` for an option ``name`` (the reference code's underscore style), its aliases hidden from
``--help`` (e.g. ``--save-renders``), the default shown in every help line, choices from the
option's registry. A ``bool`` option is a switch; a tuple option takes its values as separate words
or comma-separated (``--stage_iters 2000 5000`` = ``--stage_iters 2000,5000``); a repeatable one
(``--erase``) may be given several times. Values are converted here; their checks are the spec's
own (:func:`pvd.runs.spec.check_spec`), whose :class:`SpecError` the CLI shows with the flag's name.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from pvd.runs.spec import MISSING, FieldType, Option, field_type, options


class SpecHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help of spec-derived flags: wide columns, a tuple option's value names once (``LO HI``)."""

    def __init__(self, prog: str):
        super().__init__(prog, max_help_position=36, width=110)

    def _format_args(self, action: argparse.Action, default_metavar: str) -> str:
        if action.nargs == "+" and isinstance(action.metavar, str):
            return action.metavar
        return super()._format_args(action, default_metavar)


def flag(name: str, spec_cls: type | None = None) -> str:
    """How the CLI spells a spec field: ``--iters``, or ``SCENE_DIR`` for a positional one."""
    if spec_cls is not None:
        for f, opt in options(spec_cls):
            if f.name == name and opt.positional:
                return name.upper()
    return f"--{name}"


def _number(base: type):
    def parse(text: str):
        try:
            return base(text)
        except ValueError:
            kind = "a whole number" if base is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None

    parse.__name__ = base.__name__
    return parse


def _scalar_parser(base: type):
    return _number(base) if base in (int, float) else base


def _split_words(words: list[str], base: type) -> tuple:
    parse = _scalar_parser(base)
    return tuple(parse(part) for word in words for part in word.split(",") if part.strip())


def _default_text(value: Any, opt: Option) -> str:
    if value is MISSING:
        return "required"
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, tuple):
        return " ".join(map(str, value))
    return str(value)


def _help(f: dataclasses.Field, opt: Option) -> str:
    text = opt.help
    shown = _default_text(f.default, opt)
    if shown and shown != "required" and "default" not in text:
        text += f" (default: {shown})"
    return text.replace("%", "%%")


def add_spec_arguments(parser: argparse.ArgumentParser, spec_cls: type, skip: tuple[str, ...] = ()) -> None:
    """One argument per option of ``spec_cls`` (except ``skip``), positional ones first."""
    ordered = sorted(options(spec_cls), key=lambda fo: not fo[1].positional)
    for f, opt in ordered:
        if f.name in skip:
            continue
        ftype = field_type(spec_cls, f.name)
        kwargs: dict[str, Any] = {"help": _help(f, opt), "dest": f.name}
        required = f.default is MISSING
        if ftype.base is bool:
            kwargs["action"] = "store_true"
        else:
            if opt.metavar is not None:  # a tuple's names as one string: "LO HI" (see SpecHelpFormatter)
                kwargs["metavar"] = opt.metavar if isinstance(opt.metavar, str) else " ".join(opt.metavar)
            if ftype.tuple:
                kwargs["nargs"] = "+"
                kwargs["type"] = str
                if opt.repeat:
                    kwargs["action"] = "append"
            else:
                kwargs["type"] = _scalar_parser(ftype.base)
                if opt.choices is not None:
                    kwargs["choices"] = opt.choices
        if opt.positional:
            kwargs.pop("dest")
            if ftype.optional:
                kwargs["nargs"] = "?"
            parser.add_argument(f.name, **{"metavar": f.name.upper(), **kwargs})
            continue
        parser.add_argument(f"--{f.name}", required=required, **kwargs)
        for alias in opt.aliases:
            parser.add_argument(alias, **{**kwargs, "help": argparse.SUPPRESS})
    parser.set_defaults(**{f.name: None for f, _ in ordered if f.name not in skip})


def _value(raw: Any, ftype: FieldType) -> Any:
    if raw is None:
        return None
    if ftype.tuple:
        if ftype.repeat:
            return tuple(_split_words(words, ftype.base) for words in raw)
        return _split_words(raw, ftype.base)
    return raw


def spec_from_args(spec_cls: type, args: argparse.Namespace, **given: Any):
    """The spec of parsed ``args`` (options left unset keep the spec's defaults), plus ``given``."""
    values: dict[str, Any] = {}
    for f, _ in options(spec_cls):
        if f.name in given or not hasattr(args, f.name):
            continue
        raw = getattr(args, f.name)
        ftype = field_type(spec_cls, f.name)
        if ftype.base is bool:
            if raw:
                values[f.name] = True
            continue
        if raw is not None:
            values[f.name] = _value(raw, ftype)
    return spec_cls(**values, **given)
