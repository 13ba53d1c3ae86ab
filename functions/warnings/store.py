"""Warning and task partitions: ``results/warnings|tasks/month=M/province=P/part-<run_id>.parquet``.

A run writes only warnings whose key was never written before for the province, so the same
fact never raises two warnings (docs/adr/0063). Readers also drop repeated keys (keeping the
earliest detection) so that two runs racing on the same upload still show one warning.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from functions import layout
from functions.errors import StorageError

if TYPE_CHECKING:
    from functions.lake import Lake

logger = logging.getLogger(__name__)

WARNING_SCHEMA = pa.schema(
    [
        pa.field("warning_key", pa.string(), nullable=False),
        pa.field("rule", pa.string(), nullable=False),  # id@version
        pa.field("rule_id", pa.string(), nullable=False),
        pa.field("rule_name", pa.string(), nullable=False),
        pa.field("uscc", pa.string(), nullable=False),
        pa.field("province", pa.string(), nullable=False),
        pa.field("month", pa.string(), nullable=False),
        pa.field("severity", pa.string(), nullable=False),
        pa.field("fact", pa.string(), nullable=False),
        pa.field("event_on", pa.date32()),
        pa.field("evidence", pa.string(), nullable=False),  # JSON object
        pa.field("detected_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("trigger", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("dispatched", pa.bool_(), nullable=False),
    ]
)
TASK_SCHEMA = pa.schema(
    [
        pa.field("task_id", pa.string(), nullable=False),
        pa.field("warning_key", pa.string(), nullable=False),
        pa.field("rule", pa.string(), nullable=False),
        pa.field("rule_name", pa.string(), nullable=False),
        pa.field("uscc", pa.string(), nullable=False),
        pa.field("province", pa.string(), nullable=False),
        pa.field("month", pa.string(), nullable=False),
        pa.field("severity", pa.string(), nullable=False),
        pa.field("evidence", pa.string(), nullable=False),
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
    ]
)


def _months(lake: Lake) -> list[str]:
    return [d.split("=", 1)[1] for d in lake.list_dirs(layout.warnings_prefix()) if d.startswith("month=")]


def _read(lake: Lake, key: str, columns: list[str] | None = None) -> pa.Table:
    try:
        return lake.read_parquet(key, columns=columns)
    except (OSError, pa.ArrowInvalid) as exc:
        raise StorageError(f"cannot read warnings at {lake.display(key)}: {exc}") from exc


def existing_keys(lake: Lake, province: str) -> set[str]:
    """Every warning key already written for the province, across all months."""
    keys: set[str] = set()
    for month in _months(lake):
        for f in lake.list_files(layout.warnings_prefix(month, province)):
            if f.key.endswith(".parquet"):
                keys.update(_read(lake, f.key, ["warning_key"])["warning_key"].to_pylist())
    return keys


def write_partition(lake: Lake, key: str, rows: list[dict[str, Any]], schema: pa.Schema) -> str | None:
    if not rows:
        return None
    lake.write_parquet(key, pa.Table.from_pylist(rows, schema=schema))
    return key


def _load(lake: Lake, prefix: str, schema: pa.Schema, key: str, time: str) -> pa.Table:
    parts = [
        _read(lake, f.key).select(schema.names).cast(schema)
        for f in lake.list_files(prefix)
        if f.key.endswith(".parquet")
    ]
    if not parts:
        return schema.empty_table()
    t = pa.concat_tables(parts)
    t = t.take(pc.sort_indices(t, sort_keys=[(key, "ascending"), (time, "ascending")]))
    # Keep the first (earliest) row per key: drop later duplicates from racing runs.
    keys = t[key].to_pylist()
    keep = [i for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k]
    return t.take(pa.array(keep, pa.int64())) if len(keep) != t.num_rows else t


def load_warnings(lake: Lake, month: str, province: str, *, rule: str | None = None) -> pa.Table:
    """The warnings of one month and province (optionally one rule id), one row per key."""
    t = _load(lake, layout.warnings_prefix(month, province), WARNING_SCHEMA, "warning_key", "detected_at")
    if rule:
        t = t.filter(pc.equal(t["rule_id"], rule))
    return t.take(
        pc.sort_indices(
            t, sort_keys=[("detected_at", "ascending"), ("rule_id", "ascending"), ("uscc", "ascending")]
        )
    )


def load_tasks(lake: Lake, month: str, province: str) -> pa.Table:
    t = _load(lake, layout.tasks_prefix(month, province), TASK_SCHEMA, "task_id", "created_at")
    return t.take(pc.sort_indices(t, sort_keys=[("created_at", "ascending"), ("task_id", "ascending")]))
