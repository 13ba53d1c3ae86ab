"""Issue 16's scenario through the upload path (``warn_after_ingests``): a province without its
annual reports gets one data-gap alert, not an overdue flood; the reports resolve the alert and
the rule then runs for the whole province; late filings resolve, corrected data retracts; one
task per entity and month; every transition kept."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from functions.coverage.store import summary
from functions.lake import Lake
from functions.settings import Settings
from functions.warnings.api import list_warnings
from functions.warnings.on_ingest import warn_after_ingests
from functions.warnings.store import history, load_tasks, load_warnings
from schemas.ingest import IngestReport
from schemas.warnings import WarningsQuery
from tests.warnings_data import code, entity, write_curated

P, M = "42", "2026-11"
D = dt.date
T0 = dt.datetime(2026, 11, 2, 2, tzinfo=dt.UTC)
GAP = "annual_reports@report_year>=2025"
N = 20  # entities; 1..18 file their 2025 report on time, 19 files late, 20 never


class Recorder:
    def __init__(self) -> None:
        self.batches: list[Any] = []

    def notify(self, batch: Any) -> None:
        self.batches.append(batch)


def upload(
    lake: Lake, settings: Settings, dataset: str, rows: list[dict[str, Any]], ingest_id: str, at: dt.datetime
) -> dict[str, Any]:
    """Commit ``rows`` as one accepted ingest at ``at`` and run what the upload trigger runs."""
    key = write_curated(lake, dataset, P, rows, ingest_id=ingest_id, ingested_at=at, coverage=False)
    report = IngestReport(
        ingest_id=ingest_id,
        source_key=f"incoming/{P}/{dataset}/{ingest_id}.csv",
        province=P,
        dataset=dataset,
        size=1,
        sha256="0" * 64,
        rows_read=len(rows),
        rows_accepted=len(rows),
        status="accepted",
        ingested_at=at.isoformat().replace("+00:00", "Z"),
        curated_key=key,
    )
    out = warn_after_ingests(
        lake, [report], settings=settings, now=at + dt.timedelta(minutes=1), notifier=Recorder()
    )
    return out[P]


def by_fact(lake: Lake) -> dict[str, dict[str, Any]]:
    return {w["fact"]: w for w in load_warnings(lake, M, P, rule="data_gap").to_pylist()}


def by_rule(lake: Lake, rule: str, state: str | None = None) -> dict[str | None, dict[str, Any]]:
    return {w["uscc"]: w for w in load_warnings(lake, M, P, rule=rule, state=state).to_pylist()}


@pytest.fixture
def province(local_lake: Lake, local_settings: Settings) -> Lake:
    """Entities, penalties and the lists delivered; annual reports not yet."""
    upload(local_lake, local_settings, "entities", [entity(i) for i in range(1, N + 1)], "e1", T0)
    upload(
        local_lake,
        local_settings,
        "penalties",
        [
            # Entity 1: two dispatching rules fire (high-risk field and severe kind) → one task.
            {
                "decision_no": "F-1",
                "uscc": code(1),
                "decided_on": D(2026, 11, 1),
                "authority": "x",
                "domain": "food",
                "kind": "order_closure",
                "amount": 1000.0,
            },
            # Entity 2: a food fine, later withdrawn (corrected data).
            {
                "decision_no": "F-2",
                "uscc": code(2),
                "decided_on": D(2026, 11, 1),
                "authority": "x",
                "domain": "food",
                "kind": "fine",
                "amount": 500.0,
            },
        ],
        "p1",
        T0 + dt.timedelta(minutes=5),
    )
    upload(
        local_lake,
        local_settings,
        "abnormal_list",
        [{"record_id": "A-1", "uscc": code(3), "listed_on": D(2026, 11, 1), "reason": "unreachable"}],
        "a1",
        T0 + dt.timedelta(minutes=10),
    )
    return local_lake


def test_missing_annual_reports_raise_one_gap_alert_not_an_overdue_flood(
    province: Lake, local_settings: Settings
) -> None:
    assert by_rule(province, "annual_report_overdue") == {}
    gaps = load_warnings(province, M, P, rule="data_gap", state="open").to_pylist()
    # Penalties and the abnormal list, missing after the first upload, were resolved by theirs.
    assert by_fact(province)["penalties"]["state"] == "resolved"
    # One alert per missing input (province/dataset/period), however many rules or entities.
    assert sorted(g["fact"] for g in gaps) == sorted(
        [GAP, "complaints", "inspections", "other_dishonesty", "registration_changes",
         "serious_dishonesty_list"]
    )  # fmt: skip
    gap = next(g for g in gaps if g["fact"] == GAP)
    assert (gap["fact"], gap["state"], gap["uscc"], gap["dispatched"]) == (GAP, "open", None, False)
    ev = json.loads(gap["evidence"])
    assert ev["dataset"] == "annual_reports" and ev["missing"] == "annual_reports was never delivered"
    assert ev["rules"] == ["annual_report_overdue"]
    # The other rules ran: the penalties and the listing raised their warnings.
    assert set(by_rule(province, "high_risk_field_penalty")) == {code(1), code(2)}
    assert set(by_rule(province, "new_abnormal_listing")) == {code(3)}
    cov = summary(province, P).datasets
    assert set(cov) == {"entities", "penalties", "abnormal_list"}
    assert cov["penalties"].last_event_on == D(2026, 11, 1) and cov["entities"].rows == N


def test_reports_arriving_resolve_the_gap_and_the_rule_runs_for_the_whole_province(
    province: Lake, local_settings: Settings
) -> None:
    reports = [{"uscc": code(i), "year": 2025, "filed_on": D(2026, 5, 1)} for i in range(1, 19)]
    out = upload(province, local_settings, "annual_reports", reports, "r1", T0 + dt.timedelta(hours=1))
    assert out["status"] == "raised" and GAP not in out["data_gaps"]
    gap = by_fact(province)[GAP]
    assert gap["state"] == "resolved" and gap["state_reason"] == f"input delivered: {GAP}"
    # Entities 19 and 20 were not in the upload, yet the rule, just unblocked, saw them.
    overdue = by_rule(province, "annual_report_overdue")
    assert set(overdue) == {code(19), code(20)}
    assert {w["fact"] for w in overdue.values()} == {"year:2025"}
    assert summary(province, P).datasets["annual_reports"].report_years == (2025,)

    # A late filing for entity 19: its warning is resolved (the condition no longer holds).
    late = [{"uscc": code(19), "year": 2025, "filed_on": D(2026, 11, 5)}]
    out = upload(province, local_settings, "annual_reports", late, "r2", T0 + dt.timedelta(days=4))
    assert out["resolved"] == 1
    overdue = by_rule(province, "annual_report_overdue")
    assert overdue[code(19)]["state"] == "resolved" and overdue[code(20)]["state"] == "open"
    open_only = by_rule(province, "annual_report_overdue", state="open")
    assert set(open_only) == {code(20)}


def test_corrected_data_retracts_and_history_keeps_every_transition(
    province: Lake, local_settings: Settings
) -> None:
    w = by_rule(province, "high_risk_field_penalty")[code(2)]
    assert w["state"] == "open"
    fixed = [
        {"decision_no": "F-2", "uscc": code(2), "decided_on": D(2026, 11, 1), "authority": "x",
         "domain": "food", "kind": "fine", "amount": 500.0, "withdrawn": True},
    ]  # fmt: skip
    out = upload(province, local_settings, "penalties", fixed, "p2", T0 + dt.timedelta(days=2))
    assert out["retracted"] == 1
    now = by_rule(province, "high_risk_field_penalty")
    assert now[code(2)]["state"] == "retracted" and now[code(1)]["state"] == "open"
    assert now[code(2)]["state_trigger"] == "upload" and now[code(2)]["state_by"] == "system"
    rows = [r for r in history(province, M, P).to_pylist() if r["warning_key"] == w["warning_key"]]
    assert [r["state"] for r in rows] == ["open", "retracted"]  # append-only, nothing deleted
    assert rows[0]["detected_at"] == rows[1]["detected_at"]
    # The API filters by state.
    page = list_warnings(province, WarningsQuery(month=M, province=P, state="retracted"))
    assert [(x["rule_id"], x["uscc"]) for x in page["warnings"]] == [("high_risk_field_penalty", code(2))]
    assert page["state"] == "retracted" and page["warnings"][0]["state_at"]

    # Re-delivered uncorrected, the same fact fires again: the key no longer stops re-evaluation.
    undo = [{**fixed[0], "withdrawn": False}]
    out = upload(province, local_settings, "penalties", undo, "p3", T0 + dt.timedelta(days=3))
    w2 = by_rule(province, "high_risk_field_penalty")[code(2)]
    assert w2["state"] == "open" and w2["state_reason"] == "fires again (was retracted)"


def test_one_task_per_entity_and_month_with_every_reason_ranked(province: Lake) -> None:
    tasks = load_tasks(province, M, P).to_pylist()
    assert sorted(t["uscc"] for t in tasks) == sorted([code(1), code(2)])
    t1 = next(t for t in tasks if t["uscc"] == code(1))
    assert [r["rule"] for r in t1["reasons"]] == ["high_risk_field_penalty@1", "severe_penalty@1"]
    assert t1["severity"] == "high"
    assert len({t["task_id"] for t in tasks}) == 2
