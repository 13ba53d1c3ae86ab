"""Manual class adjustments through the REST API (issue 14, docs/adr/0113, 0120): proposed by one
token, approved by another of the same province, never by the proposer, never across provinces;
once approved the bulk read shows the adjusted class beside the model's."""

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
from schemas.api import ClassificationOut
from schemas.delivery import ClassificationsPage
from schemas.objections import AdjustmentOut, AdjustmentsPage
from tests.sampling_data import publish, results_table

MONTH = "2026-10"


@dataclass
class Api:
    client: Client
    proposer: str
    approver: str
    other: str
    lake: Lake

    def get(self, path: str, token: str) -> Any:
        return self.client.http.get(path, headers={"Authorization": f"Bearer {token}"})

    def post(self, path: str, body: Any, token: str) -> Any:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        return self.client.http.post(path, headers=headers, body=json.dumps(body))


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, local_settings: Settings, local_lake: Lake) -> Iterator[Api]:
    monkeypatch.setenv("CREDITRISK_LAKE_URI", local_settings.lake_uri)
    app_module.reset()
    publish(local_lake, results_table("42", 60, run_id="run-42"), MONTH, "42")
    proposer, _ = tokens.issue_token(local_lake, name="hubei-li", provinces=["42"])
    approver, _ = tokens.issue_token(local_lake, name="hubei-wang", provinces=["42"])
    other, _ = tokens.issue_token(local_lake, name="heilongjiang", provinces=["23"])
    with Client(app_module.app) as client:
        yield Api(client, proposer, approver, other, local_lake)
    app_module.reset()


def _entity(lake: Lake) -> tuple[str, str]:
    t = lake.read_parquet(layout.classification_key(MONTH, "42"))
    return str(t["uscc"][0].as_py()), str(t["risk_class"][0].as_py())


def _other_class(cls: str) -> str:
    return "D" if cls != "D" else "A"


def test_propose_then_approve_by_another_token_shows_in_the_bulk_read(api: Api) -> None:
    code, model = _entity(api.lake)
    to = _other_class(model)
    body = {"uscc": code, "month": MONTH, "to_class": to, "reason": "核查后调整"}
    r = api.post("/v1/adjustments", body, api.proposer)
    assert r.status_code == 201, r.body
    made = AdjustmentOut.model_validate_json(r.body)
    assert r.headers["Location"] == f"/v1/adjustments/{made.adjustment_id}?month={MONTH}"
    assert (made.status, made.model_class, made.adjusted_class) == ("proposed", model, to)
    assert made.proposed_by.name == "hubei-li"

    # not yet approved: the bulk read still gives the model's class
    first = ClassificationsPage.model_validate_json(
        api.get(f"/v1/classifications?month={MONTH}&province=42&limit=1", api.proposer).body
    )
    assert (first.rows[0].class_, first.rows[0].adjusted) == (model, False)
    one = ClassificationOut.model_validate_json(
        api.get(f"/v1/classifications/{code}?month={MONTH}", api.proposer).body
    )
    assert (one.risk_class, one.adjustment) == (model, None)

    own = api.post(
        f"/v1/adjustments/{made.adjustment_id}/decision",
        {"month": MONTH, "decision": "approved"},
        api.proposer,
    )
    assert own.status_code == 403, own.body  # the proposer cannot approve their own
    ok = api.post(
        f"/v1/adjustments/{made.adjustment_id}/decision",
        {"month": MONTH, "decision": "approved"},
        api.approver,
    )
    assert ok.status_code == 200, ok.body
    done = AdjustmentOut.model_validate_json(ok.body)
    assert done.status == "approved" and done.approved_by is not None
    assert done.approved_by.name == "hubei-wang"
    assert [e.step for e in done.trail] == ["proposed", "approved"]
    again = api.post(
        f"/v1/adjustments/{made.adjustment_id}/decision",
        {"month": MONTH, "decision": "refused"},
        api.approver,
    )
    assert again.status_code == 409

    page = ClassificationsPage.model_validate_json(
        api.get(f"/v1/classifications?month={MONTH}&province=42&limit=1", api.approver).body
    )
    row = page.rows[0]
    assert (row.uscc, row.class_, row.model_class, row.adjusted) == (code, to, model, True)
    # the single lookup says the same: the model's class beside the approved adjustment
    one = ClassificationOut.model_validate_json(
        api.get(f"/v1/classifications/{code}?month={MONTH}", api.proposer).body
    )
    assert one.risk_class == model and one.adjustment is not None
    assert (one.adjustment.adjustment_id, one.adjustment.adjusted_class) == (made.adjustment_id, to)
    assert (one.adjustment.proposed_by, one.adjustment.approved_by) == ("hubei-li", "hubei-wang")

    got = api.get(f"/v1/adjustments/{made.adjustment_id}?month={MONTH}", api.proposer)
    assert got.status_code == 200 and AdjustmentOut.model_validate_json(got.body) == done
    listed = AdjustmentsPage.model_validate_json(
        api.get(f"/v1/adjustments?province=42&month={MONTH}", api.proposer).body
    )
    assert [a.adjustment_id for a in listed.adjustments] == [made.adjustment_id]


