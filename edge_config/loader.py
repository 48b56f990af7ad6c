"""Reading a gateway config: TOML in, a validated GatewayConfig out, or one ConfigError listing every problem."""
from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from edge_config.devices import duplicate_ids, duplicate_rule
from edge_config.model import GatewayConfig

_TYPE_WORDS = {
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "dict_type": "expected a table",
    "tuple_type": "expected an array",
    "list_type": "expected an array",
}
_RANGE_TYPES = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_SECRET_KEYS = {"password"}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOML_AT = re.compile(r"(?s)(.*) \(at (line \d+, column \d+|end of document)\)")


class ConfigError(Exception):
    """The config file is missing, unreadable or invalid; `problems` lists everything found wrong."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: config has {len(problems)} problem(s):\n  " + "\n  ".join(problems))

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.source, self.problems)


def load_config(path: str | os.PathLike[str]) -> GatewayConfig:
    """Read, parse and validate the config file at `path`; relative paths in it resolve against its directory."""
    source = os.fspath(path)
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(source, [f"cannot read the file: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [f"byte {exc.start}: expected UTF-8 text, as TOML requires"]) from None
    return parse_config(text, source=source, base_dir=file.absolute().parent)


def parse_config(text: str, *, source: str = "<string>", base_dir: Path) -> GatewayConfig:
    """Parse and validate config text; `source` names it in errors, relative paths resolve against `base_dir`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [_toml_problem(str(exc))]) from None
    try:
        return GatewayConfig.model_validate(data, context={"base_dir": Path(base_dir).absolute()})
    except ValidationError as exc:
        errors = exc.errors()
    # Raised outside the handler so no chained ValidationError (which echoes inputs, a password too) is kept.
    problems = [_problem(error) for error in errors] + _raw_duplicate_problems(data)
    raise ConfigError(source, list(dict.fromkeys(problems)))


def _toml_problem(message: str) -> str:
    match = _TOML_AT.fullmatch(message)
    if match is None:
        return f"invalid TOML: {message}"
    where = "end of file" if match[2] == "end of document" else match[2]
    what = match[1]
    return f"{where}: invalid TOML: {what[:1].lower()}{what[1:]}"


def _raw_duplicate_problems(data: dict[str, Any]) -> list[str]:
    # The model checks ids only once every device is valid; this reports repeats even when one is not.
    devices = data.get("devices")
    if not isinstance(devices, list):
        return []
    ids = [device.get("id") if isinstance(device, dict) else None for device in devices]
    return [f"devices[{i}].id: {duplicate_rule(first)}, got {ids[i]!r}" for i, first in duplicate_ids(ids)]


def _problem(error: ErrorDetails) -> str:
    kind, loc, ctx = error["type"], error["loc"], error.get("ctx", {})
    spot = _walk(loc)
    if kind == "missing":
        return f"{spot.path}: required key is missing"
    if kind == "extra_forbidden":
        allowed = ", ".join(spot.owner.model_fields) if spot.owner else "?"
        return f"{spot.path}: unknown key (check the spelling; allowed keys: {allowed})"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        key = f"{spot.path}.{str(ctx['discriminator']).strip(chr(39))}"
        choices = ", ".join(repr(tag) for tag in _union_tags(spot.tp)) or ctx.get("expected_tags", "?")
        if kind == "union_tag_not_found":
            return f"{key}: required key is missing (one of {choices})"
        return f"{key}: expected one of {choices}, got {ctx['tag']!r}"
    if kind == "problem":
        return f"{spot.path}: {error['msg']}"
    return f"{spot.path}: {_expectation(kind, error, spot.field)}{_got(loc, error['input'])}"


