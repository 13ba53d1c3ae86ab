"""Issue 16's scenario through the monthly run (docs/adr/0138): a province that uploaded
entities, penalties and the lists but no annual reports is classified without ``UNFILED_REPORTS``
points, gets one data-gap alert per missing input (the indicators' inputs too, not only the
rules'), not an overdue flood; the later annual-reports upload resolves the alert, and
``GET /v1/warnings?state=`` shows it."""

from __future__ import annotations

import copy
import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

import app as app_module
from functions import layout
from functions.auth import tokens
from functions.classify.run import classify_month, published_manifest
from functions.lake import Lake
from functions.monthly import run_monthly
from functions.settings import Settings
from functions.warnings.engine import run_warnings
from functions.warnings.store import history, load_warnings
from tests.functional.test_warnings_lifecycle import Recorder
from tests.warnings_data import code, entity, write_curated

P, M = "42", "2026-10"
D = dt.date
T0 = dt.datetime(2026, 10, 20, 2, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 10, 31, 18, tzinfo=dt.UTC)  # the schedule: 02:00 China time on the 1st
GAP = "annual_reports@report_year>=2025"
N = 40  # entities, all established before 2025: each would be "unfiled" without the gate


def _upload(lake: Lake, settings: Settings, dataset: str, rows: list[dict[str, Any]], at: dt.datetime) -> Any:
    from tests.functional.test_warnings_lifecycle import upload

    return upload(lake, settings, dataset, rows, f"{dataset[:3]}-{at:%m%d%H%M}", at)


def _penalty(n: int) -> dict[str, Any]:
    return {
        "decision_no": f"F-{n}",
        "uscc": code(n),
        "decided_on": D(2026, 10, 1),
        "authority": "x",
        "domain": "other",
        "kind": "fine",
        "amount": 100.0,
    }


@pytest.fixture
def settings(local_settings: Settings) -> Settings:
    return local_settings.model_copy(update={"field_systems": ()})


@pytest.fixture(scope="module")
def monthly_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The uploads (each through the upload trigger), then the scheduled monthly run: once per
    module, into a lake of its own that each test gets a copy of (``monthly``)."""
    root = tmp_path_factory.mktemp("monthly-gaps") / "lake"
    settings = Settings(lake_uri=str(root)).model_copy(update={"field_systems": ()})
    lake = Lake.from_uri(settings.lake_uri)
    _upload(lake, settings, "entities", [entity(i) for i in range(1, N + 1)], T0)
    _upload(lake, settings, "penalties", [_penalty(1), _penalty(2)], T0 + dt.timedelta(minutes=5))
    listed = [{"record_id": "A-1", "uscc": code(3), "listed_on": D(2026, 10, 1), "reason": "unreachable"}]
    _upload(lake, settings, "abnormal_list", listed, T0 + dt.timedelta(minutes=10))
    serious = [{"record_id": "S-1", "uscc": code(4), "listed_on": D(2026, 10, 2), "reason": "fraud"}]
    _upload(lake, settings, "serious_dishonesty_list", serious, T0 + dt.timedelta(minutes=15))
    return root, run_monthly(lake, month=M, settings=settings, now=NOW, notifier=Recorder())


@pytest.fixture
def monthly(local_lake: Lake, monthly_once: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    """A fresh copy of the monthly run's lake per test (each test changes it) and its result."""
    root, result = monthly_once
    shutil.copytree(root, local_lake.uri, dirs_exist_ok=True)
    return copy.deepcopy(result)


def _gap_rows(lake: Lake, fact: str) -> list[dict[str, Any]]:
    return [r for r in history(lake, M, P).to_pylist() if r["rule_id"] == "data_gap" and r["fact"] == fact]


