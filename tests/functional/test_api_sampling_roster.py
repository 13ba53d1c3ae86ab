"""Plans staffed from the uploaded inspector roster, through the REST API (docs/adr/0097)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pytest
from chalice.test import Client

import app as app_module
from functions.auth import tokens
from functions.lake import Lake
from functions.roster.load import region_prefix
from functions.roster.synthetic import write_curated
from functions.sampling.verify import verify_plan
from functions.settings import Settings
from tests.sampling_data import publish, results_table

MONTH = "2026-10"
RATIOS = {"A": 0.05, "B": 0.1, "C": 0.3, "D": 0.5}
# Regions of the test frame: 420100, 420102 (city 4201), 420500, 421000.
ROSTER = [
    # id, office, fields, active_from, active_to
    ("prov-1", "420000", "general;drug", "2020-01-01", None),
    ("prov-2", "420000", "general", "2020-01-01", None),
    ("wh-city", "420100", "general;food", "2020-01-01", None),
    ("wh-1", "420102", "general;food", "2020-01-01", None),
    ("wh-2", "420102", "general;food", "2020-01-01", None),
    ("wh-3", "420102", "general", "2020-01-01", None),
    ("yc-1", "420500", "general;food", "2020-01-01", None),
    ("yc-2", "420502", "general", "2020-01-01", None),
    ("jz-1", "421000", "general;food", "2020-01-01", None),
    ("retired", "420102", "general;food", "2020-01-01", "2021-12-31"),
    ("future", "420102", "general;food", "2099-01-01", None),
]


@dataclass
class Api:
    client: Client
    lake: Lake
    token: str
    table: pa.Table

    def post(self, **extra: Any) -> Any:
        body = {"month": MONTH, "province": "42", "ratios": RATIOS, "mode": "test", **extra}
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        return self.client.http.post("/v1/sampling/plans", headers=headers, body=json.dumps(body).encode())


def upload_roster(
    lake: Lake, conflicts: dict[str, list[str]] | None = None, ingest_id: str = "roster-1"
) -> None:
    conflicts = conflicts or {}
    cols: dict[str, list[str | None]] = {
        "inspector_id": [r[0] for r in ROSTER],
        "name": [f"化名{r[0]}" for r in ROSTER],
        "region_code": [r[1] for r in ROSTER],
        "fields": [r[2] for r in ROSTER],
        "active_from": [r[3] for r in ROSTER],
        "active_to": [r[4] for r in ROSTER],
        "conflicts": [";".join(conflicts.get(r[0], [])) or None for r in ROSTER],
    }
    table = pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})
    write_curated(lake, "42", table, ingest_id=ingest_id, ingested_at=dt.datetime.now(dt.UTC))


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, local_settings: Settings, local_lake: Lake) -> Iterator[Api]:
    monkeypatch.setenv("CREDITRISK_LAKE_URI", local_settings.lake_uri)
    app_module.reset()
    table = results_table("42", 2000, run_id="run-1")
    publish(local_lake, table, MONTH, "42", with_roster=False)
    token, _ = tokens.issue_token(local_lake, name="platform-42", provinces=["42"])
    with Client(app_module.app) as client:
        yield Api(client, local_lake, token, table)
    app_module.reset()


def _by_id() -> dict[str, tuple[str, str, str, str | None]]:
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in ROSTER}


def test_no_roster_is_422(api: Api) -> None:
    r = api.post(seed="x")
    assert r.status_code == 422, r.body
    assert "no inspector roster" in json.loads(r.body)["message"]


def test_targets_staffed_by_region_field_and_activity(api: Api) -> None:
    upload_roster(api.lake)
    r = api.post(seed="food", inspectors={"field": "food"})
    assert r.status_code == 201, r.body
    plan = json.loads(r.body)
    roster = _by_id()
    assert plan["roster"]["field"] == "food" and plan["roster"]["per_target"] == 2
    assert plan["roster"]["qualified"] == 5  # wh-city, wh-1, wh-2, yc-1, jz-1 (retired/future excluded)
    # 420102 has three food inspectors covering it (county); 420100 only wh-city, so the city
    # 4201 pool; 420500 and 421000 have one each, and their cities no more: the province
    assert plan["roster"]["levels"] == {"county": 1, "city": 1, "province": 2}
    for t in plan["targets"]:
        assert len(set(t["inspectors"])) == 2
        for i in t["inspectors"]:
            office, fields, _, _ = roster[i]
            assert "food" in fields.split(";") and i not in ("retired", "future")
            if t["region_code"] in ("420102", "420100"):
                assert t["region_code"][:4] == region_prefix(office)[:4]
    assert sum(plan["inspector_loads"].values()) == 2 * len(plan["targets"])
    assert b"conflicts" not in r.body


def test_fallback_levels_are_reported(api: Api) -> None:
    upload_roster(api.lake)
    plan = json.loads(api.post(seed="g").body)
    levels = plan["roster"]["levels"]
    # 420102: wh-1..3, wh-city, prov-1, prov-2 → county; 420100: wh-city, prov-1/2 → county (3);
    # 420500: yc-1, prov-1/2 → county; 421000: jz-1, prov-1/2 → county
    assert levels == {"county": 4, "city": 0, "province": 0}
    drug = api.post(seed="d", inspectors={"field": "drug"})
    assert drug.status_code == 422  # one drug inspector cannot make pairs
    err = json.loads(drug.body)
    assert err["field"] == "inspectors" and err["details"]["inspector_field"] == "drug"
    assert {g["region_code"] for g in err["details"]["regions"]} == {"420100", "420102", "420500", "421000"}


def test_recusal_and_conflicts_never_echoed(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    upload_roster(api.lake)
    first = json.loads(api.post(seed="c").body)["targets"]
    victim = next(t for t in first if t["region_code"] == "420102")
    upload_roster(api.lake, {i: [victim["uscc"]] for i in victim["inspectors"]}, ingest_id="roster-2")
    caplog.set_level(logging.DEBUG)
    r = api.post(seed="c")
    assert r.status_code == 201, r.body
    again = {t["uscc"]: t for t in json.loads(r.body)["targets"]}
    assert not set(victim["inspectors"]) & set(again[victim["uscc"]]["inspectors"])
    assert b"conflict" not in r.body
    # every qualified inspector of the victim's area recuses: 422 with counts, no code
    everyone = [i for i, (office, *_rest) in _by_id().items() if office.startswith("42")]
    upload_roster(api.lake, {i: [victim["uscc"]] for i in everyone}, ingest_id="roster-3")
    r = api.post(seed="c")
    assert r.status_code == 422
    assert victim["uscc"].encode() not in r.body and "conflict" not in json.dumps(
        json.loads(r.body)["details"]
    )
    assert all(victim["uscc"] not in rec.getMessage() for rec in caplog.records)


def test_per_target_floor_is_configurable(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    upload_roster(api.lake)
    monkeypatch.setenv("CREDITRISK_INSPECTORS_PER_TARGET", "3")
    app_module.reset()
    r = api.post(seed="p", inspectors={"per_target": 2})
    assert r.status_code == 400 and json.loads(r.body)["field"] == "inspectors.per_target"
    plan = json.loads(api.post(seed="p").body)
    assert plan["roster"]["per_target"] == 3
    assert all(len(set(t["inspectors"])) == 3 for t in plan["targets"])


def test_loads_even_and_plan_verifies_after_roster_change(api: Api) -> None:
    upload_roster(api.lake)
    plan = json.loads(api.post(seed="v").body)
    counts = Counter(i for t in plan["targets"] for i in t["inspectors"])
    assert counts == Counter({k: v for k, v in plan["inspector_loads"].items() if v})
    # a later upload changes the roster: the plan still replays against the roster as of its draw
    upload_roster(api.lake, {"wh-1": [plan["targets"][0]["uscc"]]}, ingest_id="roster-9")
    result = verify_plan(api.lake, plan["plan_id"])
    assert result.status == "match", result.message
