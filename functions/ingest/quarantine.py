"""Rejected rows → JSON Lines (masked raw values + every reason) and the report's error sample."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from functions.ingest.personal_data import mask_array
from functions.ingest.validate import Validated
from schemas.ingest import RowError

MAX_REPORT_ERRORS = 100


Err = tuple[int, str | None, str, str]  # line, column, code, message


def row_errors(v: Validated, lines: pa.Array, limit: int | None = None) -> list[tuple[int, list[Err]]]:
    """(row index, its errors) for failing rows in file order; only failing rows are touched."""
    idx = pc.indices_nonzero(v.failed)
    if limit is not None:
        idx = idx.slice(0, limit)
    if len(idx) == 0:
        return []
    row_lines = pc.take(lines, idx).to_pylist()
    per_row: list[list[Err]] = [[] for _ in range(len(idx))]
    for c in v.checks:
        hits = pc.indices_nonzero(pc.take(c.fails, idx)).to_pylist()
        for i in hits:
            per_row[i].append((row_lines[i], c.column, c.code, c.message))
    return list(zip(idx.to_pylist(), per_row, strict=True))


def first_errors(v: Validated, lines: pa.Array, limit: int = MAX_REPORT_ERRORS) -> list[RowError]:
    out: list[RowError] = []
    for _, errs in row_errors(v, lines, limit=limit):
        out.extend(RowError(line=ln, column=col, code=code, message=msg) for ln, col, code, msg in errs)
        if len(out) >= limit:
            break
    return out[:limit]


def quarantine_jsonl(raw: pa.Table, v: Validated, lines: pa.Array, original_names: dict[str, str]) -> bytes:
    """One JSON object per rejected row: line, the uploaded values (masked), reasons.

    Byte-identical to ``json.dumps(row, ensure_ascii=False)`` per row, but assembled column by
    column with Arrow's string kernels, without a Python step per row (docs/adr/0090): each
    header and each (code, column, message) is encoded once, a value is quoted as it is unless
    it holds a character JSON escapes (then the C string escaper encodes that value alone).
    Values are text or null (the readers' contract)."""
    idx = pc.indices_nonzero(v.failed)
    if len(idx) == 0:
        return b""
    values = []
    for name in raw.column_names:
        key = _text(original_names.get(name, name)) + ": "
        col = mask_array(pc.take(raw.column(name), idx))
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        values.append(pc.binary_join_element_wise(key, pc.fill_null(_quoted(col), "null"), ""))
    reasons = []
    for c in v.checks:
        piece = json.dumps({"code": c.code, "column": c.column, "message": c.message}, ensure_ascii=False)
        reasons.append(pc.if_else(pc.take(c.fails, idx), piece, _NULL_TEXT))
    out = pc.binary_join_element_wise(
        '{"line": ',
        pc.cast(pc.take(lines, idx), pa.string()),
        ', "values": {',
        pc.binary_join_element_wise(*values, ", "),
        '}, "reasons": [',
        pc.binary_join_element_wise(*reasons, ", ", null_handling="skip"),
        "]}\n",
        "",
    )
    offsets = np.frombuffer(out.buffers()[1], dtype=np.int32)[out.offset : out.offset + len(out) + 1]
    data = out.buffers()[2]
    text: bytes = data.slice(int(offsets[0]), int(offsets[-1] - offsets[0])).to_pybytes()
    return text


_NULL_TEXT = pa.scalar(None, pa.string())
_ESCAPED = r'[\x00-\x1f"\\]'  # what the JSON encoder escapes (ensure_ascii=False)
_text = json.encoder.encode_basestring  # what json.dumps(..., ensure_ascii=False) uses for str


def _quoted(col: pa.Array) -> pa.Array:
    """Each value as a JSON string (null stays null)."""
    plain = pc.binary_join_element_wise('"', col, '"', "")
    special = pc.fill_null(pc.match_substring_regex(col, _ESCAPED), False)
    if not pc.any(special).as_py():
        return plain
    escaped = [_text(x) for x in col.filter(special).to_pylist()]
    return pc.replace_with_mask(plain, special, pa.array(escaped, pa.string()))
