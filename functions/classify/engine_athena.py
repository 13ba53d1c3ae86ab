"""Run the compiled Trino statement on Athena (ADR 0034): the data never passes through Lambda.

The statement is wrapped in a CTAS with ``bucketed_by = ARRAY['uscc'], bucket_count = 1`` so
Athena writes exactly one Parquet object (UNLOAD writes several files in parallel with no global
order). The CTAS names no ``external_location``: the platform workgroup enforces its
configuration, and Athena fails such a CTAS there; it writes the table under
``<workgroup output location>/tables/<query id>/`` instead (docs/adr/0070). The run then copies
that object to its own ``classifications.parquet`` (an S3 server-side copy) and drops the
temporary Glue table (its data stays until the scratch lifecycle rule expires it). The runner is
injected: production uses awswrangler, tests use a fake that records statements and answers
with chosen query states.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Protocol

from functions import layout
from functions.classify.compile import Compiled
from functions.errors import EngineError
from functions.lake import Lake
from functions.settings import Settings
from schemas.results import RISK_CLASSES

logger = logging.getLogger(__name__)
FAILED_STATES = ("FAILED", "CANCELLED")
# Athena's documented rules that a statement can break before it runs; :func:`check_statement`
# refuses such a statement before it is sent (docs/adr/0147).
MAX_PARTITIONS = 100  # partitions (open writers) one CTAS, INSERT INTO or UNLOAD may write
MAX_QUERY_BYTES = 262_144  # the query string quota


class AthenaRunner(Protocol):
    def start(self, sql: str) -> str:
        """Submit ``sql``; return the query execution id."""

    def wait(self, query_id: str) -> dict[str, Any]:
        """Block until the query ends; return ``{"State": ..., "StateChangeReason": ...}``."""


@dataclass
class WranglerRunner:
    """The production runner: awswrangler's start/wait on the configured workgroup."""

    database: str
    workgroup: str
    s3_output: str | None
    boto3_session: Any = None

    def start(self, sql: str) -> str:
        import awswrangler as wr

        return str(
            wr.athena.start_query_execution(
                sql,
                database=self.database,
                workgroup=self.workgroup,
                s3_output=self.s3_output,
                boto3_session=self.boto3_session,
            )
        )

    def wait(self, query_id: str) -> dict[str, Any]:
        import awswrangler as wr

        try:
            response = wr.athena.wait_query(query_id, boto3_session=self.boto3_session)
        except wr.exceptions.QueryFailed as exc:
            return {"State": "FAILED", "StateChangeReason": str(exc)}
        status = response.get("Status", {}) if isinstance(response, dict) else {}
        return {
            "State": status.get("State", "UNKNOWN"),
            "StateChangeReason": status.get("StateChangeReason", ""),
        }


def ctas_table_name(run_id: str) -> str:
    return "classify_run_" + re.sub(r"[^a-z0-9]", "_", run_id.lower())


def runner_for(
    settings: Settings, boto3_session: Any = None, runner: AthenaRunner | None = None
) -> AthenaRunner:
    """The injected runner, else awswrangler's on the configured workgroup."""
    return runner or WranglerRunner(
        settings.athena_database, settings.athena_workgroup, settings.athena_output_uri, boto3_session
    )


def drop_statement(database: str, run_id: str) -> str:
    return f"DROP TABLE IF EXISTS {database}.{ctas_table_name(run_id)}"


def workgroup_output_key(lake: Lake, settings: Settings) -> str:
    """The lake key of the workgroup's query-result location (where an enforced workgroup puts
    CTAS tables). Defaults to the platform result area the template configures."""
    uri = (settings.athena_output_uri or lake.display(layout.ATHENA_PLATFORM_RESULTS)).rstrip("/")
    if not uri.startswith(lake.uri.rstrip("/") + "/"):
        raise EngineError(
            f"the Athena output location {uri} is outside the lake {lake.uri}: the run copies the "
            "CTAS output from there, so CREDITRISK_ATHENA_OUTPUT_URI must be inside the lake"
        )
    return uri[len(lake.uri.rstrip("/")) + 1 :]


def ctas_output_prefix(lake: Lake, settings: Settings, query_id: str) -> str:
    """Where Athena writes a CTAS table in a workgroup that enforces its result location."""
    return f"{workgroup_output_key(lake, settings)}/tables/{query_id}"


