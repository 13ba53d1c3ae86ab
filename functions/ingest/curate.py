"""Accepted rows → the curated table (contract columns in order, then lineage columns) and its
Parquet encoding.

Encoding choices (docs/adr/0015): zstd; no dictionary for values unique by construction (a
single-column dataset key, after duplicate rejection, and ``_source_line``) nor for floats
(amounts are near-unique; zstd still folds repeats); min/max statistics only for non-text
columns (string min/max over unsorted text prunes nothing and costs the most), and for
``_ingest_id``: one value per file, so its min = max names the file's ingest for the
classification's ranked dedup (ADR 0036) without reading the column.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

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
    keep = pc.invert(v.failed)

    def accepted(name: str) -> pa.Array:
        return pc.filter(v.typed[name], keep).cast(schema.field(name).type)

    with ThreadPoolExecutor(max_workers=2) as pool:  # filter kernels release the GIL
        cols: list[pa.Array] = list(pool.map(accepted, [f.name for f in spec.fields]))
    n = len(cols[0]) if cols else 0
    cols.append(pa.repeat(pa.scalar(ingest_id, pa.string()), n))
    cols.append(pa.repeat(pa.scalar(ingested_at, pa.timestamp("us", tz="UTC")), n))
    cols.append(pc.filter(lines, keep))
    return pa.Table.from_arrays(cols, schema=schema)


def parquet_bytes(spec: DatasetSpec, table: pa.Table) -> bytes:
    """The curated file's bytes (encoded in memory, then written atomically by the lake)."""
    plain = {LINE_COLUMN} | (set(spec.key) if len(spec.key) == 1 else set())
    plain |= {f.name for f in table.schema if pa.types.is_floating(f.type)}
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        compression=CODEC,
        row_group_size=ROW_GROUP_ROWS,
        use_dictionary=[c for c in table.column_names if c not in plain],
        write_statistics=[f.name for f in table.schema if not _is_text(f.type) or f.name == INGEST_COLUMN],
    )
    encoded: bytes = sink.getvalue().to_pybytes()
    return encoded


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t))