def test_monthly_run_gates_the_indicator_and_alerts_instead_of_flooding(
    local_lake: Lake, monthly: dict[str, Any]
) -> None:
    info = monthly["provinces"][P]
    assert info["status"] == "published" and info["follow_up"]["status"] == "done"
    manifest = published_manifest(local_lake, M, P)
    assert manifest is not None
    model = manifest["model"]
    assert f"{model}:UNFILED_REPORTS" in manifest["indicators_gated"]
    # No entity got UNFILED_REPORTS points although none has filed a report.
    rows = local_lake.read_parquet(layout.classification_key(M, P)).to_pylist()
    assert len(rows) == N
    assert not [r["uscc"] for r in rows if any(x["code"] == "UNFILED_REPORTS" for x in r["reasons"])]

    alerts = {
        w["fact"]: w for w in load_warnings(local_lake, M, P, rule="data_gap", state="open").to_pylist()
    }
    assert GAP in alerts
    # One alert for the annual reports, opened by the first upload's rule run (the rule and the
    # indicator share it): the monthly run added no second alert but recorded, as a transition
    # of the open one, that the gap also held back the classification's indicator (ADR 0138).
    rows_gap = _gap_rows(local_lake, GAP)
    assert [(r["state"], r["state_trigger"]) for r in rows_gap] == [("open", "upload"), ("open", "monthly")]
    assert {r["warning_key"] for r in rows_gap} == {alerts[GAP]["warning_key"]}
    first, updated = (json.loads(r["evidence"]) for r in rows_gap)
    assert (first["rules"], first["indicators"]) == (["annual_report_overdue"], [])
    held_gap = {i["requirement"]: i["read_by"] for i in manifest["inputs_incomplete"]}[GAP]
    assert f"{model}:UNFILED_REPORTS" in held_gap
    assert (updated["rules"], updated["indicators"]) == (["annual_report_overdue"], sorted(held_gap))
    assert rows_gap[1]["state_reason"] == "evidence updated: indicators + " + ", ".join(sorted(held_gap))
    assert rows_gap[1]["detected_at"] == rows_gap[0]["detected_at"]  # the same alert, not a new one
    assert json.loads(alerts[GAP]["evidence"]) == updated  # the current state carries it
    # every open gap that also held back indicators got the same recorded update, once
    updates = [
        r
        for r in history(local_lake, M, P).to_pylist()
        if r["rule_id"] == "data_gap" and r["state_reason"].startswith("evidence updated: ")
    ]
    gated = {i["requirement"] for i in manifest["inputs_incomplete"] if i.get("gated")}
    assert len(updates) == info["follow_up"]["warnings"]["gaps_updated"] == len({r["fact"] for r in updates})
    assert GAP in {r["fact"] for r in updates} and {r["fact"] for r in updates} <= gated
    # An input only indicators read (no warning rule needs relationships) gets its own alert,
    # raised by the monthly run, naming the indicators it held back.
    rel = alerts["relationships"]
    ev = json.loads(rel["evidence"])
    assert (ev["rules"], ev["missing"]) == ([], "relationships was never delivered")
    held = {i["requirement"]: i["read_by"] for i in manifest["inputs_incomplete"]}
    assert ev["indicators"] == held["relationships"] and ev["indicators"]
    assert set(ev["indicators"]) <= set(manifest["indicators_gated"])
    assert (rel["trigger"], rel["state_trigger"], rel["uscc"], rel["dispatched"]) == (
        "monthly",
        "monthly",
        None,
        False,
    )
    assert {GAP, "relationships"} <= set(info["follow_up"]["warnings"]["data_gaps"])
    assert info["follow_up"]["warnings"]["raised"] < N  # not an overdue warning per entity
    assert load_warnings(local_lake, M, P, rule="annual_report_overdue").num_rows == 0


def test_a_rerun_of_the_month_records_no_further_evidence_change(
    local_lake: Lake, settings: Settings, monthly: dict[str, Any]
) -> None:
    before = _gap_rows(local_lake, GAP)
    again = run_warnings(
        local_lake, month=M, province=P, trigger="monthly", now=NOW + dt.timedelta(hours=1), settings=settings
    )
    assert again.gaps_updated == 0 and GAP in again.data_gaps
    assert _gap_rows(local_lake, GAP) == before
    # a run of chosen rules sees fewer readers of the gap: the evidence never shrinks
    chosen = run_warnings(
        local_lake,
        month=M,
        province=P,
        trigger="manual",
        now=NOW + dt.timedelta(hours=2),
        settings=settings,
        rules=["annual_report_overdue"],
    )
    assert chosen.gaps_updated == 0 and _gap_rows(local_lake, GAP) == before


