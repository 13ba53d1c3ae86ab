"""Rejected rows → JSON Lines (masked raw values + every reason) and the report's error sample."""

from __future__ import annotations

import json

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

    Byte-identical to ``json.dumps(row, ensure_ascii=False)`` per row, but assembled from
    pieces encoded once: each header and each (code, column, message) once per file, each
    value by the C string escaper. Values are text or null (the readers' contract)."""
    rows = row_errors(v, lines)
    if not rows:
        return b""
    idx = pa.array([i for i, _ in rows], pa.int64())
    columns = []
    for name in raw.column_names:
        key = _text(original_names.get(name, name)) + ": "
        values = mask_array(pc.take(raw.column(name), idx)).to_pylist()
        columns.append([key + ("null" if x is None else _text(x)) for x in values])
    reasons: dict[tuple[str | None, str, str], str] = {}
    out = []
    for (_, errs), parts in zip(rows, zip(*columns, strict=True), strict=True):
        why = []
        for _line, col, code, msg in errs:
            piece = reasons.get((col, code, msg))
            if piece is None:
                piece = json.dumps({"code": code, "column": col, "message": msg}, ensure_ascii=False)
                reasons[(col, code, msg)] = piece
            why.append(piece)
        out.append(
            f'{{"line": {errs[0][0]}, "values": {{{", ".join(parts)}}}, "reasons": [{", ".join(why)}]}}'
        )
    return ("\n".join(out) + "\n").encode("utf-8")


_text = json.encoder.encode_basestring  # what json.dumps(..., ensure_ascii=False) uses for str
