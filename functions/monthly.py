"""The monthly run: classify every province, then, for each one that published, raise the
month's warnings, analyse regions/industries/effectiveness and write the report beside the
results. One call for the schedule and for operators.

A follow-up failure is reported per province (``follow_up.status == "failed"``) and logged; it
never unpublishes the classification, and re-running the follow-up alone is safe
(``after_classification`` rewrites its outputs; warnings are deduplicated).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from functions.obs.context import log_context

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings
    from functions.warnings.notify import Notifier

logger = logging.getLogger(__name__)


def run_monthly(
    lake: Lake,
    *,
    month: str,
    settings: Settings,
    now: dt.datetime,
    boto3_session: Any = None,
    notifier: Notifier | None = None,
    athena_runner: Any = None,
) -> dict[str, Any]:
    """``classify_all`` for ``month`` as of ``now``, then ``after_classification`` per published
    province.

    ``athena_runner`` is used by the follow-up steps only (the classification has its own).
    """
    from functions.classify.run import classify_all

    # One as-of instant for the classification and its follow-ups: both read the same data.
    summary = classify_all(lake, month=month, settings=settings, cutoff=now, boto3_session=boto3_session)
    return run_follow_ups(
        lake,
        summary,
        settings=settings,
        now=now,
        boto3_session=boto3_session,
        notifier=notifier,
        athena_runner=athena_runner,
    )


def run_follow_ups(
    lake: Lake,
    summary: dict[str, Any],
    *,
    settings: Settings,
    now: dt.datetime,
    boto3_session: Any = None,
    notifier: Notifier | None = None,
    athena_runner: Any = None,
) -> dict[str, Any]:
    """``after_classification`` for every province ``summary`` (a ``classify_all`` summary)
    reports as published; each province's ``follow_up`` is added to the summary, which is
    returned. ``now`` must be the classification's cutoff, so both read the same data."""
    from functions.report.monthly import after_classification

    month = summary["month"]
    for province, info in sorted(summary["provinces"].items()):
        if info.get("status") != "published":
            continue
        try:
            with log_context(province=province, month=month, run_id=info.get("run_id")):
                done = after_classification(
                    lake,
                    month=month,
                    province=province,
                    settings=settings,
                    now=now,
                    notifier=notifier,
                    athena_runner=athena_runner,
                    boto3_session=boto3_session,
                )
        except Exception as exc:  # the classification stays published; say what failed
            logger.error("follow-up of %s/%s failed: %s", province, month, type(exc).__name__, exc_info=exc)
            info["follow_up"] = {"status": "failed", "error": type(exc).__name__, "message": str(exc)[:500]}
            continue
        w = done["warnings"]
        info["follow_up"] = {
            "status": "done",
            "warnings": {
                "run_id": w["run_id"],
                "raised": w["raised"],
                "duplicates": w["duplicates"],
                "tasks": w["tasks"],
                "warnings_key": w["warnings_key"],
                "notify_error": w["notify_error"],
                # inputs missing for rules or gated indicators, one alert each (ADR 0104, 0138)
                "data_gaps": w["data_gaps"],
                "gaps_updated": w["gaps_updated"],  # open alerts whose evidence grew
            },
            "analysis": done["analysis"],
            "effectiveness": done["effectiveness"],
            "report_key": done["report_key"],
            "county_pages": len(done["county_pages"]),
        }
    failed = sorted(
        p for p, i in summary["provinces"].items() if i.get("follow_up", {}).get("status") == "failed"
    )
    if failed:
        summary["follow_up_failed"] = failed
    return summary
