"""Inspection effectiveness (抽查效果评估): did the classes point at the problems?

Each inspection of the month is joined to the class (and score) its entity had when the plan
that chose it was drawn: the plan's target list when the inspection names a stored plan, else
the published classification of the month before the inspection (``class_source`` says which).
Then: problem-discovery rate per class, the lift of D over A, ROC AUC of the risk score, the
PSI of the score distribution against last month, and a replay in the manner of Chicago's
food-inspection evaluation (docs/analysis.md, ADR 0066).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.analysis import metrics
from functions.analysis.backtest import PROBLEM_RESULTS, band_psi, month_figures
from functions.analysis.engine import histograms, open_engine
from functions.analysis.lookup import entity_rows
from functions.errors import StorageError
from functions.months import previous_month
from functions.warnings.compile import Period
from functions.warnings.query import Scope, open_source
from schemas.results import RISK_CLASSES

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)

SOURCE_PLAN, SOURCE_PREVIOUS, SOURCE_NONE = "plan", "previous_month_classification", "none"


def _plan(
    lake: Lake, province: str, plan_id: str, cache: dict[str, dict[str, Any] | None]
) -> dict[str, Any] | None:
    if plan_id not in cache:
        key = layout.plan_key(province, plan_id)
        try:
            cache[plan_id] = lake.read_json(key) if layout.PLAN_ID_RE.match(plan_id) else None
        except FileNotFoundError:
            cache[plan_id] = None
        except ValueError as exc:
            raise StorageError(f"unreadable plan {lake.display(key)}: {exc}") from exc
    return cache[plan_id]


def _scores(
    lake: Lake,
    month: str,
    province: str,
    cache: dict[str, dict[str, tuple[str, float]]],
    usccs: set[str] | None = None,
) -> dict[str, tuple[str, float]]:
    """(class, score) of the inspected entities only: a filtered, streamed Parquet scan, never
    the whole province in memory (ADR 0109)."""
    if month not in cache:
        t = entity_rows(lake, month, province, usccs or (), ["uscc", "risk_class", "risk_score"])
        cache[month] = (
            {}
            if t is None
            else dict(
                zip(
                    t["uscc"].to_pylist(),
                    zip(t["risk_class"].to_pylist(), t["risk_score"].to_pylist(), strict=True),
                    strict=True,
                )
            )
        )
    return cache[month]


def inspections_of(
    lake: Lake,
    month: str,
    province: str,
    cutoff: dt.datetime,
    *,
    settings: Settings | None = None,
    engine: str | None = None,
    athena_runner: Any = None,
    boto3_session: Any = None,
) -> list[dict[str, Any]]:
    """The month's inspections, as of ``cutoff`` (latest ingest per inspection id wins), read
    on DuckDB or Athena like the warnings (:mod:`functions.warnings.query`)."""
    per = Period.of(month)
    source = open_source(
        lake,
        Scope(province, cutoff, per.end),
        settings=settings,
        engine=engine,
        job=f"effectiveness-{month}-{province}-{secrets.token_hex(4)}",
        datasets=("inspections",),
        athena_runner=athena_runner,
        boto3_session=boto3_session,
    )
    try:
        rows: list[dict[str, Any]] = source.query(
            "SELECT inspection_id, uscc, inspected_on, plan_id, domain, result FROM inspections "
            f"WHERE inspected_on BETWEEN DATE '{per.start}' AND DATE '{per.end}'",
            label=f"inspections of {month}",
        ).to_pylist()
    finally:
        source.close()
    # Athena's UNLOAD has no global order: order here, for both engines.
    return sorted(rows, key=lambda r: (r["inspected_on"], r["inspection_id"]))


def attach_classes(lake: Lake, rows: list[dict[str, Any]], month: str, province: str) -> list[dict[str, Any]]:
    """Adds ``risk_class``, ``risk_score`` and ``class_source`` to each inspection row."""
    plans: dict[str, dict[str, Any] | None] = {}
    scores: dict[str, dict[str, tuple[str, float]]] = {}
    fallback = previous_month(month)
    inspected = {str(r["uscc"]) for r in rows}
    for r in rows:
        cls, score, source = None, None, SOURCE_NONE
        plan = _plan(lake, province, r["plan_id"], plans) if r.get("plan_id") else None
        if plan is not None:
            target = next((t for t in plan.get("targets", []) if t.get("uscc") == r["uscc"]), None)
            if target is not None:
                cls, source = target.get("risk_class"), SOURCE_PLAN
                hit = _scores(lake, str(plan.get("month")), province, scores, inspected).get(r["uscc"])
                score = hit[1] if hit and hit[0] == cls else None
        if cls is None:
            hit = _scores(lake, fallback, province, scores, inspected).get(r["uscc"])
            if hit is not None:
                cls, score, source = hit[0], hit[1], SOURCE_PREVIOUS
        r.update(
            risk_class=cls, risk_score=score, class_source=source, problem=r["result"] in PROBLEM_RESULTS
        )
    return rows


def replay(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Had the month's inspections been done in risk-score order, how early were problems found?"""
    scored = [r for r in rows if r["risk_score"] is not None]
    n, problems = len(scored), sum(r["problem"] for r in scored)
    if n == 0 or problems == 0:
        return {
            "inspections": n,
            "problems": problems,
            "first_half": None,
            "share_first_half_by_score": None,
            "share_first_half_actual": None,
            "share_first_half_random": None,
            "mean_days_earlier": None,
        }
    half = (n + 1) // 2
    by_score = metrics.expected_found_in_top(
        [r["risk_score"] for r in scored], [r["problem"] for r in scored], half
    )
    actual = sorted(scored, key=lambda r: (r["inspected_on"], r["inspection_id"]))
    found_actual = sum(r["problem"] for r in actual[:half])
    # Chicago-style timing: the k-th inspection in score order takes the k-th actual date.
    dates = [r["inspected_on"] for r in actual]
    ranked = sorted(scored, key=lambda r: (-r["risk_score"], r["inspected_on"], r["inspection_id"]))
    gains = [(r["inspected_on"] - dates[k]).days for k, r in enumerate(ranked) if r["problem"]]
    return {
        "inspections": n,
        "problems": problems,
        "first_half": half,
        "share_first_half_by_score": by_score / problems,
        "share_first_half_actual": found_actual / problems,
        "share_first_half_random": half / n,
        "mean_days_earlier": sum(gains) / len(gains),
    }


