"""Any value a framework keeps, as a JSON value a page or a terminal can show."""

from __future__ import annotations

import base64
import dataclasses
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["jsonable"]

_DEPTH = 64  # deeper than any state we show; a cycle ends here as its repr


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON: dicts (keys as str), lists, str, numbers, bool, None.

    Pydantic models (LangChain messages, ADK events) become their ``model_dump``,
    dataclasses their fields, named tuples and sets lists, bytes a ``base64:`` string;
    anything else its ``repr``. Never raises for an odd value: a view shows it as text.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth > _DEPTH:
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "base64:" + base64.b64encode(bytes(value)).decode()
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return jsonable(dump(mode="json"), depth + 1)
        except Exception:  # noqa: BLE001 (an exotic model still shows as text)
            return repr(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return {f.name: jsonable(getattr(value, f.name), depth + 1) for f in fields}
    return repr(value)
