"""The results tables of ``schemas/tables.py`` (warnings, tasks, coverage, ingest reports) as
DuckDB views over the lake, under their Glue names, for ``creditrisk query`` (docs/audit.md).

Parquet datasets go through the classification engine's registration (DuckDB's reader with hive
partitions as text locally, Arrow datasets on S3); the JSON ingest reports are small and read
into one Arrow table with the contract's types.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from schemas.tables import RESULTS_TABLES, ResultsTable

if TYPE_CHECKING:
    from functions.lake import Lake

logger = logging.getLogger(__name__)


def _json_rows(lake: Lake, t: ResultsTable) -> pa.Table:
    rows = []
    for f in lake.list_files(t.prefix):
        if f.key.endswith(".json"):
            raw = json.loads(lake.read_bytes(f.key))
            row: dict[str, Any] = {}
            for field in t.schema:
                v = raw.get(field.name)
                if pa.types.is_map(field.type) and isinstance(v, dict):
                    v = list(v.items())
                row[field.name] = v
            rows.append(row)
    return pa.Table.from_pylist(rows, schema=t.schema) if rows else t.schema.empty_table()


def register_results_tables(con: Any, lake: Lake) -> list[str]:
    """Register every results table on ``con``; returns their names."""
    from functions.classify.engine_duckdb import _register

    names = []
    for t in RESULTS_TABLES:
        if t.format == "parquet":
            partitions = pa.schema([(p, pa.string()) for p in t.partitions])
            _register(con, t.name, lake, t.prefix, t.prefix, t.schema, partitions)
        else:
            con.register(t.name, _json_rows(lake, t))
        names.append(t.name)
    return names
