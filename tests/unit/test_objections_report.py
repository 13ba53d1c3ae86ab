"""The monthly report's objections section: overdue objections and approved adjustments."""

from __future__ import annotations

import datetime as dt

from functions import layout
from functions.lake import Lake
from functions.objections import adjust, service
from functions.objections.report import section
from schemas.objections import Actor, ObjectionIn
from tests.sampling_data import publish, results_table

MONTH = "2026-09"


def test_section_lists_overdue_objections_and_adjustments(local_lake: Lake) -> None:
    publish(local_lake, results_table("42", 20, run_id="run-1"), MONTH, "42")
    rows = local_lake.read_parquet(layout.classification_key(MONTH, "42")).to_pylist()
    first, second = rows[0], next(r for r in rows if r["risk_class"] != "D")
    api = Actor(kind="token", id="0123456789ab", name="platform")
    at = dt.datetime(2026, 9, 30, 2, 0, tzinfo=dt.UTC)
    req = ObjectionIn(uscc=first["uscc"], month=MONTH, received_on="2026-09-30", reasons=["R1"])
    oid = service.register(local_lake, req, api, now=at).objection_id
    li, wang = Actor(kind="operator", id="li", name="li"), Actor(kind="operator", id="wang", name="wang")
    a = adjust.propose(local_lake, second["uscc"], MONTH, "D", "inspection found fraud", li)
    adjust.decide(local_lake, MONTH, a.adjustment_id, wang, approve=True)

    on_time = section(local_lake, MONTH, "42", dt.datetime(2026, 10, 13, 8, tzinfo=dt.UTC))
    assert "overdue objections (past 5 working days): 0" in on_time
    late = section(local_lake, MONTH, "42", dt.datetime(2026, 10, 14, 8, tzinfo=dt.UTC))
    assert "overdue objections (past 5 working days): 1" in late and oid in late and "2026-10-13" in late
    assert "approved manual adjustments: 1" in late
    assert f"<td class='l'>{second['risk_class']}</td><td class='l'>D</td>" in late and "wang" in late