def athena_statements(compiled: Compiled, database: str) -> list[str]:
    """What the Athena path submits, in order: the CTAS around the compiled SELECT, then the
    drop of the temporary table. No ``external_location`` (see the module docstring)."""
    table = f"{database}.{ctas_table_name(compiled.run_id)}"
    ctas = (
        f"CREATE TABLE {table} WITH (format = 'PARQUET', write_compression = 'ZSTD', "
        f"bucketed_by = ARRAY['uscc'], bucket_count = 1) AS\n"
        f"{compiled.sql}"
    )
    return [ctas, drop_statement(database, compiled.run_id)]


def unload_statement(query: str, location: str, *, partitioned: bool = False) -> str:
    """An ``UNLOAD`` to Parquet (zstd), partitioned by ``part`` if asked (ADR 0147)."""
    props = "format = 'PARQUET', compression = 'ZSTD'"
    if partitioned:
        props += ", partitioned_by = ARRAY['part']"
    return f"UNLOAD (\n{query}\n) TO '{location}' WITH ({props})"


def check_statement(sql: str, *, partitions: int = 0) -> None:
    """Refuse, before it is sent, a statement Athena would refuse or run wrongly: a CTAS naming
    an ``external_location`` (the platform workgroup enforces its configuration, ADR 0070), one
    writing more than :data:`MAX_PARTITIONS` partitions (``partitions``: how many it writes,
    HIVE_TOO_MANY_OPEN_PARTITIONS), a query string over :data:`MAX_QUERY_BYTES`."""
    head = sql.lstrip()[:16].upper()
    if head.startswith("CREATE TABLE") and re.search(r"\bexternal_location\b", sql, re.I):
        raise EngineError("a CTAS in the platform workgroup may not name an external_location")
    if partitions > MAX_PARTITIONS:
        raise EngineError(
            f"the statement would write {partitions} partitions; Athena allows {MAX_PARTITIONS} per statement"
        )
    if head.startswith("UNLOAD"):
        _check_unload(sql)
    size = len(sql.encode())
    if size > MAX_QUERY_BYTES:
        raise EngineError(f"the statement has {size} bytes; Athena accepts at most {MAX_QUERY_BYTES}")


UNLOAD_FORMATS = ("PARQUET", "ORC", "AVRO", "JSON", "TEXTFILE")  # what UNLOAD writes (AWS docs)
_UNLOAD_TAIL = re.compile(r"\) TO '(?P<to>[^']*)' WITH \((?P<props>[^()]*(\([^()]*\)[^()]*)*)\)\s*$")


def _check_unload(sql: str) -> None:
    """UNLOAD's documented rules (ADR 0152): a ``format`` it writes (Parquet, ORC, Avro, JSON,
    TEXTFILE; not CSV, which only a SELECT's result is), a folder as destination, no LZ4/LZO for
    Parquet (Athena reads but does not write them). TEXTFILE has no header and no quoting: the
    callers build CSV lines themselves."""
    m = _UNLOAD_TAIL.search(sql)
    if m is None:
        raise EngineError("an UNLOAD must end with TO '<s3 folder>/' WITH (format = ...)")
    props = m.group("props")
    fmt = re.search(r"\bformat\s*=\s*'(\w+)'", props, re.I)
    if fmt is None or fmt.group(1).upper() not in UNLOAD_FORMATS:
        raise EngineError(f"UNLOAD writes only {', '.join(UNLOAD_FORMATS)}; got {props!r}")
    if not m.group("to").endswith("/"):
        raise EngineError(f"an UNLOAD writes into a folder: {m.group('to')!r} must end with '/'")
    comp = re.search(r"\bcompression\s*=\s*'(\w+)'", props, re.I)
    if fmt.group(1).upper() == "PARQUET" and comp and comp.group(1).upper() in ("LZ4", "LZO"):
        raise EngineError("Athena does not write Parquet compressed with LZ4 or LZO")


def execute(runner: AthenaRunner, sql: str, *, partitions: int = 0) -> str:
    """Check (:func:`check_statement`), submit, wait, and turn FAILED/CANCELLED into a clear
    ``EngineError``."""
    check_statement(sql, partitions=partitions)
    try:
        query_id = runner.start(sql)
    except EngineError:
        raise
    except Exception as exc:  # botocore/awswrangler errors: report them as engine errors
        raise EngineError(f"Athena refused the query: {exc}") from exc
    state = runner.wait(query_id)
    status = str(state.get("State", "UNKNOWN"))
    if status in FAILED_STATES:
        reason = state.get("StateChangeReason") or "no reason given"
        raise EngineError(
            f"Athena query {query_id} {status.lower()}: {reason}", query_id=query_id, state=status
        )
    if status != "SUCCEEDED":
        raise EngineError(f"Athena query {query_id} ended in unexpected state {status}", query_id=query_id)
    return query_id


