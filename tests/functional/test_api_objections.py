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


def _registered(api: Api, received_on: str = "2026-11-02") -> ObjectionOut:
    body = {"uscc": _code(api.lake), "month": MONTH, "received_on": received_on, "reasons": ["R1"]}
    r = api.post("/v1/objections", body)
    assert r.status_code == 201, r.body
    return ObjectionOut.model_validate_json(r.body)


def _step(api: Api, objection_id: str, body: Any, token: str | None = None) -> Any:
    return api.post(f"/v1/objections/{objection_id}/steps", body, token)


def test_review_steps_through_the_api_append_who_and_when_to_the_trail(api: Api) -> None:
    """accepted → checked → decided (rejected), each by the calling token; the deadline fixed at
    receipt does not move, and a decision after it is overdue."""
    made = _registered(api)
    checker, _ = tokens.issue_token(api.lake, name="hubei-checker", provinces=["42"])
    assert _step(api, made.objection_id, {"step": "accepted"}).status_code == 200
    checked = _step(api, made.objection_id, {"step": "checked", "reason": "处罚记录已核对"}, checker)
    assert checked.status_code == 200, checked.body
    r = _step(api, made.objection_id, {"step": "decided", "outcome": "rejected", "reason": "records stand"})
    assert r.status_code == 200, r.body
    out = ObjectionOut.model_validate_json(r.body)
    assert [(e.seq, e.step, e.by.kind, e.by.name) for e in out.trail] == [
        (1, "received", "token", "hubei-platform"),
        (2, "accepted", "token", "hubei-platform"),
        (3, "checked", "token", "hubei-checker"),
        (4, "decided", "token", "hubei-platform"),
    ]
    assert out.trail[2].reason == "处罚记录已核对" and out.trail[3].reason == "records stand"
    assert all(e.at.endswith("+00:00") for e in out.trail)  # when, in UTC
    assert (out.status, out.due_on, out.received_on) == ("rejected", made.due_on, "2026-11-02")
    assert out.overdue and out.decided_on is not None and out.decided_on > out.due_on
    stored = ObjectionOut.model_validate_json(api.get(f"/v1/objections/{made.objection_id}").body)
    assert stored == out
    again = _step(api, made.objection_id, {"step": "decided", "outcome": "upheld"})
    assert again.status_code == 409  # decided once, for good


def test_upheld_needs_its_correction_and_steps_keep_their_order(api: Api) -> None:
    made = _registered(api)
    early = _step(api, made.objection_id, {"step": "decided", "outcome": "rejected", "reason": "x"})
    assert early.status_code == 409 and "accepted" in json.loads(early.body)["message"]
    assert _step(api, made.objection_id, {"step": "accepted"}).status_code == 200
    assert _step(api, made.objection_id, {"step": "accepted"}).status_code == 409
    assert _step(api, made.objection_id, {"step": "checked", "outcome": "upheld"}).status_code == 400
    assert _step(api, made.objection_id, {"step": "checked"}).status_code == 200
    for bad, status in (
        ({"step": "decided", "outcome": "upheld"}, 400),  # no correction
        ({"step": "decided", "outcome": "rejected"}, 400),  # no reason
        ({"step": "decided"}, 400),  # no outcome
        ({"step": "received"}, 400),  # registration is its own route
        ({"step": "decided", "outcome": "upheld", "extra": 1}, 400),
        (
            {"step": "decided", "outcome": "upheld", "correction": {"kind": "upload", "ingest_id": "0" * 20}},
            404,
        ),
    ):
        r = _step(api, made.objection_id, bad)
        assert r.status_code == status, (bad, r.body)
    correction = {"kind": "record", "dataset": "penalties", "record_id": "PEN-1", "note": "已撤销的处罚"}
    r = _step(api, made.objection_id, {"step": "decided", "outcome": "upheld", "correction": correction})
    assert r.status_code == 202, r.body  # the correction run is to come (ADR 0144)
    out = ObjectionOut.model_validate_json(r.body)
    # no queue here (a folder lake): pending, for `creditrisk objection reclassify`
    assert (out.status, out.correction_status, out.correction_run_id) == ("upheld", "pending", None)
    assert out.trail[-1].correction is not None and out.trail[-1].correction.record_id == "PEN-1"
    assert len(out.trail) == 4  # the refused attempts appended nothing


