"""Request bodies parsed strictly: what ``json.loads`` and pydantic would quietly accept is refused.

A duplicate key (``{"seed": "a", "seed": "b"}``) means the caller and a proxy or log reader may see
different requests; a number that underflows to 0 (``1e-400``) or overflows to infinity changes
the value the caller wrote. Both are 400 with the key or number named (docs/adr/0096).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from functions.errors import InvalidInput

_NONZERO_DIGIT = re.compile(r"[1-9]")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidInput(f"duplicate key {key[:64]!r} in the JSON body", field=key[:64])
        out[key] = value
    return out


def _float(text: str) -> float:
    value = float(text)
    mantissa = re.split(r"[eE]", text, maxsplit=1)[0]
    if math.isinf(value) or (value == 0.0 and _NONZERO_DIGIT.search(mantissa)):
        raise InvalidInput(
            f"number {text[:40]} is outside the range of a double (it would become {value})", field="body"
        )
    return value


def _constant(name: str) -> Any:
    raise InvalidInput(f"{name} is not JSON", field="body")


def loads(raw: bytes | str | None) -> Any:
    """Parse a request body; duplicate keys, NaN/Infinity and out-of-range numbers are 400."""
    try:
        return json.loads(
            raw or b"null", object_pairs_hook=_pairs, parse_float=_float, parse_constant=_constant
        )
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise InvalidInput(f"the body is not valid JSON: {exc}", field="body") from None
