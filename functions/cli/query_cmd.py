"""``creditrisk query "SQL"``: the auditors' Athena SQL, run on a lake with DuckDB (docs/audit.md).

The SQL is written for Athena (Trino dialect) against the Glue tables of infra/platform.yaml;
sqlglot translates it to DuckDB, and the same table names are registered over the lake by the
classification engine's ``register_lake_tables``: ``curated_<dataset>`` (partition column
``province``), ``classifications`` (partition columns ``month`` and ``province``) and the results
tables of ``schemas/tables.py`` (``warnings``, ``tasks``, ``coverage``, ``ingest_reports``, the
``analysis_*`` tables …: docs/results-tables.md). Database
qualifiers such as ``creditrisk_prod.`` are dropped, so a query pastes from Athena unchanged.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import click

from functions.cli.common import lake_from
from functions.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

    from functions.lake import Lake

logger = logging.getLogger(__name__)


def to_duckdb_sql(sql: str) -> str:
    """Athena SQL → DuckDB SQL, with database/catalog qualifiers dropped."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        statements = sqlglot.parse(sql, read="athena")
    except ParseError as exc:
        raise InvalidInput(f"not valid Athena SQL: {exc}", field="sql") from None
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        raise InvalidInput("give exactly one SQL statement", field="sql")
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise InvalidInput(
            "only queries (SELECT/WITH … SELECT) are allowed: the lake is read-only here", field="sql"
        )
    for table in tree.find_all(exp.Table):
        table.set("db", None)
        table.set("catalog", None)
    return tree.sql(dialect="duckdb")


def run_query(lake: Lake, sql: str) -> pa.Table:
    """Run one Athena-dialect query over the lake; the answer as an Arrow table."""
    import duckdb

    translated = to_duckdb_sql(sql)
    logger.debug("duckdb sql: %s", translated)
    con = duckdb.connect()
    try:
        from functions.classify.engine_duckdb import register_lake_tables

        register_lake_tables(con, lake)
        from functions.results_tables import register_results_tables

        register_results_tables(con, lake)
        try:
            result: pa.Table = con.sql(translated).to_arrow_table()
        except duckdb.Error as exc:
            raise InvalidInput(f"query failed: {exc}", field="sql") from None
        return result
    finally:
        con.close()


def _render(table: pa.Table, fmt: str, max_rows: int) -> str:
    rows = table.slice(0, max_rows).to_pylist()
    if fmt == "jsonl":
        return "\n".join(json.dumps(r, ensure_ascii=False, default=str) for r in rows)
    if fmt == "csv":
        import io

        import pyarrow.csv as pcsv

        buf = io.BytesIO()
        pcsv.write_csv(table.slice(0, max_rows), buf)
        return buf.getvalue().decode("utf-8").rstrip("\n")
    cols = table.column_names
    cells = [[("" if r[c] is None else str(r[c])) for c in cols] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(cols)]
    line = " | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    out = [line, "-+-".join("-" * w for w in widths)]
    out += [" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    more = table.num_rows - len(rows)
    out.append(
        f"({table.num_rows} row{'s' if table.num_rows != 1 else ''}"
        + (f", {more} not shown)" if more else ")")
    )
    return "\n".join(out)


@click.command("query")
@click.argument("sql")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "jsonl"]), default="table", show_default=True
)
@click.option("--max-rows", type=click.IntRange(min=1), default=200, show_default=True)
@click.pass_context
def command(ctx: click.Context, sql: str, fmt: str, max_rows: int) -> None:
    """Run Athena SQL (as auditors write it against the Glue tables) on the lake with DuckDB.

    Tables: the ten curated datasets (e.g. curated_penalties, partition column province),
    classifications, warnings and tasks (partition columns month, province), coverage
    (province), ingest_reports, analysis_regions, analysis_industries and analysis_migration
    (month, province); every column: docs/results-tables.md. Example:

        creditrisk query "SELECT risk_class, count(*) FROM classifications
        WHERE month = '2026-10' AND province = '42' GROUP BY 1 ORDER BY 1"
    """
    table = run_query(lake_from(ctx), sql)
    click.echo(_render(table, fmt, max_rows))
