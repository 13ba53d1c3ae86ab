"""Monthly credit-risk classification (issue 3): indicator systems compiled to one Trino SQL,
run on DuckDB or Athena, published atomically under ``results/classifications/``."""

from __future__ import annotations

from functions.classify.engine_duckdb import register_lake_tables
from functions.classify.explain import explain
from functions.classify.load import load_system, parse_system, shipped_system_ids
from functions.classify.run import RunResult, classify_month, provinces_with_data

__all__ = [
    "RunResult",
    "classify_month",
    "explain",
    "load_system",
    "parse_system",
    "provinces_with_data",
    "register_lake_tables",
    "shipped_system_ids",
]
