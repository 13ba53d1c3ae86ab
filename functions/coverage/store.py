"""Coverage rows: ``results/coverage/province=P/part-<dataset>-<ingest_id>.parquet``, one per ingest.

Each accepted ingest appends what it delivered, computed from its own curated file (the event
date column and, for annual reports, the report year: two columns of one file, never a scan of
the province). Append-only, one file per ingest: two ingests landing at once never lose each
other's rows, and a redelivered upload rewrites the same key with the same rows. The coverage of
a province is the union (``summary``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from functions import layout
from functions.errors import StorageError
from schemas.datasets import DATASETS
from schemas.warnings import COVERAGE_SCHEMA

if TYPE_CHECKING:
    from functions.lake import Lake
    from schemas.ingest import IngestReport

logger = logging.getLogger(__name__)
ANNUAL = "annual_reports"


def coverage_rows(
    dataset: str, table: pa.Table, *, ingest_id: str, ingested_at: dt.datetime
) -> list[dict[str, Any]]:
    """What ``table`` (rows of ``dataset``) delivers: one row, or one per report year."""
    date_col = DATASETS[dataset].event_date
    groups: list[tuple[int | None, pa.Table]]
    if dataset == ANNUAL and table.num_rows:
        years = sorted(y for y in pc.unique(table["year"]).to_pylist() if y is not None)
        groups = [(int(y), table.filter(pc.equal(table["year"], y))) for y in years]
    else:
        groups = [(None, table)]
    out = []
    for year, part in groups:
        dates = part[date_col] if date_col in part.column_names else pa.array([], pa.date32())
        mm = pc.min_max(dates)
        out.append(
            {
                "dataset": dataset,
                "ingest_id": ingest_id,
                "ingested_at": ingested_at,
                "rows": part.num_rows,
                "first_event_on": mm["min"].as_py(),
                "last_event_on": mm["max"].as_py(),
                "report_year": year,
            }
        )
    return out


class Delivered:
    """``coverage_rows`` of a table seen batch by batch: the ingest counts its accepted rows as
    it writes them, so recording their coverage reads nothing back (docs/adr/0136)."""

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset
        self._groups: dict[int | None, tuple[int, Any, Any]] = {}  # year → rows, first, last

    def add(self, table: pa.Table) -> None:
        date_col = DATASETS[self.dataset].event_date
        if self.dataset == ANNUAL:
            for y in pc.unique(table["year"]).to_pylist():
                if y is not None:
                    part = table.filter(pc.equal(table["year"], y))
                    self._add(int(y), part[date_col], part.num_rows)
        else:
            dates = table[date_col] if date_col in table.column_names else pa.array([], pa.date32())
            self._add(None, dates, table.num_rows)

    def _add(self, year: int | None, dates: pa.Array | pa.ChunkedArray, n: int) -> None:
        mm = pc.min_max(dates)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        rows, first, last = self._groups.get(year, (0, None, None))
        first = lo if first is None else first if lo is None else min(first, lo)
        last = hi if last is None else last if hi is None else max(last, hi)
        self._groups[year] = (rows + n, first, last)

    def rows(self, *, ingest_id: str, ingested_at: dt.datetime) -> list[dict[str, Any]]:
        """What ``coverage_rows`` gives for all the tables added, as one."""
        years: list[int | None] = [None]
        if self.dataset == ANNUAL:
            years = [*sorted(y for y in self._groups if y is not None)]
        out = []
        for year in years:
            rows, first, last = self._groups.get(year, (0, None, None))
            out.append(
                {
                    "dataset": self.dataset,
                    "ingest_id": ingest_id,
                    "ingested_at": ingested_at,
                    "rows": rows,
                    "first_event_on": first,
                    "last_event_on": last,
                    "report_year": year,
                }
            )
        return out


def record_curated(
    lake: Lake,
    dataset: str,
    province: str,
    curated_key: str,
    *,
    ingest_id: str,
    ingested_at: dt.datetime,
    delivered: Delivered | None = None,
) -> str | None:
    """Append the coverage of one committed ingest: counted as it was written (``delivered``),
    else from two columns of its curated file."""
    if delivered is not None:
        rows = delivered.rows(ingest_id=ingest_id, ingested_at=ingested_at)
    else:
        columns = [DATASETS[dataset].event_date] + (["year"] if dataset == ANNUAL else [])
        try:
            table = lake.read_parquet(curated_key, columns=columns)
        except (OSError, pa.ArrowInvalid) as exc:
            raise StorageError(f"cannot read {lake.display(curated_key)} for coverage: {exc}") from exc
        rows = coverage_rows(dataset, table, ingest_id=ingest_id, ingested_at=ingested_at)
    if not rows or not any(r["rows"] for r in rows):
        return None
    key = layout.coverage_key(province, dataset, ingest_id)
    lake.write_parquet(key, pa.Table.from_pylist(rows, schema=COVERAGE_SCHEMA))
    return key


def record_reports(
    lake: Lake, reports: list[IngestReport], delivered: Mapping[str, Delivered] | None = None
) -> list[str]:
    """Record the coverage of each accepted ingest not yet recorded (the pipeline does it at
    commit, with what it counted per ingest id in ``delivered``; the upload follow-up catches any
    committed without it). Failures are logged, never raised: the ingest is committed, and
    ``rebuild`` recomputes coverage from curated files."""
    keys = []
    for r in reports:
        if r.status != "accepted" or not r.curated_key or not r.rows_accepted:
            continue
        if lake.exists(layout.coverage_key(r.province, r.dataset, r.ingest_id)):
            continue
        try:
            at = dt.datetime.fromisoformat(r.ingested_at.replace("Z", "+00:00"))
            key = record_curated(
                lake,
                r.dataset,
                r.province,
                r.curated_key,
                ingest_id=r.ingest_id,
                ingested_at=at,
                delivered=(delivered or {}).get(r.ingest_id),
            )
        except Exception as exc:
            logger.error("coverage of ingest %s failed: %s", r.ingest_id, type(exc).__name__, exc_info=exc)
            continue
        if key:
            keys.append(key)
    return keys


def rebuild(lake: Lake, province: str) -> list[str]:
    """Coverage for every curated file of the province that has none (lakes ingested before
    coverage existed, or an ingest whose recording failed): two columns of each such file.
    Files already covered are found by one listing of the coverage folder, so a province whose
    coverage is complete costs a listing per dataset and reads nothing."""
    have = {f.key for f in lake.list_files(layout.coverage_prefix(province))}
    keys = []
    for dataset in DATASETS:
        for f in lake.list_files(layout.curated_prefix(dataset, province)):
            ingest_id = layout.curated_ingest_id(f.key)
            if ingest_id is None or layout.coverage_key(province, dataset, ingest_id) in have:
                continue
            at = lake.read_parquet(f.key, columns=["_ingested_at"])["_ingested_at"]
            when = pc.min(at).as_py() or dt.datetime.now(dt.UTC)
            key = record_curated(lake, dataset, province, f.key, ingest_id=ingest_id, ingested_at=when)
            if key:
                keys.append(key)
    return keys


def ensure(lake: Lake, province: str) -> Coverage:
    """The province's coverage, first recorded for any curated file that has none.

    What every consumer (warnings, classification) calls: a lake whose curated data predates
    coverage, or an ingest whose recording failed, no longer holds every rule back until someone
    runs ``creditrisk coverage --rebuild`` by hand (docs/adr/0133)."""
    added = rebuild(lake, province)
    if added:
        logger.info("recorded coverage for %d curated files of province %s", len(added), province)
    return summary(lake, province)


def load_coverage(lake: Lake, province: str) -> pa.Table:
    """Every coverage row of the province (small: a few rows per ingest)."""
    parts = []
    for f in lake.list_files(layout.coverage_prefix(province)):
        if f.key.endswith(".parquet"):
            try:
                parts.append(lake.read_parquet(f.key).select(COVERAGE_SCHEMA.names).cast(COVERAGE_SCHEMA))
            except (OSError, pa.ArrowInvalid) as exc:
                raise StorageError(f"cannot read coverage at {lake.display(f.key)}: {exc}") from exc
    return pa.concat_tables(parts) if parts else COVERAGE_SCHEMA.empty_table()


@dataclass(frozen=True)
class DatasetCoverage:
    dataset: str
    rows: int
    first_event_on: dt.date | None
    last_event_on: dt.date | None
    report_years: tuple[int, ...] = ()
    ingests: int = 0


@dataclass(frozen=True)
class Coverage:
    """The union of a province's coverage rows, per dataset (absent = never delivered)."""

    province: str
    datasets: dict[str, DatasetCoverage] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "province": self.province,
            "datasets": {
                name: {
                    "rows": c.rows,
                    "first_event_on": c.first_event_on.isoformat() if c.first_event_on else None,
                    "last_event_on": c.last_event_on.isoformat() if c.last_event_on else None,
                    "report_years": list(c.report_years),
                    "ingests": c.ingests,
                }
                for name, c in sorted(self.datasets.items())
            },
        }


def summarise(province: str, rows: pa.Table) -> Coverage:
    out: dict[str, DatasetCoverage] = {}
    by: dict[str, list[dict[str, Any]]] = {}
    for r in rows.to_pylist():
        by.setdefault(r["dataset"], []).append(r)
    for name, rs in by.items():
        firsts = [r["first_event_on"] for r in rs if r["first_event_on"] is not None]
        lasts = [r["last_event_on"] for r in rs if r["last_event_on"] is not None]
        out[name] = DatasetCoverage(
            name,
            sum(int(r["rows"]) for r in rs),
            min(firsts) if firsts else None,
            max(lasts) if lasts else None,
            tuple(sorted({int(r["report_year"]) for r in rs if r["report_year"] is not None})),
            len({r["ingest_id"] for r in rs}),
        )
    return Coverage(province, out)


def summary(lake: Lake, province: str) -> Coverage:
    return summarise(province, load_coverage(lake, province))
