"""Uploaded bytes → a table of string columns named by the contract, plus source line numbers.

Every format is read as text first (Parquet values are cast to text) so validation has one code
path. CSV encodings are detected, not configured: a UTF-8 BOM, else strict UTF-8, else GB18030
(a superset of GBK), else the file is rejected (docs/adr/0011).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from functions.errors import FileRejected
from functions.ingest.normalise import normalise
from functions.ingest.personal_data import mask_text
from functions.ingest.profiles import ColumnPlan, Profile, load_profile, resolve_headers
from functions.ingest.spreadsheets import read_sheet
from schemas.datasets import DatasetSpec

BOM = b"\xef\xbb\xbf"


@dataclass
class ReadResult:
    table: pa.Table  # string columns: contract names for known ones, original names for extras
    lines: pa.Array  # int64, 1-based source line/row number of each row
    encoding: str | None
    header_mapping: dict[str, str]  # uploaded header → contract column
    ignored_columns: list[str] = field(default_factory=list)
    original_names: dict[str, str] = field(default_factory=dict)  # table column → uploaded header
    plan: ColumnPlan | None = None  # the mapping profile's plan for this file (docs/adr/0080)
    out_of_scope: pa.Array | None = None  # bool per row: outside the platform's scope
    out_of_scope_reason: str | None = None


def _reject(reason: str, message: str, **details: Any) -> FileRejected:
    return FileRejected(mask_text(message), reason=reason, **details)


def decompress(data: bytes) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise _reject("bad_format", f"not a gzip file: {exc}") from None


def decode_text(data: bytes) -> tuple[bytes, str]:
    """UTF-8 bytes without BOM and the detected encoding name."""
    if data.startswith(BOM):
        body = data[len(BOM) :]
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _reject("bad_encoding", f"BOM says UTF-8 but byte {exc.start + 3} is not UTF-8") from None
        return body, "utf-8-sig"
    try:
        data.decode("utf-8")
        return data, "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030").encode("utf-8"), "gb18030"
    except UnicodeDecodeError as exc:
        raise _reject(
            "bad_encoding", f"neither UTF-8 nor GB18030/GBK (undecodable byte at offset {exc.start})"
        ) from None


def _finish(
    table: pa.Table,
    headers: list[str],
    spec: DatasetSpec,
    first_line: int,
    enc: str | None,
    *,
    empties_are_null: bool = False,
    profile: Profile | None = None,
) -> ReadResult:
    profile = profile or load_profile()
    plan = resolve_headers(headers, spec, profile)
    dropped = set(plan.dropped_personal)
    # Kernels release the GIL: columns are cleaned on both cores. Personal-data columns are not
    # cleaned: normalise reads only whether they hold a value, then drops them.
    with ThreadPoolExecutor(max_workers=2) as pool:
        cols = list(
            pool.map(
                lambda i: (
                    table.column(i) if headers[i] in dropped else _clean(table.column(i), empties_are_null)
                ),
                range(len(headers)),
            )
        )
    batch = pa.Table.from_arrays(cols, names=list(headers)) if headers else table
    norm = normalise(batch, plan, profile)
    n = table.num_rows
    lines = pa.array(range(first_line, first_line + n), pa.int64()) if n < 4096 else _arange(first_line, n)
    return ReadResult(
        norm.table,
        lines,
        enc,
        plan.header_mapping,
        list(plan.ignored),
        norm.original_names,
        plan,
        norm.out_of_scope,
        norm.out_of_scope_reason,
    )


_NULL_TEXT = pa.scalar(None, pa.string())


def _clean(col: pa.ChunkedArray, empties_are_null: bool) -> pa.Array:
    """One contiguous text array, trimmed (Unicode whitespace), empty → null.

    The trim kernel is its own change detector: when it removes no byte, the column is kept
    as is, so clean columns cost one trim pass and no copy (docs/adr/0014)."""
    c = (_to_text(col) if col.type != pa.string() else col).combine_chunks()
    trimmed = _trim(c)
    if _value_bytes(trimmed) != _value_bytes(c):
        c, empties_are_null = trimmed, False  # a value of blanks is now empty
    if not empties_are_null and _has_empty(c):
        c = pc.if_else(pc.equal(c, ""), _NULL_TEXT, c)
    return c


def _trim(arr: pa.Array) -> pa.Array:
    """Unicode whitespace trim; for pure-ASCII text without U+001C–U+001F (the only ASCII
    whitespace the ASCII kernel leaves alone) the faster ASCII kernel gives the same result."""
    if len(arr) > arr.null_count:
        off = _offsets(arr)
        data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[off[0] : off[-1]]
        if data.size and data.max() < 0x80 and not ((data - np.uint8(0x1C)) < 4).any():
            return pc.ascii_trim_whitespace(arr)
    return pc.utf8_trim_whitespace(arr)


def _offsets(arr: pa.Array) -> np.ndarray:
    return np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]


def _value_bytes(arr: pa.Array) -> int:
    if len(arr) == 0:
        return 0
    off = _offsets(arr)
    return int(off[-1] - off[0])


def _has_empty(arr: pa.Array) -> bool:
    """Some non-null value is the empty string (nulls also have zero length: excluded)."""
    if len(arr) == arr.null_count:
        return False
    empty = np.diff(_offsets(arr)) == 0
    if not empty.any():
        return False
    if arr.null_count:
        empty &= np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False))
    return bool(empty.any())


def _arange(start: int, n: int) -> pa.Array:
    return pa.array(np.arange(start, start + n, dtype=np.int64))


def _to_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_timestamp(col.type):
        col = pc.cast(col, pa.date32())
    if pa.types.is_dictionary(col.type):
        col = pc.cast(col, col.type.value_type)
    try:
        return pc.cast(col, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise _reject("bad_format", f"a column of type {col.type} cannot be read as text") from None


def _sniff_utf8(data: bytes) -> bool:
    """Strict UTF-8 on the first 64 KiB (a character cut at the end is fine); Arrow checks the
    rest while parsing, so a UTF-8 file is never decoded in Python."""
    try:
        data[: 1 << 16].decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return exc.start >= (1 << 16) - 4 and len(data) > 1 << 16


def _parse_csv(body: bytes, headers: list[str]) -> pa.Table:
    return pacsv.read_csv(
        pa.BufferReader(body),  # zero-copy; a Python file object would copy every block
        parse_options=pacsv.ParseOptions(newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(
            column_types={h: pa.string() for h in headers},
            null_values=[""],
            strings_can_be_null=True,
        ),
    )


def read_csv(data: bytes, spec: DatasetSpec, profile: Profile | None = None) -> ReadResult:
    if data.startswith(BOM) or not _sniff_utf8(data):
        body, enc = decode_text(data)
    else:
        body, enc = data, "utf-8"
    head = body[: 1 << 16].decode("utf-8", errors="ignore")
    if not head.strip():
        raise _reject("empty_file", "the file is empty (a header row is required)")
    try:
        headers = next(csv.reader(io.StringIO(head)))
    except (StopIteration, csv.Error):
        raise _reject("empty_file", "no header row") from None
    if not any(h.strip() for h in headers):
        raise _reject("empty_file", "the header row is empty")
    if len(set(headers)) != len(headers):
        dup = next(h for h in headers if headers.count(h) > 1)
        raise _reject("duplicate_column", f"header {dup!r} appears twice")
    try:
        table = _parse_csv(body, headers)
    except pa.ArrowInvalid as exc:
        if enc != "utf-8" or "utf8" not in str(exc).lower().replace("-", ""):
            raise _reject("bad_format", f"not a valid CSV file: {exc}") from None
        body, enc = decode_text(data)  # invalid UTF-8 past the sniffed prefix: GB18030?
        try:
            table = _parse_csv(body, headers)
        except pa.ArrowInvalid as exc2:
            raise _reject("bad_format", f"not a valid CSV file: {exc2}") from None
    return _finish(table, headers, spec, 2, enc, empties_are_null=True, profile=profile)


def read_jsonl(data: bytes, spec: DatasetSpec, profile: Profile | None = None) -> ReadResult:
    body, enc = decode_text(data)
    if not body.strip():
        raise _reject("empty_file", "the file is empty")
    try:
        table = pajson.read_json(io.BytesIO(body))
    except pa.ArrowInvalid:
        table = _jsonl_fallback(body)
    lines = [i + 1 for i, ln in enumerate(body.split(b"\n")) if ln.strip()]
    headers = table.column_names
    result = _finish(table, headers, spec, 1, enc, profile=profile)
    if len(lines) == result.table.num_rows:
        result.lines = pa.array(lines, pa.int64())
    return result


def _jsonl_fallback(body: bytes) -> pa.Table:
    """Mixed value types in one column (``2024`` and ``"2024"``): parse per line, all as text."""
    rows: list[dict[str, object]] = []
    for i, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _reject("bad_format", f"line {i} is not JSON: {exc.msg}", line=i) from None
        if not isinstance(obj, dict):
            raise _reject("bad_format", f"line {i} is not a JSON object", line=i)
        rows.append(obj)
    names: list[str] = list(dict.fromkeys(k for r in rows for k in r))
    cols = {
        n: pa.array([None if r.get(n) is None else _json_text(r[n]) for r in rows], pa.string())
        for n in names
    }
    return pa.table(cols)


def _json_text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def read_parquet(data: bytes, spec: DatasetSpec, profile: Profile | None = None) -> ReadResult:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise _reject("bad_format", f"not a valid Parquet file: {exc}") from None
    if table.num_columns == 0:
        raise _reject("empty_file", "the Parquet file has no columns")
    return _finish(table, table.column_names, spec, 1, None, profile=profile)


def read_spreadsheet(data: bytes, spec: DatasetSpec, profile: Profile | None = None) -> ReadResult:
    """xlsx/xls: the dataset's sheet, header row found below any title rows (docs/adr/0081)."""
    profile = profile or load_profile()
    sheet = read_sheet(data, spec, profile)
    result = _finish(sheet.table, sheet.headers, spec, sheet.header_row + 1, None, profile=profile)
    result.lines = sheet.lines  # blank layout rows are skipped: the rows' own numbers
    return result


def read(data: bytes, fmt: str, spec: DatasetSpec, profile: Profile | None = None) -> ReadResult:
    """Dispatch on the format named by the file extension; ``profile`` maps the headers
    (default: the national profile)."""
    if not data:
        raise _reject("empty_file", "the file is empty (0 bytes)")
    if fmt.endswith(".gz"):
        data = decompress(data)
        fmt = fmt[: -len(".gz")]
    if fmt == "csv":
        return read_csv(data, spec, profile)
    if fmt == "jsonl":
        return read_jsonl(data, spec, profile)
    if fmt == "parquet":
        return read_parquet(data, spec, profile)
    if fmt in ("xlsx", "xls"):
        return read_spreadsheet(data, spec, profile)
    raise _reject("unsupported_format", f"unsupported format {fmt!r}")
