"""Pieces shared by every config section: the base model, ids, paths and the error helpers."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails, PydanticCustomError


class Section(BaseModel):
    """Base of every config model: unknown keys are errors, values are frozen and never coerced."""

    # strict: TOML already carries types, so "30" for an integer is a mistake to report, not to fix.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def expected(text: str) -> PydanticCustomError:
    """An error the loader shows as `{key}: {text}, got {value!r}`."""
    return PydanticCustomError("expected", text)


def problem(text: str) -> PydanticCustomError:
    """An error the loader shows as `{key}: {text}`, without echoing the value."""
    return PydanticCustomError("problem", text)


def error_at(title: str, loc: tuple[str | int, ...], error: PydanticCustomError, value: Any) -> ValidationError:
    """A ValidationError for a key other than the one being validated (a cross-field check)."""
    detail: InitErrorDetails = {"type": error, "loc": loc, "input": value}
    return ValidationError.from_exception_data(title, [detail])


_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
ID_RULE = "a topic-safe id: 1 to 64 of a-z, 0-9, '_', '-', starting with a letter or digit"


def _check_id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise expected(f"expected {ID_RULE}")
    return value


EntityId = Annotated[str, AfterValidator(_check_id)]
"""An estate, gateway or device id; it becomes an MQTT topic level, so '/', '+' and '#' are out."""


def _to_path(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, Path):
        path = value
    elif isinstance(value, str) and value.strip():
        path = Path(value)
    else:
        raise expected("expected a non-empty path string")
    if not path.is_absolute():
        base = (info.context or {}).get("base_dir") or Path.cwd()
        path = Path(base) / path
    return path


def _existing_file(path: Path) -> Path:
    if not path.exists():
        raise expected(f"expected an existing file (looked for {path})")
    if not path.is_file():
        raise expected(f"expected a regular file ({path} is not one)")
    if not os.access(path, os.R_OK):
        raise expected(f"expected a readable file ({path} is not readable by this user)")
    return path


ResolvedPath = Annotated[Path, BeforeValidator(_to_path)]
"""A path; a relative one resolves against the config file's directory (the `base_dir` context)."""

ExistingFile = Annotated[Path, BeforeValidator(_to_path), AfterValidator(_existing_file)]
"""A ResolvedPath that must name a readable file when the config is loaded."""


def empty_is_none(value: Any) -> Any:
    """Treat `key = ""` like an absent optional key."""
    return None if value == "" else value
