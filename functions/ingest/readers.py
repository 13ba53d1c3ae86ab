"""Uploaded bytes → a table of string columns named by the contract, plus source line numbers.

Every format is read as text first (Parquet values are cast to text) so validation has one code
path. CSV encodings are detected, not configured: a UTF-8 BOM, else strict UTF-8, else GB18030
(a superset of GBK), else the file is rejected (docs/adr/0011).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from functions.errors import FileRejected
from functions.ingest import workers
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
    sheet: str | None = None  # the spreadsheet's sheet that was read


def _reject(reason: str, message: str, **details: Any) -> FileRejected:
    return FileRejected(mask_text(message), reason=reason, **details)


_NULL_TEXT = pa.scalar(None, pa.string())


def _clean(col: pa.ChunkedArray) -> pa.Array:
    """One contiguous text array, trimmed (Unicode whitespace), empty → null.

    The trim kernel is its own change detector: when it removes no byte, the column is kept
    as is, so clean columns cost one trim pass and no copy (docs/adr/0014); empty values become
    null through a new validity bitmap over the same buffers (docs/adr/0090)."""
    c = _to_text(col) if col.type != pa.string() else col
    arr = c.chunk(0) if c.num_chunks == 1 else c.combine_chunks()
    trimmed = _trim(arr)
    if _value_bytes(trimmed) != _value_bytes(arr):
        arr = trimmed
    return _empty_to_null(arr)


def _trim(arr: pa.Array) -> pa.Array:
    """Unicode whitespace trim; for pure-ASCII text without U+001C–U+001F (the only ASCII
    whitespace the ASCII kernel leaves alone) the faster ASCII kernel gives the same result."""
    if len(arr) > arr.null_count:
        off = _offsets(arr)
        data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[off[0] : off[-1]]
        if data.size and data.max() < 0x80 and not ((data - np.uint8(0x1C)) < 4).any():
            return pc.ascii_trim_whitespace(arr)
    return pc.utf8_trim_whitespace(arr)


def _empty_to_null(arr: pa.Array) -> pa.Array:
    """Empty values → null: a validity bitmap over the same offsets and data (no copy)."""
    n = len(arr)
    if n == arr.null_count:
        return arr
    off = _offsets(arr)
    valid = off[1:] > off[:-1]
    if valid.all():
        return arr
    if arr.null_count:
        valid &= np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False))
    if not valid.any():
        return pa.nulls(n, pa.string())
    if arr.offset:
        return pc.if_else(pc.equal(arr, ""), _NULL_TEXT, arr)
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    nulls = n - int(np.count_nonzero(valid))
    return pa.Array.from_buffers(pa.string(), n, [bitmap, *arr.buffers()[1:]], null_count=nulls)


def _offsets(arr: pa.Array) -> np.ndarray:
    return np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]


def _value_bytes(arr: pa.Array) -> int:
    if len(arr) == 0:
        return 0
    off = _offsets(arr)
    return int(off[-1] - off[0])


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


# -- streaming (docs/adr/0084) -----------------------------------------------------------------
# A file is read in chunks of whole lines (CSV and JSON Lines hold one row per line: quoted
# newlines are not supported, ADR 0011), each parsed by Arrow on every core, cleaned and handed
# on as one batch; memory is a few chunks whatever the file size. A newline byte never occurs
# inside a UTF-8 or GB18030 character, so a chunk boundary never splits one.

CHUNK_BYTES = 8 << 20  # raw text per batch: ~60k penalty rows, 8 of Arrow's parallel 1 MB blocks
PARQUET_BATCH_ROWS = 1 << 18
SPREADSHEETS = ("xlsx", "xls")

Source = str | Path | bytes  # a local file, or bytes already in hand


class RestartAsGB18030(Exception):
    """The sniffed prefix was UTF-8 but a later chunk is not: the caller drops what it has done
    with this file and iterates ``batches()`` again (now decoding GB18030 from the start)."""


@dataclass
class Batch:
    table: pa.Table  # normalised string columns: contract names, then extras (``__extra__<i>``)
    lines: pa.Array  # int64 source line/row numbers
    out_of_scope: pa.Array  # bool, no nulls: rows outside the platform's scope (natural persons)
    out_of_scope_reason: str | None
    original_names: dict[str, str]  # table column → uploaded header

    def in_scope(self) -> tuple[pa.Table, pa.Array, int]:
        """(table, lines) of the rows in scope, and how many rows were not."""
        out = int(pc.sum(self.out_of_scope).as_py() or 0)
        if not out:
            return self.table, self.lines, 0
        keep = pc.invert(self.out_of_scope)
        return self.table.filter(keep), self.lines.filter(keep), out


class StreamReader:
    """An uploaded file as a sequence of cleaned, contract-named batches.

    The header is resolved once by the mapping profile (``plan``, docs/adr/0080) before the
    first batch, and each batch is normalised by that plan; ``batches()`` may be called again
    to read the file a second time (the duplicate-key confirmation, an encoding restart)."""

    def __init__(
        self,
        source: Source,
        fmt: str,
        spec: DatasetSpec,
        *,
        chunk_bytes: int = CHUNK_BYTES,
        parquet_rows: int = PARQUET_BATCH_ROWS,
        profile: Profile | None = None,
    ) -> None:
        self.source, self.spec = source, spec
        self.profile = profile or load_profile()
        self.plan: ColumnPlan | None = None
        self.original_names: dict[str, str] = {}
        self.gz = fmt.endswith(".gz")
        self.fmt = fmt[: -len(".gz")] if self.gz else fmt
        self.chunk_bytes, self.parquet_rows = chunk_bytes, parquet_rows
        self.encoding: str | None = None
        self.sheet: str | None = None  # a spreadsheet: the sheet read (chosen by name or header)
        self.newline = b"\n"
        self.headers: list[str] = []
        self.mapping: dict[str, str] = {}
        self.ignored: list[str] = []
        self.table_first_line = 1
        self._table: pa.Table | None = None
        self._table_lines: pa.Array | None = None
        if (len(source) if isinstance(source, bytes) else os.path.getsize(source)) == 0:
            raise _reject("empty_file", "the file is empty (0 bytes)")
        if self.fmt not in ("csv", "jsonl", "parquet", *SPREADSHEETS) or (
            self.gz and self.fmt in ("parquet", *SPREADSHEETS)
        ):
            raise _reject("unsupported_format", f"unsupported format {fmt!r}")
        if self.fmt in SPREADSHEETS:
            # xlsx/xls are read whole (docs/adr/0081), then served in batches
            data = self.source if isinstance(self.source, bytes) else Path(self.source).read_bytes()
            sheet = read_sheet(data, spec, self.profile)
            self.sheet = sheet.name
            self._use_table(sheet.table, list(sheet.headers), sheet.lines, sheet.header_row + 1)
        elif self.fmt == "parquet":
            self._open_parquet()
        else:
            self._sniff()

    def _resolve(self, headers: list[str]) -> None:
        """Header → contract columns by the profile, once per file (a later JSON key extends it)."""
        self.plan = resolve_headers(headers, self.spec, self.profile)
        self.mapping, self.ignored = self.plan.header_mapping, list(self.plan.ignored)
        self.headers = headers

    # -- raw bytes -------------------------------------------------------------------------
    def _open(self) -> pa.NativeFile:
        raw = pa.BufferReader(self.source) if isinstance(self.source, bytes) else pa.OSFile(str(self.source))
        return pa.CompressedInputStream(raw, "gzip") if self.gz else raw

    def _read(self, stream: pa.NativeFile, n: int) -> pa.Buffer:
        try:
            return stream.read_buffer(n)
        except (OSError, pa.ArrowInvalid) as exc:
            if self.gz:
                raise _reject("bad_format", f"not a gzip file: {exc}") from None
            raise

    def _chunks(self) -> Iterator[pa.Buffer]:
        """Whole lines, about ``chunk_bytes`` at a time, UTF-8 (BOM removed; GB18030 transcoded).

        Lines end at ``\\n`` or, in a file without any (old Mac exports), at ``\\r``."""
        with self._open() as stream:
            skip = len(BOM) if self.encoding == "utf-8-sig" else 0
            chunks = self._gzip_chunks(stream, skip) if self.gz else self._file_chunks(stream, skip)
            for chunk in chunks:
                yield self._decode(chunk)

    def _file_chunks(self, stream: pa.NativeFile, pos: int) -> Iterator[pa.Buffer]:
        """An uncompressed file cut without copying (docs/adr/0090): a block is read into a buffer
        of Arrow's pool (which keeps its pages: no fresh page faults per block), cut after its
        last line end, and the stream moves back to the cut, so the partial last line is read
        again at the start of the next block rather than glued to it."""
        size = stream.size()
        while pos < size:
            stream.seek(pos)
            want = self.chunk_bytes
            block = self._read(stream, want)
            cut = block.size - 1 if pos + block.size >= size else _last_line_end(block, self.newline)
            while cut < 0:  # one line longer than a block: read on until it ends
                want *= 2
                stream.seek(pos)
                block = self._read(stream, want)
                cut = block.size - 1 if pos + block.size >= size else _last_line_end(block, self.newline)
            pos += cut + 1
            yield block.slice(0, cut + 1)

    def _gzip_chunks(self, stream: pa.NativeFile, skip: int) -> Iterator[pa.Buffer]:
        """A gzip stream cannot move back: the partial last line is carried to the next block."""
        if skip:
            self._read(stream, skip)
        rest: list[pa.Buffer] = []
        while True:
            block = self._read(stream, self.chunk_bytes)
            if not block.size:
                if rest:
                    yield _joined(rest)
                return
            cut = _last_line_end(block, self.newline)
            if cut < 0:
                rest.append(block)
                continue
            yield _joined([*rest, block.slice(0, cut + 1)])
            rest = [block.slice(cut + 1)] if cut + 1 < block.size else []

    def _decode(self, chunk: pa.Buffer) -> pa.Buffer:
        if self.encoding == "gb18030":
            try:
                chunk = pa.py_buffer(chunk.to_pybytes().decode("gb18030").encode("utf-8"))
            except UnicodeDecodeError:
                raise _reject(
                    "bad_encoding",
                    "neither UTF-8 nor GB18030/GBK (an undecodable byte after the first 64 KiB)",
                ) from None
        elif self.fmt == "jsonl":  # Arrow's JSON reader does not check UTF-8 strictly
            self._check_utf8(chunk)
        return chunk

    def _check_utf8(self, chunk: pa.Buffer) -> None:
        try:
            chunk.to_pybytes().decode("utf-8")
        except UnicodeDecodeError:
            self._not_utf8()

    def _not_utf8(self) -> None:
        if self.encoding == "utf-8-sig":
            raise _reject("bad_encoding", "the BOM says UTF-8 but the file is not UTF-8") from None
        self._sniff(force_gb18030=True)  # the header too is read again, as GB18030
        raise RestartAsGB18030

    def _sniff(self, *, force_gb18030: bool = False) -> None:
        with self._open() as stream:
            head = self._read(stream, 1 << 16).to_pybytes()
            more = len(head) == 1 << 16 and bool(self._read(stream, 1).size)
        # Line ends: \n (and \r\n); a file with \r alone (old Mac exports) ends its lines there.
        self.newline = b"\r" if b"\n" not in head and b"\r" in head else b"\n"
        if force_gb18030:
            body = head
            self.encoding = "gb18030"
        elif head.startswith(BOM):
            body = head[len(BOM) :]
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                if not (more and exc.start >= len(body) - 4):
                    raise _reject(
                        "bad_encoding", f"BOM says UTF-8 but byte {exc.start + 3} is not UTF-8"
                    ) from None
            self.encoding = "utf-8-sig"
        else:
            body = head
            self.encoding = "utf-8" if _sniff_utf8(head + (b"\0" if more else b"")) else "gb18030"
        if self.encoding == "gb18030":
            try:
                text = body.decode("gb18030", errors="strict" if not more else "ignore")
            except UnicodeDecodeError as exc:
                raise _reject(
                    "bad_encoding", f"neither UTF-8 nor GB18030/GBK (undecodable byte at offset {exc.start})"
                ) from None
        else:
            text = body.decode("utf-8", errors="ignore")
        if self.fmt == "csv":
            self._csv_header(text)
        elif not text.strip():
            raise _reject("empty_file", "the file is empty")

    def _csv_header(self, head: str) -> None:
        if not head.strip():
            raise _reject("empty_file", "the file is empty (a header row is required)")
        try:
            headers = next(csv.reader(io.StringIO(head, newline=None)))  # any line end
        except (StopIteration, csv.Error):
            raise _reject("empty_file", "no header row") from None
        if not any(h.strip() for h in headers):
            raise _reject("empty_file", "the header row is empty")
        if len(set(headers)) != len(headers):
            dup = next(h for h in headers if headers.count(h) > 1)
            raise _reject("duplicate_column", f"header {dup!r} appears twice")
        self._resolve(headers)

    # -- batches -------------------------------------------------------------------------------
    @classmethod
    def from_table(
        cls,
        table: pa.Table,
        spec: DatasetSpec,
        *,
        first_line: int,
        encoding: str | None = None,
        batch_rows: int = PARQUET_BATCH_ROWS,
        profile: Profile | None = None,
    ) -> StreamReader:
        """A file only readable whole (a spreadsheet sheet, already text, columns named by its
        header row) served in batches like the others; ``first_line``: its first data row's line."""
        self = cls.__new__(cls)
        self.source, self.spec, self.gz, self.fmt = b"", spec, False, "table"
        self.chunk_bytes, self.parquet_rows = 0, batch_rows
        self.profile, self.plan, self.original_names = profile or load_profile(), None, {}
        self.encoding, self.mapping, self.ignored, self.headers = encoding, {}, [], []
        self.newline, self.sheet = b"\n", None
        self._use_table(table, list(table.column_names), None, first_line)
        return self

    def _use_table(
        self, table: pa.Table, headers: list[str], lines: pa.Array | None, first_line: int
    ) -> None:
        """Serve ``table`` (text, one column per header) in batches; ``lines``: each row's own
        line number (default: consecutive from ``first_line``)."""
        self.fmt = "table"
        self._table, self._table_lines, self.table_first_line = table, lines, first_line
        self._resolve(headers)

    def batches(self) -> Iterator[Batch]:
        if self.fmt == "table":
            return self._table_batches()
        if self.fmt == "csv":
            return self._csv_batches()
        if self.fmt == "jsonl":
            return self._jsonl_batches()
        return self._parquet_batches()

    def _csv_batches(self) -> Iterator[Batch]:
        line = 2
        first = True
        for chunk in self._chunks():
            try:
                table = _parse_csv(chunk, self.headers, header_row=first)
            except pa.ArrowInvalid as exc:
                text = str(exc).lower().replace("-", "")
                if "utf8" in text and self.encoding != "gb18030":
                    self._not_utf8()
                raise _reject("bad_format", f"not a valid CSV file: {exc}") from None
            first = False
            if table.num_rows:
                yield self._batch(table, line)
                line += table.num_rows

    def _jsonl_batches(self) -> Iterator[Batch]:
        line = 1  # physical line number of the chunk's first line
        for buf in self._chunks():
            chunk = buf.to_pybytes()
            if self.newline != b"\n":
                chunk = chunk.replace(self.newline, b"\n")  # Arrow's JSON reader splits at \n only
            parts = chunk.split(b"\n")
            if chunk.endswith(b"\n"):
                parts.pop()
            if any(p.strip() for p in parts):
                try:
                    table = pajson.read_json(io.BytesIO(chunk))
                except pa.ArrowInvalid:
                    table = _jsonl_fallback(chunk, line)
                headers = self.headers + [h for h in table.column_names if h not in self.headers]
                if headers != self.headers:
                    self._resolve(headers)
                table = pa.table(
                    [
                        table.column(h) if h in table.column_names else pa.nulls(table.num_rows)
                        for h in headers
                    ],
                    names=headers,
                )
                lines = [line + i for i, ln in enumerate(parts) if ln.strip()]
                batch = self._batch(table, line)
                if len(lines) == batch.table.num_rows:
                    batch.lines = pa.array(lines, pa.int64())
                yield batch
            line += len(parts)
        if not self.headers:
            raise _reject("empty_file", "the file is empty")

    def _open_parquet(self) -> None:
        try:
            src = pa.BufferReader(self.source) if isinstance(self.source, bytes) else str(self.source)
            self._pq = pq.ParquetFile(src)
        except (pa.ArrowInvalid, OSError) as exc:
            raise _reject("bad_format", f"not a valid Parquet file: {exc}") from None
        names = self._pq.schema_arrow.names
        if not names:
            raise _reject("empty_file", "the Parquet file has no columns")
        self._resolve(list(names))

    def _parquet_batches(self) -> Iterator[Batch]:
        line = 1
        try:
            for rb in self._pq.iter_batches(batch_size=self.parquet_rows):
                table = pa.Table.from_batches([rb])
                yield self._batch(table, line)
                line += table.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            raise _reject("bad_format", f"not a valid Parquet file: {exc}") from None

    def _table_batches(self) -> Iterator[Batch]:
        table = self._table
        assert table is not None
        for start in range(0, table.num_rows, self.parquet_rows):
            part = table.slice(start, self.parquet_rows)
            batch = self._batch(part, self.table_first_line + start)
            if self._table_lines is not None:
                batch.lines = self._table_lines.slice(start, self.parquet_rows)
            yield batch

    def _batch(self, table: pa.Table, first_line: int) -> Batch:
        assert self.plan is not None
        headers = self.headers
        dropped = set(self.plan.dropped_personal)
        # Kernels release the GIL: columns are cleaned on both cores. Personal-data columns are
        # not cleaned: normalise reads only whether they hold a value, then drops them.
        pool = workers.pool()
        cols = list(
            pool.map(
                lambda i: table.column(i) if headers[i] in dropped else _clean(table.column(i)),
                range(len(headers)),
            )
        )
        raw = pa.Table.from_arrays(cols, names=list(headers)) if headers else table
        norm = normalise(raw, self.plan, self.profile)
        self.original_names = norm.original_names
        n = table.num_rows
        lines = (
            pa.array(range(first_line, first_line + n), pa.int64()) if n < 4096 else _arange(first_line, n)
        )
        return Batch(norm.table, lines, norm.out_of_scope, norm.out_of_scope_reason, norm.original_names)


