"""JSON for target rows, built column-wise with Arrow compute (docs/adr/0045).

Per-target dicts and ``json.dumps`` cost most of a 40k-target plan request. Here each target
becomes one JSON object string in a single vectorised pass, and the array is the concatenation of
those strings' bytes. The text is byte-for-byte what ``json.dumps(rows, ensure_ascii=False,
separators=(",", ":"))`` writes (the same escapes, lower-case ``\\u00XX`` for the other control
characters; a test compares both), so stored plans do not depend on which path wrote them.
"""

from __future__ import annotations

import functools
import itertools
import json
from typing import TYPE_CHECKING, Any, NamedTuple

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
    """Each inspector id as a JSON string literal: once per roster's qualified ids (staffing
    keeps one tuple of them per roster, field and day), not per plan (~0.6 ms for 200)."""
    return _literals(tuple(ids))


@functools.lru_cache(maxsize=16)
def _literals(ids: tuple[str, ...]) -> pa.Array:
    return string_array([json.dumps(i, ensure_ascii=False) for i in ids])


class Taken(NamedTuple):
    """``values.take(indices)``, not yet made: fixed-width values are gathered straight into the
    row block they belong to (:func:`join_parts`), others taken with Arrow."""

    values: pa.Array
    indices: Any  # int64 numpy


def inspector_parts(ids: Sequence[str] | pa.Array, matrix: Any) -> list[Any]:
    """:func:`inspector_lists` of ``[[ids[k] for k in row] for row in matrix]``, column-wise and
    not yet joined: the pieces ``[``, a literal per slot (a :class:`Taken` each, docs/adr/0129),
    ``,``, ``]`` that :func:`object_strings` joins with the rest of each object in one pass
    (ADR 0163). ``ids`` may already be :func:`inspector_literals`."""
    literals = ids if isinstance(ids, pa.Array) else inspector_literals(ids)
    parts: list[Any] = ["["]
    for j in range(matrix.shape[1]):
        if j:
            parts.append(",")
        parts.append(Taken(literals, np.ascontiguousarray(matrix[:, j], dtype=np.int64)))
    parts.append("]")
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
            parts += [f'{literal}"{name}":"', table.column(name).combine_chunks()]
            literal = '",'
        else:
            parts += [f'{literal}"{name}":', json_strings(table.column(name).combine_chunks())]
            literal = ","
    for name, value in extra.items():
        parts.append(f'{literal}"{name}":')
        parts += value if isinstance(value, list) else [value]
        literal = ","
    parts.append(literal[:-1] + "},")  # closes a plain column's quote if last
    return join_parts(parts, table.num_rows)


def join_parts(parts: Sequence[Any], rows: int) -> pa.Array:
    """Each row's pieces concatenated: ``parts`` are literals (``str`` or string scalars, the same
    in every row), string arrays of ``rows`` values, or :class:`Taken`.

    ``binary_join_element_wise`` pays about as much for a literal as for a column, per row and
    piece (17 pieces: 7.5 ms for 40k targets). So each run of literals and fixed-width values (a
    USCC, a region code, an inspector id's literal) is first laid out by numpy as one block of
    equal rows, one structured copy per piece; the join then sees five pieces, not 17."""
    pieces: list[Any] = []
    run: list[tuple[str | None, Any]] = []  # (literal, None) or (None, (values, indices, width))

    def flush() -> None:
        if any(lit is None for lit, _ in run):
            block = _block(run, rows)
            if block is not None:
                pieces.append(block)
                run.clear()
                return
        text = ""
        for lit, arr in run:
            if lit is not None:
                text += lit
                continue
            if text:
                pieces.append(string_scalar(text))
                text = ""
            pieces.append(_made(arr[0], arr[1]))
        if text:
            pieces.append(string_scalar(text))
        run.clear()

    for part in parts:
        if isinstance(part, str):
            run.append((part, None))
        elif isinstance(part, pa.Scalar):
            run.append((part.as_py(), None))
        else:
            values, indices = (part.values, part.indices) if isinstance(part, Taken) else (part, None)
            if isinstance(values, pa.ChunkedArray):
                values = values.combine_chunks()
            width = _width(values)
            if width is not None:
                run.append((None, (values, indices, width)))
            else:
                flush()
                pieces.append(_made(values, indices))
    flush()
    if not any(isinstance(p, pa.Array) for p in pieces):  # literals only: the same every row
        return string_array(["".join(p.as_py() for p in pieces)] * rows)
    if len(pieces) == 1:
        only: pa.Array = pieces[0]
        return only
    out: pa.Array = pc.binary_join_element_wise(*pieces, string_scalar(""))
    return out


def _made(values: pa.Array, indices: Any) -> pa.Array:
    return values if indices is None else values.take(int64_numpy(indices))


def _width(values: pa.Array) -> int | None:
    """The byte width every value of ``values`` has, or ``None`` (nulls, other widths, large)."""
    if values.type != pa.string() or values.null_count or not len(values):
        return None
    offsets = _offsets(values)
    width = int(offsets[1] - offsets[0])
    return width if bool(np.all(np.diff(offsets) == width)) else None


def _offsets(values: pa.Array) -> Any:
    """A string array's value offsets (its slice's), without a copy."""
    return np.frombuffer(values.buffers()[1], np.int32, len(values) + 1, values.offset * 4)


def _block(run: list[tuple[str | None, Any]], rows: int) -> pa.Array | None:
    """The run laid out as ``rows`` equal rows (literals and fixed-width values, in order), or
    ``None`` if the block would outgrow 32-bit string offsets."""
    fields: list[tuple[int, Any, Any]] = []  # (width, literal bytes or values matrix, indices)
    for lit, arr in run:
        if lit is not None:
            data = lit.encode("utf-8")
            if data:
                fields.append((len(data), data, None))
            continue
        values, indices, width = arr  # as join_parts measured it
        if width:
            first = int(_offsets(values)[0])
            matrix = np.frombuffer(values.buffers()[2], np.uint8, len(values) * width, first)
            fields.append((width, matrix.reshape(len(values), width), indices))
    size = sum(w for w, _, _ in fields)
    if not size or rows * size >= 2**31:
        return None
    layout = np.dtype(
        {
            "names": [f"f{k}" for k in range(len(fields))],
            "formats": [f"V{w}" for w, _, _ in fields],
            "offsets": list(itertools.accumulate((w for w, _, _ in fields[:-1]), initial=0)),
            "itemsize": size,
        }
    )
    out = np.empty(rows, dtype=layout)
    template = b"".join(v if isinstance(v, bytes) else bytes(w) for w, v, _ in fields)
    out.view(f"V{size}")[:] = np.void(template)  # every literal in one pass, values below
    for k, (width, value, indices) in enumerate(fields):
        if not isinstance(value, bytes):
            cells = value.view(f"V{width}").reshape(-1)
            out[f"f{k}"] = cells if indices is None else cells[indices]
    offsets = np.arange(0, rows * size + 1, size, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(out)])


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
