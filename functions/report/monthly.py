"""What the monthly run does once a province's classification is published."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.analysis.analyse import analyse
from functions.analysis.effectiveness import effectiveness
from functions.report.county import write_county_pages
from functions.report.html import write_report
from functions.warnings.engine import run_warnings
from functions.warnings.notify import Notifier

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)


def after_classification(
    lake: Lake,
    *,
    month: str,
    province: str,
    settings: Settings,
    now: dt.datetime,
    notifier: Notifier | None = None,
    engine: str | None = None,
    athena_runner: Any = None,
    boto3_session: Any = None,
) -> dict[str, Any]:
    """Warnings (trigger ``monthly``), analysis, effectiveness, the report and the county pages
    (one HTML + CSV per county of the province, ADR 0111), in that order.

    Each step rewrites its own outputs, so re-running after a failure is safe; warnings are
    deduplicated by key, so a re-run raises nothing twice. The warning and inspection SQL runs on
    ``engine`` (default ``settings.engine``), and so do the analysis aggregates (ADR 0109): in
    AWS all of it is Athena, none of it needs DuckDB (docs/adr/0068).
    """
    on = {"engine": engine, "athena_runner": athena_runner, "boto3_session": boto3_session}
    warnings = run_warnings(
        lake,
        month=month,
        province=province,
        trigger="monthly",
        now=now,
        settings=settings,
        notifier=notifier,
        **on,
    )
    from functions.objections.overdue import sync_overdue_warnings

    overdue = sync_overdue_warnings(lake, province, now=now)  # undecided past 5 working days (ADR 0121)
    summary = analyse(lake, month=month, province=province, settings=settings, write=True, **on)
    eff = effectiveness(lake, month=month, province=province, cutoff=now, settings=settings, **on)
    eff_key = layout.analysis_key(month, province, "effectiveness.json")
    lake.write_json(eff_key, eff)
    report = write_report(lake, month=month, province=province, settings=settings, now=now, **on)
    from functions.delivery.announce import announce
    from functions.delivery.export import export_month

    exported = export_month(lake, month, province, settings=settings, now=now, **on)  # ADR 0122, 0152
    announce_error = announce(exported, settings)
    # every county of the month, on the engine; same keys and bytes on a re-run (same ``now``)
    counties = write_county_pages(lake, month=month, province=province, settings=settings, now=now, **on)
    logger.info("after-classification steps done for %s/%s", province, month)
    counts = summary["class_counts"]
    lines = [
        f"warnings: {warnings.raised} new ({warnings.duplicates} already raised), "
        f"{warnings.tasks} inspection tasks",
        "classes: "
        + "  ".join(f"{c} {n:,}" for c, n in counts.items())
        + f"  (C+D share {summary['cd_share'] or 0:.1%})",
        f"high-risk regions flagged: {summary['flagged_regions']}, "
        f"industries: {summary['flagged_industries']}",
        effectiveness_line(eff),
    ]
    return {
        "month": month,
        "province": province,
        "warnings": warnings.to_dict(),
        "objection_warnings": overdue,
        "delivery": {
            "rows": exported.rows,
            "files": [f.key for f in exported.files],
            "announce_error": announce_error,
        },
        "analysis": summary["keys"],
        "effectiveness": eff_key,
        "report": report,
        "report_key": report,
        "report_uri": lake.display(report),
        "county_pages": [w["html"] for w in counties],
        "summary": lines,
    }


def effectiveness_line(eff: dict[str, Any]) -> str:
    """The run's one-line effectiveness summary, from the figures with n and an interval: a bare
    ratio here (issue 16's "lift D/A 11.33" on one D inspection) is what misled analysts."""
    from functions.analysis.backtest import fmt_figure

    fg = eff["figures"]
    bands = eff.get("psi_cutoff_bands") or {}
    psi = "—"
    if bands.get("psi_previous") is not None:
        psi = f"{bands['psi_previous']:.3f} ({bands['psi_previous_band']}) vs last month"
        if bands.get("psi_reference") is not None:
            psi += f", {bands['psi_reference']:.3f} ({bands['psi_reference_band']}) vs {bands['reference']}"
    return (
        f"effectiveness: {eff['inspections']} inspections, {eff['problems']} with problems, "
        f"{fg['unclassified']['inspections']} without a class; "
        f"AUC {fmt_figure(fg['auc'], 'ratio')}, lift D/A {fmt_figure(fg['lift_d_over_a'], 'ratio')}, "
        f"PSI on the cut-off bands {psi}"
    )