def _expectation(kind: str, error: ErrorDetails, field: FieldInfo | None) -> str:
    if kind == "expected":
        return error["msg"]
    if kind in _RANGE_TYPES and field is not None:
        return _range_text(field)
    if kind == "literal_error":
        choices = _literal_choices(field.annotation) if field is not None else ()
        if choices:
            return "expected one of " + ", ".join(repr(choice) for choice in choices)
        return f"expected {error.get('ctx', {}).get('expected', '?')}"
    if kind in _TYPE_WORDS:
        return _TYPE_WORDS[kind]
    return error["msg"].removeprefix("Value error, ")


def _literal_choices(annotation: Any) -> tuple[Any, ...]:
    """The values a Literal allows, also inside an optional one (Literal[...] | None)."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    return tuple(choice for arg in get_args(annotation) for choice in _literal_choices(arg))


def _range_text(field: FieldInfo) -> str:
    noun = "an integer" if field.annotation is int else "a number"
    bound = {name: getattr(m, name) for m in field.metadata for name in ("ge", "gt", "le", "lt") if hasattr(m, name)}
    words = [f"expected {noun}"]
    if "ge" in bound:
        words.append(f"from {bound['ge']}" if "le" in bound else f"of at least {bound['ge']}")
    elif "gt" in bound:
        words.append(f"greater than {bound['gt']}")
    joiner = "and " if len(words) > 1 else ""
    if "le" in bound:
        words.append(f"to {bound['le']}" if "ge" in bound else f"{joiner or 'of '}at most {bound['le']}")
    elif "lt" in bound:
        words.append(f"{joiner}less than {bound['lt']}")
    return " ".join(words)


def _got(loc: tuple[str | int, ...], value: Any) -> str:
    if loc and loc[-1] in _SECRET_KEYS:
        return " (value hidden)"
    if isinstance(value, dict):
        return ", got a table"
    shown = repr(value)
    return f", got {shown if len(shown) <= 80 else shown[:77] + '...'}"


class _Spot(NamedTuple):
    path: str
    field: FieldInfo | None
    owner: type[BaseModel] | None
    tp: Any


def _walk(loc: tuple[str | int, ...]) -> _Spot:
    """Follow a pydantic error location through the models to its TOML key path and field."""
    path = ""
    tp: Any = GatewayConfig
    field: FieldInfo | None = None
    owner: type[BaseModel] | None = None
    for item in loc:
        if isinstance(item, int):
            path += f"[{item}]"
            args = get_args(_unwrap(tp))
            tp, field = (args[0] if args else None), None
            continue
        tags = _union_tags(tp)
        if item in tags:  # the driver name pydantic puts in the location of a union member
            tp = tags[item]
            continue
        if get_origin(_unwrap(tp)) is dict:  # a table of named tables, like [meter_models.<name>]
            tp, field = get_args(_unwrap(tp))[1], None
            path += f".{item if _BARE_KEY.fullmatch(item) else json.dumps(item)}"
            continue
        owner = _model(tp)
        field = owner.model_fields.get(item) if owner else None
        tp = field.annotation if field else None
        key = item if _BARE_KEY.fullmatch(item) else json.dumps(item)
        path += f".{key}" if path else key
    return _Spot(path or "(top level)", field, owner, tp)


def _unwrap(tp: Any) -> Any:
    if get_origin(tp) is Annotated:
        return _unwrap(get_args(tp)[0])
    if get_origin(tp) in (Union, UnionType):
        members = [arg for arg in get_args(tp) if arg is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return tp


def _model(tp: Any) -> type[BaseModel] | None:
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _union_tags(tp: Any) -> dict[str, type[BaseModel]]:
    """{tag: model} for a discriminated union type, {} for anything else."""
    if get_origin(tp) is not Annotated:
        return {}
    inner, *metadata = get_args(tp)
    key = next((m.discriminator for m in metadata if isinstance(m, FieldInfo) and m.discriminator), None)
    if not isinstance(key, str):
        return {}
    members = get_args(inner) if get_origin(inner) in (Union, UnionType) else (inner,)
    return {tag: m for m in members for tag in get_args(m.model_fields[key].annotation)}
