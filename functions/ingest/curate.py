"""Accepted rows → the curated table (contract columns in order, then lineage columns) and its
Parquet encoding.

Encoding choices (docs/adr/0015): zstd; no dictionary for values unique by construction (a
single-column dataset key, after duplicate rejection, and ``_source_line``), for USCC columns
(one value per entity: the dictionary only grows until the writer gives up on it, ADR 0116)
nor for floats (amounts are near-unique; zstd still folds repeats); min/max statistics only for non-text
columns (string min/max over unsorted text prunes nothing and costs the most), and for
``_ingest_id``: one value per file, so its min = max names the file's ingest for the
classification's ranked dedup (ADR 0036) without reading the column.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from functions.ingest import workers
from functions.ingest.validate import Validated
from schemas.datasets import DatasetSpec

CODEC = "zstd"
# Row groups are the unit of parallel reading for DuckDB and Athena: 256k rows keeps every core
# busy on a province's 1–2M-row files (at pyarrow's default of 1M rows, one core read each
# file) while each group stays a few MB of compressed columns (ADR 0038).
ROW_GROUP_ROWS = 1 << 18
LINE_COLUMN = "_source_line"
INGEST_COLUMN = "_ingest_id"


def curated_table(
    spec: DatasetSpec, v: Validated, lines: pa.Array, *, ingest_id: str, ingested_at: dt.datetime
) -> pa.Table:
    schema: pa.Schema = spec.curated_schema
    # Most batches of a real upload have no rejected row: their columns are taken as they are
    # (a filter would copy every value to drop none; ADR 0116).
    keep = pc.invert(v.failed) if v.rows_failed else None

    def accepted(name: str) -> pa.Array:
        values = v.typed[name] if keep is None else pc.filter(v.typed[name], keep)
        return values.cast(schema.field(name).type)

    # filter kernels release the GIL
    cols: list[pa.Array] = list(workers.pool().map(accepted, [f.name for f in spec.fields]))
    n = len(cols[0]) if cols else 0
    cols.append(pa.repeat(pa.scalar(ingest_id, pa.string()), n))
    cols.append(pa.repeat(pa.scalar(ingested_at, pa.timestamp("us", tz="UTC")), n))
    cols.append(lines if keep is None else pc.filter(lines, keep))
    return pa.Table.from_arrays(cols, schema=schema)


def _options(spec: DatasetSpec, schema: pa.Schema) -> dict[str, Any]:
    plain = {LINE_COLUMN} | (set(spec.key) if len(spec.key) == 1 else set())
    plain |= {f.name for f in spec.fields if f.kind == "uscc"}
    plain |= {f.name for f in schema if pa.types.is_floating(f.type)}
    return {
        "compression": CODEC,
        "use_dictionary": [c for c in schema.names if c not in plain],
        "write_statistics": [f.name for f in schema if not _is_text(f.type) or f.name == INGEST_COLUMN],
    }


class CuratedWriter:
    """The curated Parquet file written batch by batch, with the row groups one ``write_table``
    of the whole table would make (``ROW_GROUP_ROWS`` each, the last one shorter): accepted rows
    wait in memory until a full row group is there (docs/adr/0084).

    A local file is SHA-256-hashed as its bytes go out (``sha256()``), so the report's digest
    costs no read of the finished file (docs/adr/0136)."""

    def __init__(self, spec: DatasetSpec, where: str | Path | pa.NativeFile) -> None:
        self.schema: pa.Schema = spec.curated_schema
        self._hashing: _HashingFile | None = None
        sink: str | Path | pa.NativeFile = where
        if isinstance(where, str | Path):
            self._hashing = _HashingFile(where)
            sink = pa.BufferedOutputStream(pa.PythonFile(self._hashing, mode="w"), _SINK_BUFFER)
        self._sink = sink
        self._writer = pq.ParquetWriter(sink, self.schema, **_options(spec, self.schema))
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._closed = False
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            whole = pa.concat_tables(self._pending)
            full = (whole.num_rows // ROW_GROUP_ROWS) * ROW_GROUP_ROWS
            self._writer.write_table(whole.slice(0, full), row_group_size=ROW_GROUP_ROWS)
            rest = whole.slice(full)
            self._pending, self._pending_rows = [rest], rest.num_rows

    def close(self) -> None:
        """Write what waits and the footer (once; a second call does nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._pending_rows or not self.rows:
                whole = pa.concat_tables(self._pending) if self._pending else self.schema.empty_table()
                self._writer.write_table(whole, row_group_size=ROW_GROUP_ROWS)
            self._pending, self._pending_rows = [], 0
            self._writer.close()
        finally:
            if self._hashing is not None:
                assert isinstance(self._sink, pa.NativeFile)
                self._sink.close()  # flushes into the hashing file, which closes too

    def sha256(self) -> str:
        """Hex SHA-256 of the closed local file's bytes."""
        assert self._closed and self._hashing is not None
        return self._hashing.digest.hexdigest()


_SINK_BUFFER = 1 << 20  # Parquet writes many small pieces (page headers): hashed in 1 MB writes


class _HashingFile:
    """A local file that hashes what is written to it (what ``pa.PythonFile`` needs)."""

    def __init__(self, path: str | Path) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.digest = hashlib.sha256()
        self.closed = False

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self._file.write(data)

    def tell(self) -> int:
        return self._file.tell()

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        self.closed = True


def parquet_bytes(spec: DatasetSpec, table: pa.Table) -> bytes:
    """The curated file's bytes of a table in hand (encoded in memory)."""
    sink = pa.BufferOutputStream()
    writer = CuratedWriter(spec, sink)
    writer.write(table)
    writer.close()
    encoded: bytes = sink.getvalue().to_pybytes()
    return encoded


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t))
