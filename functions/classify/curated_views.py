"""The as-of read model of a run, as Trino SQL (ADR 0031).

Per dataset: rows ingested at or before the cutoff, then the latest version of each key (order by
``_ingested_at`` desc, ``_ingest_id`` desc), then only records whose event date is on or before the
period end (a null event date survives where the column is optional, e.g. an unfiled report).
The order matters: a correction may move a record's date, so the date filter comes last.
"""

from __future__ import annotations

import datetime as dt

from schemas.datasets import DATASETS, DatasetSpec

CURATED_TABLE_PREFIX = "curated_"
RESULTS_TABLE = "classifications"


def curated_table(dataset: str) -> str:
    return f"{CURATED_TABLE_PREFIX}{dataset}"


def date_literal(day: dt.date) -> str:
    return f"DATE '{day.isoformat()}'"


def timestamp_literal(ts: dt.datetime) -> str:
    """A UTC ``timestamp with time zone`` literal (microseconds kept: cutoffs are exact)."""
    utc = ts.astimezone(dt.UTC)
    return f"TIMESTAMP '{utc.strftime('%Y-%m-%d %H:%M:%S.%f')} UTC'"


def as_of_view(
    spec: DatasetSpec,
    *,
    province: str,
    cutoff: dt.datetime,
    period_end: dt.date,
    columns: tuple[str, ...] | None = None,
    single_ingest: bool = False,
) -> str:
    """``SELECT`` of the dataset as the run sees it: contract columns only, or just ``columns``
    (plus the key and event date; engines do not push projections through the window)."""
    wanted = set(columns or spec.columns) | set(spec.key) | {spec.event_date}
    cols = ", ".join(c for c in spec.columns if c in wanted)
    keys = ", ".join(spec.key)
    event = spec.event_date
    optional = not spec.column(event).required
    date_ok = f"{event} <= {date_literal(period_end)}"
    if optional:
        date_ok = f"({event} IS NULL OR {date_ok})"
    if single_ingest:
        # One curated file: keys are unique in it (ingestion rejects in-file duplicates), so the
        # latest-per-key window is a no-op and is skipped (it is half the cost of a run).
        return (
            f"SELECT {cols} FROM {curated_table(spec.name)} "
            f"WHERE province = '{province}' AND _ingested_at <= {timestamp_literal(cutoff)} AND {date_ok}"
        )
    return (
        f"SELECT {cols} FROM ("
        f"SELECT {cols}, row_number() OVER "
        f"(PARTITION BY {keys} ORDER BY _ingested_at DESC, _ingest_id DESC) AS _rn "
        f"FROM {curated_table(spec.name)} "
        f"WHERE province = '{province}' AND _ingested_at <= {timestamp_literal(cutoff)}"
        f") AS v WHERE _rn = 1 AND {date_ok}"
    )


def as_of_ctes(
    datasets: dict[str, tuple[str, ...]],
    *,
    province: str,
    cutoff: dt.datetime,
    period_end: dt.date,
    single_ingest: frozenset[str] = frozenset(),
) -> list[tuple[str, str]]:
    """(name, select) pairs for a ``WITH`` clause, one per dataset the system reads, each
    projecting only the columns the system uses."""
    return [
        (
            name,
            as_of_view(
                DATASETS[name],
                province=province,
                cutoff=cutoff,
                period_end=period_end,
                columns=cols,
                single_ingest=name in single_ingest,
            ),
        )
        for name, cols in datasets.items()
    ]
