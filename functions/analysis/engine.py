"""The report's figures as aggregates on the engine: DuckDB over the lake locally, the same SQL on
Athena in AWS (docs/adr/0109-report-figures-on-the-engine.md).

Every statement is Athena's dialect (Trino) over the published ``classifications`` (the Glue
table in AWS; locally the DuckDB view ``register_lake_tables`` makes over the lake's Parquet) and
answers with a few thousand rows at most: counts per month × county × class, per month ×
section × class, the migration grid per county and section, the score histogram. Nothing holds a
province's entities in Python; DuckDB runs inside ``analysis_memory_limit`` and spills beyond it.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import tempfile
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from functions.classify.curated_views import RESULTS_TABLE
from functions.errors import EngineError
from functions.warnings.compile import q
from functions.warnings.query import ENGINES, Scope, duckdb_query

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)

BANDS = 10  # 10-point score bands, as metrics.PSI_BINS


class DuckDBAggregates:
    """The statements on an in-memory DuckDB over the lake, inside a memory limit."""

    engine = "duckdb"

    def __init__(self, lake: Lake, province: str, settings: Settings | None) -> None:
        from functions.classify.engine_duckdb import connect, register_lake_tables

        self._tmp = tempfile.TemporaryDirectory(prefix="creditrisk-analysis-")
        limit = settings.analysis_memory_limit if settings is not None else "512MB"
        threads = settings.duckdb_threads if settings is not None else None
        spill = (settings.duckdb_temp_directory if settings is not None else None) or self._tmp.name
        self.con = connect(threads=threads or 2, memory_limit=limit, temp_directory=spill)
        try:
            register_lake_tables(self.con, lake, province=province)
        except BaseException:
            self.close()
            raise

    def query(self, sql: str, *, label: str) -> pa.Table:
        return duckdb_query(self.con, sql, label=label)

    def close(self) -> None:
        self.con.close()
        self._tmp.cleanup()


def open_engine(
    lake: Lake,
    province: str,
    *,
    settings: Settings | None,
    engine: str | None = None,
    athena_runner: Any = None,
    boto3_session: Any = None,
) -> Any:
    """DuckDB locally, Athena (one ``UNLOAD`` per statement, ADR 0068) in AWS."""
    chosen = engine or (settings.engine if settings is not None else "duckdb")
    if chosen not in ENGINES:
        raise EngineError(f"engine must be one of {', '.join(ENGINES)}, got {chosen!r}")
    if chosen == "duckdb":
        return DuckDBAggregates(lake, province, settings)
    from functions.settings import Settings
    from functions.warnings.engine_athena import AthenaSource

    now = dt.datetime.now(dt.UTC)
    return AthenaSource(
        lake,
        Scope(province, now, now.date()),
        settings=settings or Settings(),
        job=f"analysis-{province}-{secrets.token_hex(4)}",
        runner=athena_runner,
        boto3_session=boto3_session,
    )


# -- the statements (Athena dialect; DuckDB runs them transpiled) ----------------------------
def _months(province: str, first: str, last: str) -> str:
    return f"province = {q(province)} AND month BETWEEN {q(first)} AND {q(last)}"


def region_counts_sql(province: str, first: str, last: str) -> str:
    """Entities per month × county (6-digit code) × class over ``first``..``last``."""
    return (
        "SELECT month, substr(region_code, 1, 6) AS code, risk_class, count(*) AS entities "
        f"FROM {RESULTS_TABLE} WHERE {_months(province, first, last)} GROUP BY 1, 2, 3"
    )


def section_counts_sql(province: str, first: str, last: str) -> str:
    """Entities per month × GB/T 4754 section × class."""
    return (
        "SELECT month, substr(industry_code, 1, 1) AS code, risk_class, count(*) AS entities "
        f"FROM {RESULTS_TABLE} WHERE {_months(province, first, last)} GROUP BY 1, 2, 3"
    )


def migration_sql(province: str, month: str, previous: str) -> str:
    """Last month's class (or ``new``) → this month's (or ``exited``) per county and section.

    An entity is counted where it is this month (where it was, for an exit)."""
    cols = "uscc, risk_class, region_code, industry_code"
    where = f"province = {q(province)}"
    return f"""SELECT COALESCE(p.risk_class, 'new') AS from_class,
  COALESCE(c.risk_class, 'exited') AS to_class,
  substr(COALESCE(c.region_code, p.region_code), 1, 6) AS county,
  substr(COALESCE(c.industry_code, p.industry_code), 1, 1) AS section,
  count(*) AS entities
FROM (SELECT {cols} FROM {RESULTS_TABLE} WHERE {where} AND month = {q(month)}) c
FULL OUTER JOIN (SELECT {cols} FROM {RESULTS_TABLE} WHERE {where} AND month = {q(previous)}) p
  ON c.uscc = p.uscc
GROUP BY 1, 2, 3, 4"""


def histogram_sql(province: str, months: tuple[str, ...]) -> str:
    """Entities per month × 10-point score band (the last band holds 100)."""
    listed = ", ".join(q(m) for m in months)
    band = f"GREATEST(LEAST(CAST(FLOOR(risk_score / 10) AS INTEGER), {BANDS - 1}), 0)"
    return (
        f"SELECT month, {band} AS band, count(*) AS entities FROM {RESULTS_TABLE} "
        f"WHERE province = {q(province)} AND month IN ({listed}) GROUP BY 1, 2"
    )


def provenance_sql(province: str, month: str) -> str:
    return (
        f"SELECT run_id, model, count(*) AS entities FROM {RESULTS_TABLE} "
        f"WHERE province = {q(province)} AND month = {q(month)} GROUP BY 1, 2"
    )


def histograms(source: Any, province: str, months: tuple[str, ...]) -> dict[str, list[float] | None]:
    """{month: shares per band} (``None`` for a month without entities)."""
    t = source.query(histogram_sql(province, months), label=f"score histogram {province}")
    counts: dict[str, list[int]] = {m: [0] * BANDS for m in months}
    for m, b, n in zip(t["month"].to_pylist(), t["band"].to_pylist(), t["entities"].to_pylist(), strict=True):
        counts[str(m)][int(b)] += int(n)
    return {m: ([c / sum(v) for c in v] if sum(v) else None) for m, v in counts.items()}
