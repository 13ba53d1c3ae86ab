"""Builders of curated lake content for the classification tests (written straight to curated
Parquet with the curated schema and ingestion's own encoding)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from functions import layout, uscc
from functions.ingest.curate import parquet_bytes
from functions.lake import Lake
from schemas.datasets import DATASETS

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def code(n: int, region: str = "131000") -> str:
    """A valid USCC of an enterprise in ``region`` (distinct per ``n``)."""
    return uscc.make(region, f"{n:08d}")


def entity(n: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "uscc": code(n),
        "name": f"测试企业{n}",
        "entity_type": "enterprise",
        "region_code": "131000",
        "industry_code": "C13",
        "established_on": dt.date(2015, 1, 1),
        "registered_capital": 500.0,
        "status": "active",
    }
    row.update(over)
    return row


def curated_table(
    dataset: str, rows: list[dict[str, Any]], *, ingest_id: str, ingested_at: dt.datetime
) -> pa.Table:
    spec = DATASETS[dataset]
    cols: dict[str, list[Any]] = {f.name: [r.get(f.name) for r in rows] for f in spec.curated_schema}
    cols["_ingest_id"] = [ingest_id] * len(rows)
    cols["_ingested_at"] = [ingested_at] * len(rows)
    cols["_source_line"] = list(range(2, len(rows) + 2))
    return pa.table(cols, schema=spec.curated_schema)


def write_curated(
    lake: Lake,
    dataset: str,
    rows: list[dict[str, Any]],
    *,
    province: str = "13",
    ingest_id: str = "20260101T000000Z-aaaa",
    ingested_at: dt.datetime = T0,
) -> None:
    table = curated_table(dataset, rows, ingest_id=ingest_id, ingested_at=ingested_at)
    lake.write_bytes(
        layout.curated_key(dataset, province, ingest_id), parquet_bytes(DATASETS[dataset], table)
    )
