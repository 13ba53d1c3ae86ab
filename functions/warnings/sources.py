"""As-of views of the curated lake and the published classifications, registered on DuckDB.

The lake tables come from the classification engine (``register_lake_tables``: one Arrow
dataset per curated dataset over the lake's own filesystem, local or S3), and each dataset is
exposed under its own name as the classification's as-of view (``as_of_view``, ADR 0031):
files ingested at or before ``cutoff``, the latest ingest of each key, records dated on or
before ``period_end``. Warnings and effectiveness thus read exactly what a classification run
with the same cutoff reads (docs/adr/0061).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from functions import layout
from functions.errors import StorageError
from schemas.datasets import DATASETS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from functions.lake import Lake

logger = logging.getLogger(__name__)

CLASS_COLUMNS = (
    "uscc", "name", "entity_type", "region_code", "industry_code", "risk_score", "risk_class",
    "previous_class", "run_id", "model",
)  # fmt: skip


def read_classification(lake: Lake, month: str, province: str) -> pa.Table | None:
    """The published classification of ``month`` (selected columns), or ``None`` if absent."""
    key = layout.classification_key(month, province)
    if lake.info(key) is None:
        return None
    try:
        t = lake.read_parquet(key)
    except (OSError, pa.ArrowInvalid) as exc:
        raise StorageError(f"cannot read the classification at {lake.display(key)}: {exc}") from exc
    missing = [c for c in CLASS_COLUMNS if c not in t.column_names]
    if missing:
        raise StorageError(f"{lake.display(key)} lacks columns {missing}")
    return t.select(list(CLASS_COLUMNS))


def empty_classification() -> pa.Table:
    from schemas.results import CLASSIFICATION_SCHEMA

    return CLASSIFICATION_SCHEMA.empty_table().select(list(CLASS_COLUMNS))


def connect(
    lake: Lake,
    *,
    province: str,
    cutoff: dt.datetime,
    period_end: dt.date,
    datasets: Iterable[str] | None = None,
) -> Any:
    """A fresh in-memory DuckDB connection with one as-of view per curated dataset."""
    from functions.classify.compile import to_duckdb
    from functions.classify.curated_views import as_of_view
    from functions.classify.engine_duckdb import connect as duck_connect
    from functions.classify.engine_duckdb import register_lake_tables

    con = duck_connect(threads=2)
    register_lake_tables(con, lake, province=province)
    for name in datasets or DATASETS:
        sql = as_of_view(DATASETS[name], province=province, cutoff=cutoff, period_end=period_end)
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {to_duckdb(sql)}')
    return con


def register_classifications(con: Any, name: str, table: pa.Table | None) -> None:
    """Register a classification table (or an empty one) under ``name``."""
    con.register(name, table if table is not None else empty_classification())