def test_review_steps_from_another_province_learn_nothing(api: Api) -> None:
    """Same 403 whether or not the objection exists; the trail is untouched."""
    made = _registered(api)
    missing = "42-" + "0" * 16
    body = {"step": "accepted"}
    there = _step(api, made.objection_id, body, api.other)
    absent = _step(api, missing, body, api.other)
    assert there.status_code == absent.status_code == 403 and there.body == absent.body
    assert made.objection_id not in there.body.decode()
    bad_body = _step(api, made.objection_id, {"step": "nope"}, api.other)
    assert bad_body.status_code == 403  # scope first: no validation detail about the objection
    assert _step(api, missing, body).status_code == 404
    assert (
        api.client.http.post(
            f"/v1/objections/{made.objection_id}/steps",
            headers={"Content-Type": "application/json"},
            body="{}",
        ).status_code
        == 401
    )
    stored = ObjectionOut.model_validate_json(api.get(f"/v1/objections/{made.objection_id}").body)
    assert [e.step for e in stored.trail] == ["received"]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ('{"uscc": "X", "uscc": "Y", "month": "2026-10", "received_on": "2026-11-02"}', "duplicate key"),
        ('{"uscc": NaN}', "not JSON"),
        ('{"uscc": 1e999}', "outside the range"),
        ('{"step": "accepted", "step": "checked"}', "duplicate key"),
    ],
)
def test_objection_bodies_are_parsed_strictly(api: Api, raw: str, problem: str) -> None:
    """Duplicate keys, NaN and overflowing numbers are 400 naming the problem (ADR 0096)."""
    made = _registered(api)
    path = f"/v1/objections/{made.objection_id}/steps" if '"step"' in raw else "/v1/objections"
    headers = {"Authorization": f"Bearer {api.mine}", "Content-Type": "application/json"}
    r = api.client.http.post(path, headers=headers, body=raw)
    assert r.status_code == 400 and problem in json.loads(r.body)["message"], r.body
    big = json.dumps({"uscc": _code(api.lake), "month": MONTH, "received_on": "2026-11-02",
                      "reasons": ["R1"], "pad": "x" * 70_000})  # fmt: skip
    too_big = api.client.http.post("/v1/objections", headers=headers, body=big)
    assert too_big.status_code == 400 and "65536" in json.loads(too_big.body)["message"]


ID = "42-" + "0" * 16
SCOPED = [  # every issue-14 route, asked about province 42 (ADR 0143: one scope helper)
    ("GET", f"/v1/classifications?month={MONTH}&province=42", None),
    ("GET", f"/v1/classifications/changes?month={MONTH}&province=42", None),
    ("GET", "/v1/objections?province=42", None),
    ("GET", f"/v1/objections/{ID}", None),
    (
        "POST",
        "/v1/objections",
        {"uscc": "91420100MA4K0000XX", "month": MONTH, "received_on": "2026-11-02", "reasons": ["R1"]},
    ),
    ("POST", f"/v1/objections/{ID}/steps", {"step": "accepted"}),
    ("GET", f"/v1/adjustments?province=42&month={MONTH}", None),
    ("GET", f"/v1/adjustments/{ID}?month={MONTH}", None),
    (
        "POST",
        "/v1/adjustments",
        {"uscc": "91420100MA4K0000XX", "month": MONTH, "to_class": "B", "reason": "r"},
    ),
    ("POST", f"/v1/adjustments/{ID}/decision", {"month": MONTH, "decision": "approved"}),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), SCOPED, ids=[f"{m} {p.split('?')[0]}" for m, p, _ in SCOPED]
)
def test_auth_cells_of_the_scoped_routes(api: Api, method: str, path: str, body: Any) -> None:
    """No token: 401; a token of another province: 403, the same answer on every route."""
    headers = {"Content-Type": "application/json"}
    raw = json.dumps(body) if body is not None else None
    call = api.client.http.post if method == "POST" else api.client.http.get
    anonymous = call(path, headers=headers, body=raw) if raw is not None else call(path, headers=headers)
    assert anonymous.status_code == 401
    foreign = api.post(path, body, api.other) if method == "POST" else api.get(path, api.other)
    assert foreign.status_code == 403, foreign.body
    assert json.loads(foreign.body) == {
        "error": "forbidden",
        "message": "this token is not allowed for the requested province",
        "field": "province",
    }
