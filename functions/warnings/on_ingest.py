"""Real-time monitoring (实时监测): after an upload lands, warn for the entities it touched.

The same function serves the upload trigger in AWS (``app._ingest_landed``) and ``creditrisk
ingest``, so both raise the same warnings. The month is the current month in the regulator's
time zone; the rules read the whole province as of now (clusters and relationships see every
entity) but only warnings about the upload's entities are kept. A warnings failure never fails
the ingest: the curated data is already committed, the failure is logged and reported, and the
monthly run raises whatever was missed (warnings are deduplicated by key, docs/adr/0063).

Before the rules run, the ingest's coverage (what it delivered: datasets, dates, report years)
is appended to ``results/coverage`` from the ingest's own curated file (docs/adr/0104), so the
rules see the inputs that just arrived.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings
    from functions.warnings.notify import Notifier
    from schemas.ingest import IngestReport

logger = logging.getLogger(__name__)
WARN_STATUSES = ("accepted", "duplicate")  # a redelivered upload re-checks; dedup keeps it quiet


def touched_usccs(lake: Lake, curated_key: str) -> list[str]:
    """The distinct entity codes of one curated file (only its ``uscc`` column is read)."""
    column = lake.read_parquet(curated_key, columns=["uscc"])["uscc"]
    values = pc.unique(column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column)
    return sorted(str(v) for v in values.drop_null().to_pylist())


def warn_after_ingest(
    lake: Lake,
    report: IngestReport,
    *,
    settings: Settings,
    now: dt.datetime,
    notifier: Notifier | None = None,
    athena_runner: Any = None,
    boto3_session: Any = None,
) -> dict[str, Any]:
    """Run the warning rules (trigger ``upload``) for the entities of ``report``'s curated file.

    Returns ``{"status": "raised" | "skipped" | "failed", ...}``; never raises.
    """
    out = warn_after_ingests(
        lake,
        [report],
        settings=settings,
        now=now,
        notifier=notifier,
        athena_runner=athena_runner,
        boto3_session=boto3_session,
    )
    return out.get(report.province) or {
        "status": "skipped",
        "reason": f"ingest {report.status} with no curated rows",
    }


def _about_entities(dataset: str) -> bool:
    """Reference data (the inspector roster) raises no warnings."""
    from schemas.datasets import DATASETS

    spec = DATASETS.get(dataset)
    return spec is None or spec.entity_data


def warn_after_ingests(
    lake: Lake,
    reports: list[IngestReport],
    *,
    settings: Settings,
    now: dt.datetime,
    notifier: Notifier | None = None,
    athena_runner: Any = None,
    boto3_session: Any = None,
) -> dict[str, dict[str, Any]]:
    """Several uploads at once (``creditrisk ingest`` of a folder): one run per province over the
    union of the entities they touched; {province: outcome} for provinces with curated rows."""
    by_province: dict[str, list[IngestReport]] = {}
    for r in reports:
        if r.status in WARN_STATUSES and r.curated_key and r.rows_accepted and _about_entities(r.dataset):
            by_province.setdefault(r.province, []).append(r)
    from functions.coverage.store import record_reports

    record_reports(lake, reports)
    out: dict[str, dict[str, Any]] = {}
    for province, group in sorted(by_province.items()):
        ids = ",".join(r.ingest_id for r in group)
        try:
            from functions.months import month_of
            from functions.warnings.engine import run_warnings

            usccs = sorted({u for r in group if r.curated_key for u in touched_usccs(lake, r.curated_key)})
            result = run_warnings(
                lake,
                month=month_of(now, settings.tz),
                province=province,
                uscc_filter=usccs,
                trigger="upload",
                now=now,
                settings=settings,
                notifier=notifier,
                athena_runner=athena_runner,
                boto3_session=boto3_session,
            )
        except Exception as exc:  # the ingest is committed; report the failure, never undo it
            logger.error("warnings after ingest %s failed: %s", ids, type(exc).__name__, exc_info=exc)
            out[province] = {"status": "failed", "error": type(exc).__name__, "message": str(exc)[:500]}
            continue
        logger.info(
            "warnings after ingest %s: %s entities, %s new, %s tasks",
            ids,
            len(usccs),
            result.raised,
            result.tasks,
        )
        out[province] = {
            "status": "raised",
            "entities": len(usccs),
            "run_id": result.run_id,
            "month": result.month,
            "raised": result.raised,
            "duplicates": result.duplicates,
            "by_rule": result.by_rule,
            "tasks": result.tasks,
            "warnings_key": result.warnings_key,
            "notify_error": result.notify_error,
            "resolved": result.resolved,
            "retracted": result.retracted,
            "data_gaps": list(result.data_gaps),
        }
    return out
