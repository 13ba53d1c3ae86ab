"""The as-of read model of a run, as Trino SQL (ADR 0031).

Per dataset: rows ingested at or before the cutoff, then the latest version of each key (order by
``_ingested_at`` desc, ``_ingest_id`` desc), then only records whose event date is on or before the
period end (a null event date survives where the column is optional, e.g. an unfiled report).
The order matters: a correction may move a record's date, so the date filter comes last. A dataset
whose date records when an obligation was met (``DatasetSpec.date_is_fulfilment``: annual reports)
keeps a row dated after the period end, with the date read as NULL: unmet at the period end.

When the run knows the dataset's ingests (one curated file each, every row of a file stamped with
the same ``_ingest_id`` and ``_ingested_at``; see ``ingests_of``), the latest version per key is
found without a window (ADR 0036): the ingests are ranked at compile time, the keys of every ingest
but the oldest are grouped once (``max`` rank per key), and a row survives when no newer ingest has
its key. Typically the oldest ingest holds most rows, so this costs a small group-by and a hash
probe instead of partitioning and sorting every full row. Same rows as the window, by construction.
"""

from __future__ import annotations

import datetime as dt

from schemas.datasets import DATASETS, DatasetSpec

CURATED_TABLE_PREFIX = "curated_"
RESULTS_TABLE = "classifications"
FIELD_RESULTS_TABLE = "field_classifications"  # partitioned field/month/province (docs/adr/0117)


def curated_table(dataset: str) -> str:
    return f"{CURATED_TABLE_PREFIX}{dataset}"


def date_literal(day: dt.date) -> str:
    return f"DATE '{day.isoformat()}'"


def _str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _in_list(values: tuple[str, ...]) -> str:
    return ", ".join(_str(v) for v in values)


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
    ingests: tuple[str, ...] | None = None,
) -> str:
    """``SELECT`` of the dataset as the run sees it: contract columns only, or just ``columns``
    (plus the key and event date; engines do not push projections through the window).

    ``ingests``: the dataset's ingest ids for the province, oldest first (by ``_ingested_at``,
    then ``_ingest_id``), already limited to those at or before the cutoff; only these are read."""
    wanted = set(columns or spec.columns) | set(spec.key) | {spec.event_date}
    cols = ", ".join(c for c in spec.columns if c in wanted)
    keys = ", ".join(spec.key)
    event = spec.event_date
    optional = not spec.column(event).required

    def date_ok(prefix: str = "") -> str:
        if spec.date_is_fulfilment:
            return "TRUE"
        cond = f"{prefix}{event} <= {date_literal(period_end)}"
        return f"({prefix}{event} IS NULL OR {cond})" if optional else cond

    def as_of(select: str) -> str:
        """An obligation met after the period end was still open at the period end."""
        if not spec.date_is_fulfilment:
            return select
        shown = ", ".join(
            f"CASE WHEN {event} <= {date_literal(period_end)} THEN {event} END AS {event}"
            if c == event
            else c
            for c in spec.columns
            if c in wanted
        )
        return f"SELECT {shown} FROM ({select}) AS fulfilled"

    scope = f"province = '{province}' AND _ingested_at <= {timestamp_literal(cutoff)}"
    if ingests is not None:
        if not ingests:
            return as_of(f"SELECT {cols} FROM {curated_table(spec.name)} WHERE FALSE")
        scope += f" AND _ingest_id IN ({_in_list(ingests)})"
        if len(ingests) > 1:
            rank = " ".join(f"WHEN {_str(i)} THEN {n}" for n, i in enumerate(ingests, 1))
            rcols = ", ".join(f"r.{c}" for c in spec.columns if c in wanted)
            on = " AND ".join(f"n.{k} = r.{k}" for k in spec.key)
            newer = (
                f"SELECT {keys}, max(CASE _ingest_id {rank} END) AS _top FROM {curated_table(spec.name)} "
                f"WHERE province = '{province}' AND _ingest_id IN ({_in_list(ingests[1:])}) GROUP BY {keys}"
            )
            return as_of(
                f"SELECT {rcols} FROM ("
                f"SELECT {cols}, CASE _ingest_id {rank} END AS _rk FROM {curated_table(spec.name)} "
                f"WHERE {scope}) AS r LEFT JOIN ({newer}) AS n ON {on} "
                f"WHERE (n._top IS NULL OR n._top <= r._rk) AND {date_ok('r.')}"
            )
        single_ingest = True
    if single_ingest:
        # One curated file: keys are unique in it (ingestion rejects in-file duplicates), so the
        # latest-per-key window is a no-op and is skipped (it is half the cost of a run).
        return as_of(f"SELECT {cols} FROM {curated_table(spec.name)} WHERE {scope} AND {date_ok()}")
    return as_of(
        f"SELECT {cols} FROM ("
        f"SELECT {cols}, row_number() OVER "
        f"(PARTITION BY {keys} ORDER BY _ingested_at DESC, _ingest_id DESC) AS _rn "
        f"FROM {curated_table(spec.name)} "
        f"WHERE province = '{province}' AND _ingested_at <= {timestamp_literal(cutoff)}"
        f") AS v WHERE _rn = 1 AND {date_ok()}"
    )


def as_of_ctes(
    datasets: dict[str, tuple[str, ...]],
    *,
    province: str,
    cutoff: dt.datetime,
    period_end: dt.date,
    single_ingest: frozenset[str] = frozenset(),
    ingests: dict[str, tuple[str, ...]] | None = None,
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
                ingests=(ingests or {}).get(name),
            ),
        )
        for name, cols in datasets.items()
    ]