def test_refusal_leaves_the_model_class(api: Api) -> None:
    code, model = _entity(api.lake)
    made = AdjustmentOut.model_validate_json(
        api.post("/v1/adjustments", {"uscc": code, "month": MONTH, "to_class": _other_class(model),
                                     "reason": "x"}, api.proposer).body)  # fmt: skip
    r = api.post(f"/v1/adjustments/{made.adjustment_id}/decision",
                 {"month": MONTH, "decision": "refused", "reason": "记录无误"}, api.approver)  # fmt: skip
    assert r.status_code == 200 and AdjustmentOut.model_validate_json(r.body).status == "refused"
    url = f"/v1/classifications?month={MONTH}&province=42&limit=1"
    page = ClassificationsPage.model_validate_json(api.get(url, api.proposer).body)
    assert (page.rows[0].class_, page.rows[0].adjusted) == (model, False)


def test_other_provinces_and_bad_input_are_refused(api: Api) -> None:
    code, model = _entity(api.lake)
    body = {"uscc": code, "month": MONTH, "to_class": _other_class(model), "reason": "x"}
    assert api.post("/v1/adjustments", body, api.other).status_code == 403
    made = AdjustmentOut.model_validate_json(api.post("/v1/adjustments", body, api.proposer).body)
    path = f"/v1/adjustments/{made.adjustment_id}"
    assert api.get(f"{path}?month={MONTH}", api.other).status_code == 403
    assert (
        api.post(f"{path}/decision", {"month": MONTH, "decision": "approved"}, api.other).status_code == 403
    )
    assert api.get(f"/v1/adjustments?province=42&month={MONTH}", api.other).status_code == 403
    same = api.post("/v1/adjustments", {**body, "to_class": model}, api.proposer)
    assert same.status_code == 400 and json.loads(same.body)["field"] == "to_class"
    extra = api.post("/v1/adjustments", {**body, "approved_by": "me"}, api.proposer)
    assert extra.status_code == 400
    assert (
        api.post(f"{path}/decision", {"month": MONTH, "decision": "maybe"}, api.approver).status_code == 400
    )
    assert api.get(f"{path}?month=2026-09", api.proposer).status_code == 404
    assert api.get(f"/v1/adjustments/42-zz?month={MONTH}", api.proposer).status_code == 400
    missing = api.post("/v1/adjustments", {**body, "month": "2026-09"}, api.proposer)
    assert missing.status_code == 404


def _publish_food(lake: Lake, codes: list[str], classes: list[str]) -> None:
    """A food field run whose population is ``codes``, published as the field publish does."""
    import pyarrow as pa

    t = results_table("42", 60, run_id="food-run-42")
    t = t.filter(pa.compute.is_in(t["uscc"], value_set=pa.array(codes)))
    t = t.set_column(t.schema.get_field_index("risk_class"), "risk_class", pa.array(classes, pa.string()))
    lake.write_parquet(layout.field_result_key("food-run-42"), t)
    lake.copy(layout.field_result_key("food-run-42"), layout.field_classification_key("food", MONTH, "42"))
    lake.write_json(layout.field_classification_pointer_key("food", MONTH, "42"), {"run_id": "food-run-42"})


def test_the_bulk_reads_field_sampling_class_takes_the_approved_adjustment(api: Api) -> None:
    """ADR 0145, 0156: the field sampling class of an adjusted entity is the stricter of its adjusted
    class and its field class, the same in the bulk read, the change feed and the single lookup."""
    t = api.lake.read_parquet(layout.classification_key(MONTH, "42"))
    code, model = str(t["uscc"][1].as_py()), str(t["risk_class"][1].as_py())
    outside = str(t["uscc"][0].as_py())
    _publish_food(api.lake, [code], ["B"])
    made = AdjustmentOut.model_validate_json(
        api.post(
            "/v1/adjustments",
            {"uscc": code, "month": MONTH, "to_class": "D", "reason": "核查后调整"},
            api.proposer,
        ).body
    )
    ok = api.post(
        f"/v1/adjustments/{made.adjustment_id}/decision",
        {"month": MONTH, "decision": "approved"},
        api.approver,
    )
    assert ok.status_code == 200, ok.body
    page = ClassificationsPage.model_validate_json(
        api.get(f"/v1/classifications?month={MONTH}&province=42&limit=2", api.proposer).body
    )
    assert page.field_runs == {"food": "food-run-42"}
    first, second = page.rows
    assert first.uscc == outside and first.fields == {"food": None}
    food = second.fields["food"]
    assert food is not None and (second.model_class, second.class_) == (model, "D")
    assert (food.class_, food.sampling_class) == ("B", "D")
    one = ClassificationOut.model_validate_json(
        api.get(f"/v1/classifications/{code}?month={MONTH}", api.proposer).body
    )
    assert one.fields["food"].sampling_class == food.sampling_class
    feed = api.get(f"/v1/classifications/changes?month={MONTH}&province=42&limit=5000", api.proposer)
    changed = {r.uscc: r for r in ClassificationsPage.model_validate_json(feed.body).rows}
    assert {code, outside} <= set(changed)  # every entity is new this month in this data
    assert changed[code].fields["food"] == food
    assert all(r.fields["food"] is None for c, r in changed.items() if c != code)
