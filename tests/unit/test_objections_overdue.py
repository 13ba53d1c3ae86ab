"""Overdue objections are warnings with a lifecycle (issue 14, docs/adr/0121): raised once when
undecided past the 5th working day, resolved when decided, never raised for one decided in time."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from functions import layout
from functions.lake import Lake
from functions.objections import service
from functions.objections.overdue import RULE_ID, sync_overdue_warnings
from functions.warnings import store
from schemas.objections import Actor, ObjectionIn
from tests.sampling_data import publish, results_table

MONTH = "2026-09"
CLERK = Actor(kind="operator", id="li", name="li")
T_REG = dt.datetime(2026, 9, 30, 2, 0, tzinfo=dt.UTC)
ON_DUE = dt.datetime(2026, 10, 13, 15, 0, tzinfo=dt.UTC)  # 23:00 on the due day in China
LATE = dt.datetime(2026, 10, 14, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def lake(local_lake: Lake) -> Lake:
    publish(local_lake, results_table("42", 20, run_id="run-1"), MONTH, "42")
    return local_lake


def _register(lake: Lake, row: int) -> str:
    code = str(lake.read_parquet(layout.classification_key(MONTH, "42"))["uscc"][row].as_py())
    req = ObjectionIn(uscc=code, month=MONTH, received_on="2026-09-30", reasons=["R1"])
    return service.register(lake, req, CLERK, now=T_REG).objection_id


def _decide(lake: Lake, oid: str, now: dt.datetime) -> None:
    for step in ("accepted", "checked"):
        service.advance(lake, oid, step, CLERK, now=now)
    service.advance(lake, oid, "decided", CLERK, outcome="rejected", reason="records verified", now=now)


def _states(lake: Lake) -> dict[str, str]:
    t = store.load_warnings(lake, MONTH, "42", rule=RULE_ID)
    pairs = zip(t["evidence"].to_pylist(), t["state"].to_pylist(), strict=True)
    return {json.loads(e)["objection_id"]: s for e, s in pairs}


def test_an_overdue_objection_is_raised_once_and_resolved_when_decided(lake: Lake) -> None:
    late_one, in_time = _register(lake, 1), _register(lake, 2)
    assert sync_overdue_warnings(lake, "42", now=ON_DUE) == {"raised": 0, "resolved": 0}
    _decide(lake, in_time, ON_DUE)  # decided on its due day: never a warning
    assert sync_overdue_warnings(lake, "42", now=LATE) == {"raised": 1, "resolved": 0}
    assert _states(lake) == {late_one: "open"}
    w = store.load_warnings(lake, MONTH, "42", rule=RULE_ID).to_pylist()[0]
    assert (w["severity"], w["fact"], str(w["event_on"])) == ("high", late_one, "2026-10-13")
    assert sync_overdue_warnings(lake, "42", now=LATE) == {"raised": 0, "resolved": 0}  # idempotent
    _decide(lake, late_one, LATE)
    assert sync_overdue_warnings(lake, "42", now=LATE, by="wang", trigger="manual") == {
        "raised": 0,
        "resolved": 1,
    }
    assert _states(lake) == {late_one: "resolved"}
    history = sorted(store.history(lake, MONTH, "42").to_pylist(), key=lambda h: h["state_at"])
    assert [(h["state"], h["state_by"]) for h in history] == [("open", "system"), ("resolved", "wang")]
    assert history[1]["state_reason"] == "decided (rejected) on 2026-10-14"
    assert sync_overdue_warnings(lake, "42", now=LATE) == {"raised": 0, "resolved": 0}


def test_other_provinces_are_untouched(lake: Lake) -> None:
    _register(lake, 1)
    assert sync_overdue_warnings(lake, "23", now=LATE) == {"raised": 0, "resolved": 0}
    assert store.load_warnings(lake, MONTH, "23").num_rows == 0