def run_athena(
    lake: Lake,
    compiled: Compiled,
    *,
    settings: Settings,
    boto3_session: Any = None,
    runner: AthenaRunner | None = None,
    key: str | None = None,
    keep_table: bool = False,
) -> tuple[dict[str, int], int]:
    """Run on Athena; leaves the result at ``key`` (default: ``classifications.parquet`` in the
    run prefix; a champion/challenger re-run puts it in its scratch); returns (counts, rows).
    ``keep_table``: the temporary table stays for the sampling copy's statements (ADR 0147);
    the caller drops it (:func:`drop_statement`)."""
    if lake.is_local:
        raise EngineError("the athena engine needs an s3:// lake (Athena cannot read a local folder)")
    runner = runner_for(settings, boto3_session, runner)
    ctas, drop = athena_statements(compiled, settings.athena_database)
    query_id = execute(runner, ctas)
    if not keep_table:
        execute(runner, drop)
    try:
        if keep_table:  # the classes are counted by Athena: nothing of the run is read (ADR 0152)
            table = f"{settings.athena_database}.{ctas_table_name(compiled.run_id)}"
            _copy_out(lake, compiled, settings, query_id, key)
            return class_counts(lake, runner, table, compiled.run_id)
        return _collect(lake, compiled, settings, query_id, key)
    except Exception:
        if keep_table:  # nothing will use the table now
            execute(runner, drop)
        raise


def clear_scratch(lake: Lake, scratch: str) -> None:
    """Empty an UNLOAD scratch prefix, best effort: a statement refuses a non-empty scratch, and
    what cannot be deleted now the scratch lifecycle rule removes later."""
    for f in lake.list_files(scratch, include_hidden=True):
        try:
            lake.delete(f.key)
        except OSError:
            logger.warning("could not delete scratch file %s", f.key)


def class_counts(lake: Lake, runner: AthenaRunner, table: str, run_id: str) -> tuple[dict[str, int], int]:
    """The rows per class of ``table``, from one aggregate ``UNLOAD`` (a handful of rows read
    back from the scratch, which is emptied after)."""
    scratch = layout.athena_unload_prefix("counts-" + re.sub(r"[^A-Za-z0-9_.-]", "_", run_id))
    if lake.list_files(scratch, include_hidden=True):
        raise EngineError(f"the scratch {lake.display(scratch)} is not empty")
    try:
        query = f"SELECT risk_class, count(*) AS n FROM {table} GROUP BY risk_class"
        execute(runner, unload_statement(query, lake.display(scratch) + "/"))
        counts = {c: 0 for c in RISK_CLASSES}
        for f in lake.list_files(scratch):
            if f.size == 0:
                continue
            for row in lake.read_parquet(f.key).to_pylist():
                if row["risk_class"] not in counts:
                    raise EngineError(f"run {run_id} has rows of class {row['risk_class']!r}")
                counts[str(row["risk_class"])] += int(row["n"])
    finally:
        clear_scratch(lake, scratch)
    return counts, sum(counts.values())


def _collect(
    lake: Lake, compiled: Compiled, settings: Settings, query_id: str, key: str | None
) -> tuple[dict[str, int], int]:
    """Copy the CTAS output to ``key`` and count its classes."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out = _copy_out(lake, compiled, settings, query_id, key)
    # Only the class column is read back (a few MB even for 10M entities) to count the classes.
    with lake.open_input_file(out) as f:
        classes = pq.read_table(f, columns=["risk_class"]).column("risk_class")
    counts = {c: 0 for c in RISK_CLASSES}
    for row in pc.value_counts(classes).to_pylist():
        counts[str(row["values"])] = int(row["counts"])
    return counts, len(classes)


def _copy_out(lake: Lake, compiled: Compiled, settings: Settings, query_id: str, key: str | None) -> str:
    """Copy the CTAS's one output object to ``key`` (server-side); the key."""
    return copy_ctas_output(lake, settings, query_id, key or layout.run_classifications_key(compiled.run_id))


def copy_ctas_output(lake: Lake, settings: Settings, query_id: str, key: str) -> str:
    """Copy the one object a ``bucket_count = 1`` CTAS wrote to ``key`` (server-side)."""
    prefix = ctas_output_prefix(lake, settings, query_id)
    files = [f for f in lake.list_files(prefix) if f.size > 0]
    if len(files) != 1:
        raise EngineError(
            f"Athena wrote {len(files)} data files under {lake.display(prefix)}; "
            "expected exactly one (bucket_count = 1)",
            query_id=query_id,
        )
    lake.copy(files[0].key, key)
    return key