def evaluate(
    rows: list[dict[str, Any]],
    current_hist: list[float] | None,
    previous_hist: list[float] | None,
    month: str | None = None,
) -> dict[str, Any]:
    """All effectiveness numbers from class-annotated inspections and the score histograms of
    this month and last (shares per band, computed on the engine) (pure)."""
    per_class: dict[str, dict[str, Any]] = {}
    for c in RISK_CLASSES:
        sel = [r for r in rows if r["risk_class"] == c]
        found = sum(r["problem"] for r in sel)
        per_class[c] = {"inspections": len(sel), "problems": found, "rate": found / len(sel) if sel else None}
    ra, rd = per_class["A"]["rate"], per_class["D"]["rate"]
    scored = [r for r in rows if r["risk_score"] is not None]
    auc = metrics.auc([r["risk_score"] for r in scored], [r["problem"] for r in scored])
    psi = metrics.psi_of_shares(previous_hist, current_hist)
    sources_used: dict[str, int] = {}
    for r in rows:
        sources_used[r["class_source"]] = sources_used.get(r["class_source"], 0) + 1
    return {
        "inspections": len(rows),
        "problems": sum(r["problem"] for r in rows),
        "problem_results": list(PROBLEM_RESULTS),
        "class_sources": dict(sorted(sources_used.items())),
        "per_class": per_class,
        "lift_d_over_a": rd / ra if ra and rd is not None else None,
        "auc": auc,
        "auc_inspections": len(scored),
        "psi": psi,
        "psi_band": metrics.psi_band(psi),
        "psi_bins": list(metrics.PSI_BINS),
        "score_histogram": current_hist,
        "previous_score_histogram": previous_hist,
        "replay": replay(rows),
        # the same figures with n, a 95 % interval, or "insufficient data" (ADR 0106)
        "figures": month_figures(rows, month) if month else None,
    }


def effectiveness(
    lake: Lake,
    *,
    month: str,
    province: str,
    cutoff: dt.datetime | None = None,
    settings: Settings | None = None,
    engine: str | None = None,
    athena_runner: Any = None,
    boto3_session: Any = None,
) -> dict[str, Any]:
    """The effectiveness numbers of ``month`` (inspections as of ``cutoff``, default now)."""
    from functions.layout import validate_scope

    validate_scope(month, province)
    cut = (cutoff or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    found = inspections_of(
        lake,
        month,
        province,
        cut,
        settings=settings,
        engine=engine,
        athena_runner=athena_runner,
        boto3_session=boto3_session,
    )
    rows = attach_classes(lake, found, month, province)
    prev_month = previous_month(month)
    source = open_engine(
        lake,
        province,
        settings=settings,
        engine=engine,
        athena_runner=athena_runner,
        boto3_session=boto3_session,
    )
    try:
        hists = histograms(source, province, (month, prev_month))
    finally:
        source.close()
    out = evaluate(rows, hists[month], hists[prev_month], month)
    out["psi_cutoff_bands"] = band_psi(
        lake, month=month, province=province, cutoff=cut, settings=settings, engine=engine,
        athena_runner=athena_runner, boto3_session=boto3_session,
    )  # fmt: skip
    out.update(month=month, province=province, cutoff=cut.isoformat())
    json.dumps(out, default=str)  # fail here, not in a writer, if something is not serialisable
    return out
