"""Issue 14 through ``chalice.test.Client``: objections registered by a provincial system, the
bulk read and the change feed, each scoped to the token's provinces."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client

import app as app_module
from functions import layout
from functions.auth import tokens
from functions.lake import Lake
from functions.settings import Settings
from schemas.delivery import ClassificationsPage
from schemas.objections import ObjectionOut, ObjectionsPage
from tests.sampling_data import publish, results_table

MONTH = "2026-10"


@dataclass
class Api:
    client: Client
    mine: str
    other: str
    lake: Lake

    def get(self, path: str, token: str | None = None) -> Any:
        return self.client.http.get(path, headers={"Authorization": f"Bearer {token or self.mine}"})

    def post(self, path: str, body: Any, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token or self.mine}", "Content-Type": "application/json"}
        return self.client.http.post(path, headers=headers, body=json.dumps(body))


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, local_settings: Settings, local_lake: Lake) -> Iterator[Api]:
    monkeypatch.setenv("CREDITRISK_LAKE_URI", local_settings.lake_uri)
    app_module.reset()
    publish(local_lake, results_table("42", 120, run_id="run-42"), MONTH, "42")
    publish(local_lake, results_table("23", 20, run_id="run-23"), MONTH, "23")
    mine, _ = tokens.issue_token(local_lake, name="hubei-platform", provinces=["42"])
    other, _ = tokens.issue_token(local_lake, name="heilongjiang", provinces=["23"])
    with Client(app_module.app) as client:
        yield Api(client, mine, other, local_lake)
    app_module.reset()


def _code(lake: Lake, province: str = "42") -> str:
    return str(lake.read_parquet(layout.classification_key(MONTH, province))["uscc"][0].as_py())


def test_register_then_read_and_list_an_objection(api: Api) -> None:
    body = {
        "uscc": _code(api.lake),
        "month": MONTH,
        "received_on": "2026-11-02",
        "reasons": ["R1"],
        "records": [{"dataset": "penalties", "record_id": "PEN-1"}],
    }
    r = api.post("/v1/objections", body)
    assert r.status_code == 201, r.body
    made = ObjectionOut.model_validate_json(r.body)
    assert r.headers["Location"] == f"/v1/objections/{made.objection_id}"
    assert (made.due_on, made.status, made.trail[0].by.name) == ("2026-11-09", "received", "hubei-platform")
    got = api.get(f"/v1/objections/{made.objection_id}")
    assert got.status_code == 200 and ObjectionOut.model_validate_json(got.body) == made
    listed = ObjectionsPage.model_validate_json(api.get("/v1/objections?province=42").body)
    assert [o.objection_id for o in listed.objections] == [made.objection_id]
    late = ObjectionsPage.model_validate_json(api.get("/v1/objections?province=42&overdue=true").body)
    assert [o.objection_id for o in late.objections] == [made.objection_id]  # 9 Nov is long past
    assert api.get(f"/v1/objections/{made.objection_id}", api.other).status_code == 403
    assert api.get("/v1/objections?province=42", api.other).status_code == 403


def test_objections_refuse_bad_input_and_other_provinces(api: Api) -> None:
    good = {"uscc": _code(api.lake), "month": MONTH, "received_on": "2026-11-02", "reasons": ["R1"]}
    assert api.post("/v1/objections", good, api.other).status_code == 403
    for bad in (
        {**good, "reasons": []},
        {**good, "received_on": "2026-02-30"},
        {**good, "extra": 1},
        {**good, "uscc": "x"},
        {**good, "received_on": "2999-01-01"},
    ):
        r = api.post("/v1/objections", bad)
        assert r.status_code == 400, (bad, r.body)
    assert api.get("/v1/objections/42-zz").status_code == 400
    assert api.get("/v1/objections/42-" + "0" * 16).status_code == 404


def test_bulk_read_pages_through_the_province(api: Api) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        q = f"/v1/classifications?month={MONTH}&province=42&limit=50" + (
            f"&cursor={cursor}" if cursor else ""
        )
        r = api.get(q)
        assert r.status_code == 200, r.body
        page = ClassificationsPage.model_validate_json(r.body)
        seen += [row.uscc for row in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == api.lake.read_parquet(layout.classification_key(MONTH, "42"))["uscc"].to_pylist()
    changes = ClassificationsPage.model_validate_json(
        api.get(f"/v1/classifications/changes?month={MONTH}&province=42").body
    )
    assert changes.feed == "changes" and len(changes.rows) == 120  # no previous month: all new


def test_bulk_read_is_province_scoped_and_validated(api: Api) -> None:
    assert api.get(f"/v1/classifications?month={MONTH}&province=23").status_code == 403
    assert api.get(f"/v1/classifications/changes?month={MONTH}&province=23").status_code == 403
    assert api.get(f"/v1/classifications?month={MONTH}&province=42&limit=0").status_code == 400
    assert api.get(f"/v1/classifications?month={MONTH}&province=42&cursor=abc").status_code == 400
    assert api.get("/v1/classifications?month=2026-09&province=42").status_code == 404
    first = ClassificationsPage.model_validate_json(
        api.get(f"/v1/classifications?month={MONTH}&province=23&limit=5", api.other).body
    )
    assert first.next_cursor is not None
    foreign = api.get(f"/v1/classifications?month={MONTH}&province=42&cursor={first.next_cursor}")
    assert foreign.status_code == 400