@pytest.fixture
def api(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, local_lake: Lake
) -> Iterator[tuple[Client, str]]:
    monkeypatch.setenv("CREDITRISK_LAKE_URI", settings.lake_uri)
    app_module.reset()
    token, _ = tokens.issue_token(local_lake, name="p42", provinces=[P])
    with Client(app_module.app) as client:
        yield client, token
    app_module.reset()


def _listed(client: Client, token: str, state: str) -> dict[str, str]:
    r = client.http.get(
        f"/v1/warnings?month={M}&province={P}&rule=data_gap&state={state}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.body
    return {w["fact"]: w["state_reason"] for w in json.loads(r.body)["warnings"]}


def test_the_later_annual_reports_upload_resolves_the_alert(
    local_lake: Lake, settings: Settings, monthly: dict[str, Any], api: tuple[Client, str]
) -> None:
    client, token = api
    before = _listed(client, token, "resolved")  # the lists' and penalties' gaps, by their uploads
    assert GAP in _listed(client, token, "open") and GAP not in before
    reports = [{"uscc": code(i), "year": 2025, "filed_on": D(2026, 5, 1)} for i in range(1, N - 1)]
    at = dt.datetime(2026, 11, 3, 2, tzinfo=dt.UTC)  # next month: the alert lives in October's
    out = _upload(local_lake, settings, "annual_reports", reports, at)
    assert out["status"] == "raised" and out["month"] == "2026-11" and GAP not in out["data_gaps"]
    resolved = _listed(client, token, "resolved")
    assert resolved == {**before, GAP: f"input delivered: {GAP}"}
    still_open = _listed(client, token, "open")
    assert GAP not in still_open and "relationships" in still_open  # not delivered: stays open
    # raised, its evidence updated by the monthly run, resolved: one alert's three transitions
    assert [r["state"] for r in _gap_rows(local_lake, GAP)] == ["open", "open", "resolved"]
    # The rule the alert held back ran for the whole province: the two without a report.
    overdue = load_warnings(local_lake, "2026-11", P, rule="annual_report_overdue").to_pylist()
    assert sorted(w["uscc"] for w in overdue) == [code(N - 1), code(N)]


def test_rule_and_indicator_needing_one_input_share_one_alert(local_lake: Lake, settings: Settings) -> None:
    """Without an earlier upload run (data curated by hand), the monthly warnings run opens the
    alert itself: one row naming the rule and the indicator."""
    write_curated(local_lake, "entities", P, [entity(i) for i in range(1, 6)], ingest_id="e1")
    link = {"uscc": code(1), "party_id": "p-1", "relation": "shareholder", "since": D(2020, 1, 1)}
    write_curated(local_lake, "relationships", P, [link], ingest_id="r0")
    res = classify_month(local_lake, month=M, province=P, settings=settings, cutoff=NOW)
    model = res.manifest["model"]
    out = run_warnings(
        local_lake, month=M, province=P, trigger="monthly", now=NOW, settings=settings, notifier=Recorder()
    )
    assert GAP in out.data_gaps
    rows = _gap_rows(local_lake, GAP)
    assert len(rows) == 1
    ev = json.loads(rows[0]["evidence"])
    assert (ev["rules"], ev["indicators"]) == (["annual_report_overdue"], [f"{model}:UNFILED_REPORTS"])
    # A run of chosen rules looks at their inputs only; a re-run raises nothing twice.
    again = run_warnings(
        local_lake, month=M, province=P, trigger="monthly", now=NOW, settings=settings, notifier=Recorder()
    )
    assert again.raised == 0 and len(_gap_rows(local_lake, GAP)) == 1
    chosen = run_warnings(
        local_lake,
        month=M,
        province=P,
        trigger="manual",
        now=NOW,
        settings=settings,
        rules=["new_abnormal_listing"],
        notifier=Recorder(),
    )
    assert chosen.data_gaps == ("abnormal_list",)
