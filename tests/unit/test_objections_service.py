"""Objections: registered, accepted, checked, decided (upheld with a correction run, or rejected),
every step appended to the audit trail; overdue ones listed (issue 14, ADR 0112)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from functions import layout
from functions.errors import Conflict, InvalidInput, NotFound
from functions.lake import Lake
from functions.objections import service
from schemas.objections import Actor, Correction, ObjectionIn
from tests.sampling_data import publish, results_table

MONTH = "2026-09"
CLERK = Actor(kind="operator", id="li", name="li")
CHIEF = Actor(kind="operator", id="wang", name="wang")
API = Actor(kind="token", id="0123456789ab", name="hubei-platform")
T_REG = dt.datetime(2026, 9, 30, 2, 0, tzinfo=dt.UTC)  # 10:00 in China


@pytest.fixture
def lake(local_lake: Lake) -> Lake:
    publish(local_lake, results_table("42", 50, run_id="run-1"), MONTH, "42")
    return local_lake


def _uscc(lake: Lake) -> str:
    return str(lake.read_parquet(layout.classification_key(MONTH, "42"))["uscc"][3].as_py())


def _register(lake: Lake, received: str = "2026-09-30", now: dt.datetime = T_REG) -> str:
    req = ObjectionIn(uscc=_uscc(lake), month=MONTH, received_on=received, reasons=["R1"])
    return service.register(lake, req, API, now=now).objection_id


def test_registration_fixes_the_deadline_across_national_day(lake: Lake) -> None:
    oid = _register(lake)
    got = service.get(lake, oid, now=T_REG)
    assert (got.status, got.due_on, got.calendar_official, got.overdue) == (
        "received",
        "2026-10-13",
        True,
        False,
    )
    assert got.province == "42" and got.trail[0].by == API and got.trail[0].at == "2026-09-30T02:00:00+00:00"
    assert got.trail[0].data is not None and got.trail[0].data["reasons"] == ["R1"]


def test_rejected_with_reason_after_accept_and_check(lake: Lake) -> None:
    oid = _register(lake)
    service.advance(lake, oid, "accepted", CLERK, now=T_REG)
    service.advance(lake, oid, "checked", CLERK, now=T_REG)
    with pytest.raises(InvalidInput, match="reason"):
        service.advance(lake, oid, "decided", CHIEF, outcome="rejected", now=T_REG)
    out = service.advance(
        lake, oid, "decided", CHIEF, outcome="rejected", reason="records verified", now=T_REG
    )
    assert out.status == "rejected" and out.decided_on == "2026-09-30"
    assert [(e.seq, e.step, e.by.name) for e in out.trail] == [
        (1, "received", "hubei-platform"),
        (2, "accepted", "li"),
        (3, "checked", "li"),
        (4, "decided", "wang"),
    ]
    assert out.trail[-1].reason == "records verified" and out.trail[-1].outcome == "rejected"


def test_steps_go_in_order_only(lake: Lake) -> None:
    oid = _register(lake)
    with pytest.raises(Conflict, match="next step is accepted"):
        service.advance(lake, oid, "checked", CLERK)
    with pytest.raises(InvalidInput):
        service.advance(lake, oid, "corrected", CLERK)


def test_the_trail_is_append_only(lake: Lake) -> None:
    oid = _register(lake)
    prefix = layout.objection_prefix(oid)
    before = {f.key: lake.read_bytes(f.key) for f in lake.list_files(prefix)}
    service.advance(lake, oid, "accepted", CLERK)
    after = {f.key: lake.read_bytes(f.key) for f in lake.list_files(prefix)}
    assert len(after) == 2 and all(after[k] == v for k, v in before.items())


def test_upheld_records_the_correction_and_the_correction_run(lake: Lake) -> None:
    oid = _register(lake)
    service.advance(lake, oid, "accepted", CLERK)
    service.advance(lake, oid, "checked", CLERK)
    with pytest.raises(InvalidInput, match="correction"):
        service.advance(lake, oid, "decided", CHIEF, outcome="upheld")
    fix = Correction(
        kind="record", dataset="penalties", record_id="PEN-1", note="penalty was revoked on appeal"
    )
    service.advance(lake, oid, "decided", CHIEF, outcome="upheld", correction=fix)
    calls: list[dict[str, Any]] = []

    class Done:
        run_id = "2026-09-42-corr"

    def classify(**kw: Any) -> Done:
        calls.append(kw)
        return Done()

    out = service.reclassify(lake, oid, CHIEF, classify=classify)
    assert calls == [
        {"month": MONTH, "province": "42", "correction": {"objection_id": oid, "uscc": _uscc(lake)}}
    ]
    assert out.status == "upheld" and out.correction_run_id == "2026-09-42-corr"
    assert out.trail[3].correction == fix
    assert [(e.step, e.by.name) for e in out.trail[4:]] == [
        ("correction_started", "wang"),
        ("corrected", "wang"),
    ]
    with pytest.raises(Conflict):
        service.reclassify(lake, oid, CHIEF, classify=classify)


def test_upheld_by_an_upload_that_does_not_exist_is_refused(lake: Lake) -> None:
    oid = _register(lake)
    service.advance(lake, oid, "accepted", CLERK)
    service.advance(lake, oid, "checked", CLERK)
    with pytest.raises(NotFound, match="no upload"):
        service.advance(
            lake,
            oid,
            "decided",
            CHIEF,
            outcome="upheld",
            correction=Correction(kind="upload", ingest_id="0" * 20),
        )


def test_overdue_after_the_fifth_working_day(lake: Lake, caplog: pytest.LogCaptureFixture) -> None:
    oid = _register(lake)
    on_due = dt.datetime(2026, 10, 13, 15, 0, tzinfo=dt.UTC)  # 23:00 on the due day in China
    day_after = dt.datetime(2026, 10, 13, 16, 30, tzinfo=dt.UTC)  # 00:30 on the 14th in China
    assert service.list_objections(lake, "42", overdue_only=True, now=on_due) == []
    late = service.list_objections(lake, "42", overdue_only=True, now=day_after)
    assert [o.objection_id for o in late] == [oid] and late[0].overdue
    assert "past their 5-working-day deadline" in caplog.text
    assert service.list_objections(lake, "23", now=day_after) == []


def test_decided_late_stays_marked_overdue(lake: Lake) -> None:
    oid = _register(lake)
    late = dt.datetime(2026, 10, 20, 2, 0, tzinfo=dt.UTC)
    service.advance(lake, oid, "accepted", CLERK, now=late)
    service.advance(lake, oid, "checked", CLERK, now=late)
    out = service.advance(lake, oid, "decided", CHIEF, outcome="rejected", reason="x", now=late)
    assert out.overdue and out.decided_on == "2026-10-20"


def test_registration_refuses_a_future_receipt_and_an_unpublished_month(lake: Lake) -> None:
    with pytest.raises(InvalidInput, match="future"):
        _register(lake, received="2026-10-05")
    req = ObjectionIn(uscc=_uscc(lake), month="2026-08", received_on="2026-09-30", reasons=["R1"])
    with pytest.raises(NotFound):
        service.register(lake, req, API, now=T_REG)


def test_an_unknown_or_malformed_id(lake: Lake) -> None:
    with pytest.raises(NotFound):
        service.get(lake, "42-" + "0" * 16)
    with pytest.raises(InvalidInput):
        service.get(lake, "../etc")
