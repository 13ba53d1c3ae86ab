"""Accepted rows → the curated table: contract columns in order, then lineage columns."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

from functions.ingest.validate import Validated
from schemas.datasets import DatasetSpec


def curated_table(
    spec: DatasetSpec, v: Validated, lines: pa.Array, *, ingest_id: str, ingested_at: dt.datetime
) -> pa.Table:
    schema: pa.Schema = spec.curated_schema
    keep = pc.invert(v.failed)
    cols: list[pa.Array] = []
    for f in spec.fields:
        arr = pc.filter(v.typed[f.name], keep)
        cols.append(arr.cast(schema.field(f.name).type))
    n = len(cols[0]) if cols else 0
    cols.append(pa.repeat(pa.scalar(ingest_id, pa.string()), n))
    cols.append(pa.repeat(pa.scalar(ingested_at, pa.timestamp("us", tz="UTC")), n))
    cols.append(pc.filter(lines, keep))
    return pa.Table.from_arrays(cols, schema=schema)
