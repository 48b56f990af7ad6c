"""U+0000 in JSON values: no field of central accepts it, and PostgreSQL stores it neither in text nor in jsonb."""
from __future__ import annotations

from typing import Any


def _path_to_nul(value: Any) -> list[Any] | None:
    """The keys and indexes down to the first string or key holding U+0000 ([] for the value itself), or None."""
    if isinstance(value, str):
        return [] if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in str(key):
                return [key]
            if (below := _path_to_nul(item)) is not None:
                return [key, *below]
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (below := _path_to_nul(item)) is not None:
                return [index, *below]
    return None


def contains_nul(value: Any) -> bool:
    """Whether any string or key in a JSON value holds U+0000."""
    return _path_to_nul(value) is not None


def nul_at(value: Any) -> str | None:
    """Where a JSON value holds U+0000, as a dotted path ("" for the value itself), or None."""
    path = _path_to_nul(value)
    return None if path is None else ".".join(str(part).replace("\x00", "\\u0000") for part in path)
