"""JSON for target rows, built column-wise with Arrow compute (docs/adr/0045).

Per-target dicts and ``json.dumps`` cost most of a 40k-target plan request. Here each target
becomes one JSON object string in a single vectorised pass, and the array is the concatenation of
those strings' bytes. The text is byte-for-byte what ``json.dumps(rows, ensure_ascii=False,
separators=(",", ":"))`` writes (the same escapes, lower-case ``\\u00XX`` for the other control
characters; a test compares both), so stored plans do not depend on which path wrote them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from functions.sampling.frame import int64_numpy, string_array, string_scalar

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Sequence

_CONTROL = r"[\x00-\x1f]"
# json.dumps' own escapes for the characters below U+0020 (the rest of ESCAPE_DCT is \ and ").
_SHORT = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def json_strings(values: pa.Array) -> pa.Array:
    """Each string as a JSON string literal (quoted, escaped); nulls become ``null``."""
    esc = pc.replace_substring(values, pattern="\\", replacement="\\\\")
    esc = pc.replace_substring(esc, pattern='"', replacement='\\"')
    if len(esc) and pc.any(pc.match_substring_regex(esc, pattern=_CONTROL)).as_py():
        for code in range(0x20):
            ch = chr(code)
            esc = pc.replace_substring(esc, pattern=ch, replacement=_SHORT.get(ch, f"\\u{code:04x}"))
    quote = string_scalar('"')
    quoted = pc.binary_join_element_wise(quote, esc, quote, string_scalar(""))
    return pc.coalesce(quoted, string_scalar("null"))


def inspector_lists(staffing: Sequence[Sequence[str]]) -> pa.Array:
    """Each target's inspector ids as a JSON array literal."""
    cache: dict[str, str] = {}

    def lit(i: str) -> str:
        hit = cache.get(i)
        if hit is None:
            hit = cache[i] = json.dumps(i, ensure_ascii=False)
        return hit

    return string_array(["[" + ",".join(lit(i) for i in ids) + "]" for ids in staffing])


def inspector_literals(ids: Sequence[str]) -> pa.Array:
    """Each inspector id as a JSON string literal (once per plan, not per batch of targets)."""
    return string_array([json.dumps(i, ensure_ascii=False) for i in ids])


def inspector_parts(ids: Sequence[str] | pa.Array, matrix: Any) -> list[Any]:
    """:func:`inspector_lists` of ``[[ids[k] for k in row] for row in matrix]``, column-wise and
    not yet joined: the pieces ``[``, a literal per slot (one ``take`` each, docs/adr/0129),
    ``,``, ``]`` that :func:`object_strings` joins with the rest of each object in one pass
    (ADR 0163). ``ids`` may already be :func:`inspector_literals`."""
    literals = ids if isinstance(ids, pa.Array) else inspector_literals(ids)
    parts: list[Any] = [string_scalar("[")]
    for j in range(matrix.shape[1]):
        if j:
            parts.append(string_scalar(","))
        parts.append(literals.take(int64_numpy(np.ascontiguousarray(matrix[:, j]))))
    parts.append(string_scalar("]"))
    return parts


def object_strings(
    table: pa.Table, columns: Sequence[str], extra: dict[str, Any], plain: Collection[str] = ()
) -> pa.Array:
    """One JSON object per row: ``columns`` (strings) in order, then ``extra`` (name → array of
    JSON literals, one literal for every row, or a list of such pieces whose concatenation is
    the literal, e.g. :func:`inspector_parts`). Each object is followed by a comma.

    ``plain`` names columns known to need no escaping (no nulls either): they are only quoted.
    """
    if table.num_rows == 0:
        return string_array([])
    parts: list[Any] = []
    literal = "{"
    for name in columns:
        if name in plain:
            parts += [string_scalar(f'{literal}"{name}":"'), table.column(name).combine_chunks()]
            literal = '",'
        else:
            parts += [string_scalar(f'{literal}"{name}":'), json_strings(table.column(name).combine_chunks())]
            literal = ","
    for name, value in extra.items():
        parts.append(string_scalar(f'{literal}"{name}":'))
        pieces = value if isinstance(value, list) else [value]
        parts += [string_scalar(v) if isinstance(v, str) else v for v in pieces]
        literal = ","
    parts.append(string_scalar(literal[:-1] + "},"))  # closes a plain column's quote if last
    out: pa.Array = pc.binary_join_element_wise(*parts, string_scalar(""))
    return out


def array_bytes(objects: pa.Array, start: int = 0, stop: int | None = None) -> bytes:
    """``[obj, obj, …]`` from :func:`object_strings` rows ``start:stop`` (one buffer copy)."""
    stop = len(objects) if stop is None else min(stop, len(objects))
    if stop <= start:
        return b"[]"
    part = objects.slice(start, stop - start)
    return b"".join((b"[", next(runs(part, len(part))), b"]"))


def runs(objects: pa.Array, stride: int) -> Iterator[memoryview]:
    """:func:`object_strings` rows ``stride`` at a time, each run's objects joined by commas
    (without the brackets and the run's last comma): ``b",".join(runs)`` is the array's inside.
    Views of ``objects``' buffer, no copy (a plan's runs are written and hashed as they are)."""
    _, offsets, data = objects.buffers()
    offs = memoryview(offsets).cast("q" if objects.type == pa.large_string() else "i")
    view = memoryview(data)
    base = objects.offset
    for start in range(0, len(objects), stride):
        stop = min(len(objects), start + stride)
        yield view[offs[base + start] : offs[base + stop] - 1]
