"""Warning and task partitions: ``results/warnings|tasks/month=M/province=P/part-<run_id>.parquet``.

Append-only (docs/adr/0103): a warning is raised as an ``open`` row; a later run that finds its
condition gone appends a ``resolved`` or ``retracted`` row with the same key (and an ``open`` row
again if it fires anew). Nothing is overwritten or deleted; the state of a warning is its latest
row. Tasks are one per entity and month; a run that adds reasons appends the task again with
the same id. The partition keys (month, province) are in the path only, never a file column, so
that hive readers (pyarrow, awswrangler, Glue, DuckDB) read each dataset whole (ADR 0105).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from functions import layout
from functions.errors import StorageError
from schemas.warnings import TASK_RECORD_SCHEMA, WARNING_RECORD_SCHEMA

if TYPE_CHECKING:
    from functions.lake import Lake

logger = logging.getLogger(__name__)

WARNING_SCHEMA = WARNING_RECORD_SCHEMA
TASK_SCHEMA = TASK_RECORD_SCHEMA
PARTITION_COLUMNS = ("month", "province")
SNAPSHOT_FILES = b"creditrisk.covered_files"


def _months(lake: Lake) -> list[str]:
    return [d.split("=", 1)[1] for d in lake.list_dirs(layout.warnings_prefix()) if d.startswith("month=")]


def _read(lake: Lake, key: str, columns: list[str] | None = None) -> pa.Table:
    try:
        return lake.read_parquet(key, columns=columns)
    except (OSError, pa.ArrowInvalid) as exc:
        raise StorageError(f"cannot read warnings at {lake.display(key)}: {exc}") from exc


def _upgrade_warnings(t: pa.Table) -> pa.Table:
    """Rows written before warnings had states (and with the partition columns in the file):
    open since their detection, by the run that raised them."""
    t = t.drop_columns([c for c in PARTITION_COLUMNS if c in t.column_names])
    n = t.num_rows
    if "state" not in t.column_names:
        t = t.append_column("state", pa.array(["open"] * n, pa.string()))
        t = t.append_column("state_at", t["detected_at"])
        t = t.append_column("state_by", t["run_id"])
        t = t.append_column("state_trigger", t["trigger"])
        t = t.append_column("state_reason", pa.array(["raised"] * n, pa.string()))
    return t.select(WARNING_SCHEMA.names).cast(WARNING_SCHEMA)


def write_partition(lake: Lake, key: str, rows: list[dict[str, Any]], schema: pa.Schema) -> str | None:
    if not rows:
        return None
    lake.write_parquet(key, pa.Table.from_pylist(rows, schema=schema))
    return key


def _latest(t: pa.Table, key: str, time: str) -> pa.Table:
    """The latest row per ``key`` (ties: the later file read)."""
    if not t.num_rows:
        return t
    t = t.append_column("_i", pa.array(range(t.num_rows), pa.int64()))
    t = t.take(pc.sort_indices(t, sort_keys=[(key, "ascending"), (time, "ascending"), ("_i", "ascending")]))
    keys = t[key].to_pylist()
    keep = [i for i in range(len(keys)) if i == len(keys) - 1 or keys[i + 1] != keys[i]]
    return t.take(pa.array(keep, pa.int64())).drop_columns(["_i"])


def history(lake: Lake, month: str, province: str) -> pa.Table:
    """Every warning row (every transition) of one month and province, in file order."""
    parts = [
        _upgrade_warnings(_read(lake, f.key))
        for f in sorted(lake.list_files(layout.warnings_prefix(month, province)), key=lambda f: f.key)
        if f.key.endswith(".parquet")
    ]
    return pa.concat_tables(parts) if parts else WARNING_SCHEMA.empty_table()


def _warning_files(lake: Lake, province: str) -> dict[str, int]:
    """Every warnings file of the province (all months): key → size (a listing, no reads)."""
    out: dict[str, int] = {}
    for month in sorted(_months(lake)):
        for f in lake.list_files(layout.warnings_prefix(month, province)):
            if f.key.endswith(".parquet"):
                out[f.key] = f.size
    return out


def _month_of(key: str) -> str:
    return key.split("month=", 1)[1].split("/", 1)[0]


def _read_snapshot(lake: Lake, province: str, files: dict[str, int]) -> tuple[pa.Table, set[str]] | None:
    """The stored current state and the files it covers, or None when there is none or it no
    longer matches the files (a covered file gone or changed size: rebuilt from history)."""
    key = layout.warnings_current_key(province)
    if not lake.exists(key):
        return None
    t = _read(lake, key)
    meta = (t.schema.metadata or {}).get(SNAPSHOT_FILES)
    covered: dict[str, int] = json.loads(meta) if meta else {}
    if any(files.get(k) != size for k, size in covered.items()):
        logger.warning("warnings snapshot of province %s is stale: rebuilt from the history", province)
        return None
    return t.replace_schema_metadata(None), set(covered)


def current_warnings(lake: Lake, province: str) -> pa.Table:
    """The latest row of every warning of the province, all months, with a ``month`` column.

    Read from the compacted snapshot (``compact``) plus only the files written after it, so a
    run's cost does not grow with the warning history; without a valid snapshot, from every
    file (as before snapshots existed)."""
    files = _warning_files(lake, province)
    snap = _read_snapshot(lake, province, files)
    base, covered = snap if snap is not None else (None, set())
    parts = [] if base is None else [base]
    for key in sorted(k for k in files if k not in covered):
        t = _upgrade_warnings(_read(lake, key))
        if t.num_rows:
            parts.append(t.append_column("month", pa.array([_month_of(key)] * t.num_rows, pa.string())))
    if not parts:
        return WARNING_SCHEMA.empty_table().append_column("month", pa.array([], pa.string()))
    return _latest(pa.concat_tables(parts), "warning_key", "state_at")


def compact(lake: Lake, province: str) -> str:
    """Write the province's current warning state and the files it covers (the warnings run
    calls it after writing; idempotent). Re-derivable: deleting it costs one full read of the
    history on the next run."""
    files = _warning_files(lake, province)
    table = current_warnings(lake, province)
    meta = {SNAPSHOT_FILES: json.dumps(files, sort_keys=True)}
    key = layout.warnings_current_key(province)
    lake.write_parquet(key, table.replace_schema_metadata(meta))
    return key


def existing_keys(lake: Lake, province: str) -> set[str]:
    """Every warning key already written for the province, across all months."""
    return set(current_warnings(lake, province)["warning_key"].to_pylist())


def load_warnings(
    lake: Lake, month: str, province: str, *, rule: str | None = None, state: str | None = None
) -> pa.Table:
    """The warnings of one month and province in their current state (optionally one rule id
    and/or one state), one row per key, oldest detection first."""
    t = _latest(history(lake, month, province), "warning_key", "state_at")
    if rule:
        t = t.filter(pc.equal(t["rule_id"], rule))
    if state:
        t = t.filter(pc.equal(t["state"], state))
    t = t.append_column("month", pa.array([month] * t.num_rows, pa.string()))
    if not t.num_rows:
        return t
    return t.take(
        pc.sort_indices(
            t,
            sort_keys=[("detected_at", "ascending"), ("rule_id", "ascending"), ("uscc", "ascending")],
        )
    )


def load_tasks(lake: Lake, month: str, province: str) -> pa.Table:
    """One row per task (its latest version), highest severity and score first."""
    parts = []
    for f in sorted(lake.list_files(layout.tasks_prefix(month, province)), key=lambda f: f.key):
        if f.key.endswith(".parquet"):
            t = _read(lake, f.key)
            if "reasons" not in t.column_names:
                logger.warning("skipping task file %s written before one-task-per-entity", f.key)
                continue
            parts.append(t.select(TASK_SCHEMA.names).cast(TASK_SCHEMA))
    if not parts:
        return TASK_SCHEMA.empty_table()
    t = _latest(pa.concat_tables(parts), "task_id", "updated_at")
    rows = sorted(t.to_pylist(), key=task_order)
    return pa.Table.from_pylist(rows, schema=TASK_SCHEMA)


def task_order(task: dict[str, Any]) -> tuple[Any, ...]:
    """Highest severity first, then highest score, then the entity code (stable)."""
    from functions.warnings.config import severity_rank

    score = task.get("risk_score")
    return (-severity_rank(task["severity"]), -(score if score is not None else -1.0), task["uscc"])
