"""Reading WebAdMIT's payloads: strict about what we use, silent about everything else.

Each reader takes the object, the key and where the object sits in the payload (`export_files[0]`), so that a
`ShapeError` names the exact place: its `detail` completes "WebAdMIT sent a response ..." (the client turns it into a
`BadResponse`). Unknown fields are never looked at: WebAdMIT adds fields without notice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


class ShapeError(Exception):
    """A payload lacks something we need; `detail` completes "WebAdMIT sent a response ..."."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def required(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise ShapeError(f"without '{_path(where, key)}'")
    return obj[key]


def integer(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = required(obj, key, where)
    # Strict on purpose: `True` is an int in Python, and a numeric string would mean the API changed under us.
    if type(value) is not int:
        raise ShapeError(f"with '{_path(where, key)}' that is not a whole number")
    return value


def text(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = required(obj, key, where)
    if not isinstance(value, str):
        raise ShapeError(f"with '{_path(where, key)}' that is not text")
    return value


def optional_text(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise ShapeError(f"with '{_path(where, key)}' that is not text")
    return value


def timestamp(obj: Mapping[str, Any], key: str, where: str) -> datetime:
    """A time such as `2018-10-18T00:07:13Z`, in UTC. ISO 8601 with fractions or an offset reads too; a time
    without a zone is taken as UTC, as WebAdMIT's are."""
    value = text(obj, key, where)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ShapeError(f"with '{_path(where, key)}' that is not a time")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def text_list(obj: Mapping[str, Any], key: str, where: str) -> list[str]:
    values = required(obj, key, where)
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise ShapeError(f"with '{_path(where, key)}' that is not a list of text")
    return values


def as_object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ShapeError(f"with '{where}' that is not an object")
    return value


def single(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The one object a payload wraps under `key` (`{"export_files": {...}}`)."""
    return as_object(required(payload, key, ""), key)


def _list(payload: Mapping[str, Any], key: str) -> list[Any]:
    values = required(payload, key, "")
    if not isinstance(values, list):
        raise ShapeError(f"with '{key}' that is not a list")
    return values


def items(payload: Mapping[str, Any], key: str) -> list[tuple[Mapping[str, Any], str]]:
    """The objects of the list under `key`, each with where it sits (`key[3]`)."""
    values = _list(payload, key)
    return [(as_object(value, f"{key}[{index}]"), f"{key}[{index}]") for index, value in enumerate(values)]