def _last_line_end(buf: pa.Buffer, newline: bytes) -> int:
    """Offset of the last ``newline`` byte in ``buf`` (-1: none), looking back from the end."""
    view = memoryview(buf)
    end: int = buf.size
    step = 1 << 12
    while end > 0:
        start = max(0, end - step)
        i = bytes(view[start:end]).rfind(newline)
        if i >= 0:
            return start + i
        end, step = start, step * 8
    return -1


def _joined(parts: list[pa.Buffer]) -> pa.Buffer:
    return parts[0] if len(parts) == 1 else pa.py_buffer(b"".join(p.to_pybytes() for p in parts))


_PARSE = pacsv.ParseOptions(newlines_in_values=False)


def _parse_csv(body: pa.Buffer | bytes, headers: list[str], *, header_row: bool = True) -> pa.Table:
    """Every column as text. Empty values stay empty strings here (Arrow's null detection would
    cost a compare per value); ``_clean`` turns them to null without a pass over the text."""
    return pacsv.read_csv(
        pa.BufferReader(body),  # zero-copy; a Python file object would copy every block
        read_options=pacsv.ReadOptions(column_names=None if header_row else headers),
        parse_options=_PARSE,
        convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in headers}),
    )


def read_stream(reader: StreamReader) -> ReadResult:
    """Every batch of ``reader`` in one table (small files, tests, the CLI's dry runs)."""
    while True:
        try:
            batches = list(reader.batches())
            break
        except RestartAsGB18030:
            continue
    if batches:
        names = batches[-1].table.column_names
        table = pa.concat_tables([_with_columns(b.table, names) for b in batches])
        table = pa.Table.from_arrays([_contiguous_text(c) for c in table.columns], names=names)
        lines = pa.concat_arrays([b.lines for b in batches])
        out_of_scope = pa.concat_arrays([b.out_of_scope for b in batches])
        reason = next((b.out_of_scope_reason for b in batches if b.out_of_scope_reason), None)
    else:
        assert reader.plan is not None
        empty = pa.table({h: pa.array([], pa.string()) for h in reader.headers})
        norm = normalise(empty, reader.plan, reader.profile)
        table, lines, out_of_scope, reason = norm.table, pa.array([], pa.int64()), norm.out_of_scope, None
        reader.original_names = norm.original_names
    return ReadResult(
        table,
        lines,
        reader.encoding,
        reader.mapping,
        reader.ignored,
        reader.original_names,
        reader.plan,
        out_of_scope,
        reason,
        reader.sheet,
    )


