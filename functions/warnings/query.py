"""Where the warning and effectiveness SQL runs: DuckDB locally, Athena in AWS (docs/adr/0068).

Both sources take the same Athena-dialect (Trino) statement, written against the dataset names
(``entities``, ``complaints`` …, each the classification's as-of view, ADR 0031/0061), the
published classifications (``class_current``, ``class_previous``) and the upload scope
(``warning_scope``), and answer with an Arrow table. DuckDB is imported only by the DuckDB
source: the Lambda artifact ships without it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from functions.errors import EngineError
from functions.warnings.compile import CLASSES_TABLE, PREVIOUS_TABLE, SCOPE_TABLE, to_duckdb

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)
ENGINES = ("duckdb", "athena")


@dataclass(frozen=True)
class Scope:
    """What a run may read: one province as of ``cutoff``, records dated up to ``period_end``,
    the classifications of ``class_months`` (table name → month or None) and, for an upload,
    the entities it touched."""

    province: str
    cutoff: dt.datetime
    period_end: dt.date
    class_months: dict[str, str | None] = field(default_factory=dict)
    usccs: tuple[str, ...] | None = None


class QuerySource(Protocol):
    engine: str

    @property
    def scopes_in_sql(self) -> bool:
        """True when ``warning_scope`` can be referenced (else the caller filters the rows)."""

    def query(self, sql: str, *, label: str) -> pa.Table:
        """Run one Athena-dialect ``SELECT``; ``label`` names it in errors and scratch paths."""

    def close(self) -> None: ...


def duckdb_query(con: Any, sql: str, *, label: str) -> pa.Table:
    """A Trino statement run on a DuckDB connection, its failure an :class:`EngineError`."""
    import duckdb

    try:
        table: pa.Table = con.sql(to_duckdb(sql)).to_arrow_table()
    except duckdb.Error as exc:
        raise EngineError(f"{label} failed on DuckDB: {exc}", query=label) from exc
    return table


class DuckDBSource:
    """In-memory DuckDB over the lake (local folder or S3) through Arrow datasets."""

    engine = "duckdb"
    scopes_in_sql = True

    def __init__(self, lake: Lake, scope: Scope, *, datasets: tuple[str, ...] | None = None) -> None:
        from functions.warnings import sources

        self.con = sources.connect(
            lake,
            province=scope.province,
            cutoff=scope.cutoff,
            period_end=scope.period_end,
            datasets=datasets,
        )
        try:
            for table, month in scope.class_months.items():
                current = sources.read_classification(lake, month, scope.province) if month else None
                sources.register_classifications(self.con, table, current)
            if scope.usccs is not None:
                self.con.register(
                    SCOPE_TABLE, pa.table({"uscc": pa.array(sorted(set(scope.usccs)), pa.string())})
                )
        except BaseException:
            self.con.close()
            raise

    def query(self, sql: str, *, label: str) -> pa.Table:
        return duckdb_query(self.con, sql, label=label)

    def close(self) -> None:
        self.con.close()


def open_source(
    lake: Lake,
    scope: Scope,
    *,
    settings: Settings | None,
    engine: str | None = None,
    job: str,
    datasets: tuple[str, ...] | None = None,
    athena_runner: Any = None,
    boto3_session: Any = None,
) -> QuerySource:
    """The source for ``engine`` (default: ``settings.engine``, else DuckDB). ``job`` names the
    Athena scratch prefix of this run (unique per run)."""
    chosen = engine or (settings.engine if settings is not None else "duckdb")
    if chosen not in ENGINES:
        raise EngineError(f"engine must be one of {', '.join(ENGINES)}, got {chosen!r}")
    if chosen == "duckdb":
        return DuckDBSource(lake, scope, datasets=datasets)
    from functions.settings import Settings
    from functions.warnings.engine_athena import AthenaSource

    return AthenaSource(
        lake,
        scope,
        settings=settings or Settings(),
        job=job,
        runner=athena_runner,
        boto3_session=boto3_session,
    )


def class_scope(class_month: str | None, previous: str | None) -> dict[str, str | None]:
    return {CLASSES_TABLE: class_month, PREVIOUS_TABLE: previous}
