"""Builders for curated and classification fixtures read by the warnings/analysis/report tests.

Curated files are written exactly where ingestion writes them (``layout.curated_key``) with the
curated schema (contract + lineage columns), so the tests do not depend on the ingestion code.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from functions import layout, uscc
from functions.coverage.store import record_curated
from functions.lake import Lake
from schemas.datasets import DATASETS
from schemas.results import CLASSIFICATION_SCHEMA, DIMENSIONS

INGESTED = dt.datetime(2026, 11, 1, 0, 0, tzinfo=dt.UTC)


def code(n: int, region: str = "420102", category: str = "1") -> str:
    """A valid USCC numbered ``n`` (distinct n → distinct codes)."""
    return uscc.make(region, f"{n:08d}", category=category)


def write_curated(
    lake: Lake,
    dataset: str,
    province: str,
    rows: list[dict[str, Any]],
    *,
    ingest_id: str = "ing-1",
    ingested_at: dt.datetime = INGESTED,
    coverage: bool = True,
) -> str:
    schema = DATASETS[dataset].curated_schema
    full = [
        {
            **{f.name: None for f in schema},
            **r,
            "_ingest_id": ingest_id,
            "_ingested_at": ingested_at,
            "_source_line": i + 2,
        }
        for i, r in enumerate(rows)
    ]
    key = layout.curated_key(dataset, province, ingest_id)
    lake.write_parquet(key, pa.Table.from_pylist(full, schema=schema))
    if coverage:  # as an accepted ingest records it (functions.warnings.on_ingest)
        record_curated(lake, dataset, province, key, ingest_id=ingest_id, ingested_at=ingested_at)
    return key


def entity(
    n: int, *, region: str = "420102", established: dt.date = dt.date(2020, 1, 1), **kw: Any
) -> dict[str, Any]:
    return {
        "uscc": code(n, region),
        "name": f"测试企业{n}有限公司",
        "entity_type": "enterprise",
        "region_code": region,
        "industry_code": kw.pop("industry_code", "C13"),
        "established_on": established,
        "status": kw.pop("status", "active"),
        **kw,
    }


def classification_rows(rows: list[dict[str, Any]], *, run_id: str = "run-1") -> pa.Table:
    """Complete result rows from ``uscc``/``risk_class``/``risk_score`` (+ optional fields)."""
    full = []
    for r in rows:
        full.append(
            {
                "name": "测试企业",
                "entity_type": "enterprise",
                "region_code": r["uscc"][2:8],
                "industry_code": "C13",
                "previous_class": None,
                "dimension_scores": dict.fromkeys(DIMENSIONS, 0.0),
                "reasons": [],
                "rules": [],
                "model": "samr-general@1",
                "run_id": run_id,
                "risk_score": {"A": 10.0, "B": 35.0, "C": 60.0, "D": 90.0}[r["risk_class"]],
                **r,
            }
        )
    full.sort(key=lambda r: r["uscc"])
    return pa.Table.from_pylist(full, schema=CLASSIFICATION_SCHEMA)


def publish_classification(lake: Lake, month: str, province: str, rows: list[dict[str, Any]]) -> pa.Table:
    t = classification_rows(rows, run_id=f"run-{month}")
    lake.write_parquet(layout.classification_key(month, province), t)
    lake.write_json(layout.classification_pointer_key(month, province), {"run_id": f"run-{month}"})
    return t