def _with_columns(table: pa.Table, names: list[str]) -> pa.Table:
    """``table`` with exactly ``names`` (a JSON key first seen in a later batch: null before)."""
    n = table.num_rows
    have = set(table.column_names)
    cols = [table.column(c) if c in have else pa.nulls(n, pa.string()) for c in names]
    return pa.Table.from_arrays(cols, names=names)


def _contiguous_text(col: pa.ChunkedArray) -> pa.Array:
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def read_csv(data: bytes, spec: DatasetSpec, profile: Profile | None = None) -> ReadResult:
    return read_stream(StreamReader(data, "csv", spec, profile=profile))


def read_jsonl(data: bytes, spec: DatasetSpec, profile: Profile | None = None) -> ReadResult:
    return read_stream(StreamReader(data, "jsonl", spec, profile=profile))


def _jsonl_fallback(body: bytes, first_line: int = 1) -> pa.Table:
    """Mixed value types in one column (``2024`` and ``"2024"``): parse per line, all as text."""
    rows: list[dict[str, object]] = []
    for i, line in enumerate(body.split(b"\n"), start=first_line):
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
    return read_stream(StreamReader(data, "parquet", spec, profile=profile))


def read(data: bytes, fmt: str, spec: DatasetSpec, profile: Profile | None = None) -> ReadResult:
    """The whole file at once (dispatch on the format named by the file extension); ``profile``
    maps the headers (default: the national profile)."""
    return read_stream(StreamReader(data, fmt, spec, profile=profile))
