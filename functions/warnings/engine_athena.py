"""The warning/effectiveness SQL on Athena: one ``UNLOAD`` to Parquet per statement (ADR 0068).

The statement is the very text the DuckDB path runs, prefixed by a ``WITH`` clause that defines
each name it reads: the curated datasets as the classification's as-of views (only the
datasets and columns the statement uses), the published classifications through the Glue
``classifications`` table (partition projection) and, for uploads, the touched entities as an
inline ``VALUES`` list. Athena writes the rows as Parquet under a scratch prefix of the lake;
they are read back with pyarrow (typed, no CSV parsing, no row paging) and the scratch files are
deleted (a lifecycle rule expires any left by a crash). The runner is the classification's
(start/wait; tests inject a fake).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from functions import layout
from functions.classify.curated_views import RESULTS_TABLE, as_of_view
from functions.classify.engine_athena import AthenaRunner, WranglerRunner, execute
from functions.errors import EngineError, StorageError
from functions.warnings.compile import SCOPE_TABLE, q
from functions.warnings.query import Scope
from functions.warnings.sources import CLASS_COLUMNS
from schemas.datasets import DATASETS

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)
# Uploads touching more entities than this are filtered after the query instead: the inline
# list would approach Athena's 256 KB statement limit (ADR 0068).
INLINE_SCOPE_LIMIT = 2000
CLASS_COLUMNS_SQL = ", ".join(CLASS_COLUMNS)


def _names(sql: str) -> tuple[set[str], set[str]]:
    """(table names, column names) the statement references."""
    tree = sqlglot.parse_one(sql, read="trino")
    tables = {t.name for t in tree.find_all(exp.Table)}
    columns = {c.name for c in tree.find_all(exp.Column)}
    return tables, columns


def with_clause(sql: str, scope: Scope, *, inline_scope: bool) -> list[tuple[str, str]]:
    """(name, SELECT) for every name ``sql`` reads, in Athena's dialect."""
    tables, columns = _names(sql)
    ctes: list[tuple[str, str]] = []
    for name, spec in DATASETS.items():
        if name in tables:
            wanted = tuple(c for c in spec.columns if c in columns)
            ctes.append(
                (
                    name,
                    as_of_view(
                        spec,
                        province=scope.province,
                        cutoff=scope.cutoff,
                        period_end=scope.period_end,
                        columns=wanted or None,
                    ),
                )
            )
    for table, month in scope.class_months.items():
        if table in tables:
            where = f"month = {q(month)} AND province = {q(scope.province)}" if month else "false"
            ctes.append((table, f"SELECT {CLASS_COLUMNS_SQL} FROM {RESULTS_TABLE} WHERE {where}"))
    if SCOPE_TABLE in tables:
        if not inline_scope or scope.usccs is None:
            raise EngineError(f"{SCOPE_TABLE} is referenced but the scope is not inlined")
        values = ", ".join(f"({q(u)})" for u in sorted(set(scope.usccs))) or "(CAST(NULL AS VARCHAR))"
        ctes.append((SCOPE_TABLE, f"SELECT uscc FROM (VALUES {values}) AS s (uscc) WHERE uscc IS NOT NULL"))
    return ctes


def athena_query(sql: str, scope: Scope, *, inline_scope: bool) -> str:
    """The self-contained Athena ``SELECT`` (what the DuckDB equivalence test runs too)."""
    ctes = with_clause(sql, scope, inline_scope=inline_scope)
    head = ("WITH " + ",\n".join(f"{n} AS ({s})" for n, s in ctes) + "\n") if ctes else ""
    return f"{head}SELECT * FROM (\n{sql}\n) AS w"


def unload_statement(query: str, location: str) -> str:
    return f"UNLOAD (\n{query}\n) TO '{location}' WITH (format = 'PARQUET')"


def scratch_label(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", label)[:80] or "q"


class AthenaSource:
    """Runs each statement as an ``UNLOAD`` and reads the Parquet it wrote back."""

    engine = "athena"

    def __init__(
        self,
        lake: Lake,
        scope: Scope,
        *,
        settings: Settings,
        job: str,
        runner: AthenaRunner | None = None,
        boto3_session: Any = None,
        inline_limit: int = INLINE_SCOPE_LIMIT,
    ) -> None:
        if lake.is_local:
            raise EngineError("the athena engine needs an s3:// lake (Athena cannot read a local folder)")
        self.lake = lake
        self.scope = scope
        self.prefix = layout.athena_unload_prefix(job)
        self.runner: AthenaRunner = runner or WranglerRunner(
            settings.athena_database, settings.athena_workgroup, settings.athena_output_uri, boto3_session
        )
        self.inline_limit = inline_limit
        self.statements: list[str] = []

    @property
    def scopes_in_sql(self) -> bool:
        return self.scope.usccs is not None and len(set(self.scope.usccs)) <= self.inline_limit

    def query(self, sql: str, *, label: str) -> pa.Table:
        prefix = f"{self.prefix}/{scratch_label(label)}"
        if self.lake.list_files(prefix, include_hidden=True):
            raise EngineError(f"scratch prefix {self.lake.display(prefix)} is not empty", query=label)
        statement = unload_statement(
            athena_query(sql, self.scope, inline_scope=self.scopes_in_sql), self.lake.display(prefix) + "/"
        )
        self.statements.append(statement)
        try:
            execute(self.runner, statement)
        except EngineError as exc:
            raise EngineError(f"{label} failed on Athena: {exc.message}", query=label, **exc.details) from exc
        return self._read(prefix, label)

    def _read(self, prefix: str, label: str) -> pa.Table:
        files = [f for f in self.lake.list_files(prefix) if f.size > 0]
        try:
            parts = [self.lake.read_parquet(f.key) for f in files]
        except (OSError, pa.ArrowInvalid) as exc:
            raise StorageError(
                f"cannot read the Athena output of {label} at {self.lake.display(prefix)}: {exc}"
            ) from exc
        finally:
            for f in self.lake.list_files(prefix, include_hidden=True):
                try:
                    self.lake.delete(f.key)
                except OSError:  # the scratch lifecycle rule removes it later
                    logger.warning("could not delete scratch file %s", f.key)
        if not parts:
            return pa.table({})
        return pa.concat_tables(parts, promote_options="permissive")

    def close(self) -> None:
        """Nothing to release: every query already cleaned its scratch output."""
