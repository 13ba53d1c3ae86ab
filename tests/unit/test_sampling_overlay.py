"""Approved adjustments count for sampling at once (ADR 0142): a plan drawn after the approval
draws the entity in its adjusted class's stratum, plans drawn before still verify, and a changed
adjustments snapshot fails verification."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from functions import layout
from functions.auth.tokens import Principal
from functions.lake import Lake
from functions.objections import adjust
from functions.sampling import cells, overlay
from functions.sampling.service import compute
from functions.sampling.tasks import create_plan
from functions.sampling.verify import staffing_of, verify_plan
from schemas.api import PlanRequest
from schemas.objections import Actor
from tests.sampling_data import AUDIT_KEY, publish_cold, results_table

CALLER = Principal("0123456789ab", "platform", frozenset({"42"}))
MONTH = "2026-10"
LI, WANG = Actor(kind="operator", id="li", name="li"), Actor(kind="operator", id="wang", name="wang")


@pytest.fixture
def table() -> pa.Table:
    return results_table("42", 600, run_id="run-1")


@pytest.fixture
def lake(local_lake: Lake, table: pa.Table) -> Lake:
    return publish_cold(local_lake, table, MONTH, "42")  # the run's sampling copy is written here


def _plan(lake: Lake, seed: str, **extra: Any) -> dict[str, Any]:
    req = PlanRequest.model_validate({"month": MONTH, "province": "42", "ratios": {"D": 1.0}, "seed": seed,
                                      **extra})  # fmt: skip
    plan: dict[str, Any] = json.loads(create_plan(lake, req, CALLER, AUDIT_KEY)[1])
    return plan


def _approve(lake: Lake, code: str, to: str) -> str:
    a = adjust.propose(lake, code, MONTH, to, "核查后调整", LI)
    adjust.decide(lake, MONTH, a.adjustment_id, WANG, approve=True)
    return a.adjustment_id


def _stratum(plan: dict[str, Any], cls: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in plan["strata"] if s["risk_class"] == cls)
    return found


def test_a_plan_after_approval_draws_the_entity_in_its_adjusted_class(lake: Lake, table: pa.Table) -> None:
    entity = next(r for r in table.to_pylist() if r["risk_class"] == "A")
    before = _plan(lake, "s1")
    assert before["plan_format"] == 5 and before["adjustments"] is None
    assert entity["uscc"] not in {t["uscc"] for t in before["targets"]}  # only class D is drawn

    aid = _approve(lake, entity["uscc"], "D")
    after = _plan(lake, "s1")
    drawn = {t["uscc"]: t["risk_class"] for t in after["targets"]}
    assert drawn[entity["uscc"]] == "D"  # drawn in the adjusted class's stratum, shown as such
    assert _stratum(after, "D")["population"] == _stratum(before, "D")["population"] + 1
    assert _stratum(after, "A")["population"] == _stratum(before, "A")["population"] - 1
    assert len(after["targets"]) == len(before["targets"]) + 1  # ratio 1.0: every D entity
    assert after["run_id"] == before["run_id"] and after["frame_digest"] == before["frame_digest"]
    snapshot = overlay.current(lake, MONTH, "42")
    assert snapshot is not None and snapshot.ids == {entity["uscc"]: aid}
    assert after["adjustments"] == {"digest": snapshot.digest, "adjustments": 1, "applied": 1}

    for plan in (before, after):
        checked = verify_plan(lake, plan["plan_id"])
        assert checked.status == "match", checked.message

    # a later approval writes a new snapshot; the earlier plans still re-apply their own
    other = next(r for r in table.to_pylist() if r["risk_class"] == "B")
    _approve(lake, other["uscc"], "D")
    assert overlay.current(lake, MONTH, "42") != snapshot
    assert verify_plan(lake, after["plan_id"]).status == "match"


def test_a_changed_snapshot_fails_verification(lake: Lake, table: pa.Table) -> None:
    entity = next(r for r in table.to_pylist() if r["risk_class"] == "C")
    _approve(lake, entity["uscc"], "D")
    plan = _plan(lake, "s2")
    key = layout.adjustments_snapshot_key(MONTH, "42", plan["adjustments"]["digest"])
    doc = json.loads(lake.read_bytes(key))
    doc["adjustments"][entity["uscc"]]["adjusted_class"] = "B"  # moved elsewhere after the fact
    lake.write_bytes(key, json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())
    checked = verify_plan(lake, plan["plan_id"])
    assert checked.status == "mismatch" and checked.differences == ["adjustments"], checked.message


def test_a_forged_snapshot_with_a_matching_digest_fails_against_the_trails(
    lake: Lake, table: pa.Table
) -> None:
    """A snapshot rewritten together with the plan's digest still names adjustments that were
    never approved so: each entry is checked against its adjustment's own trail."""
    entity = next(r for r in table.to_pylist() if r["risk_class"] == "C")
    aid = _approve(lake, entity["uscc"], "D")
    plan = _plan(lake, "s3")
    forged = {
        entity["uscc"]: {
            "adjustment_id": aid,
            "adjusted_class": "A",
            "approved_at": "2026-11-01T00:00:00+00:00",
        }
    }
    digest = overlay.store_snapshot(lake, MONTH, "42", forged)
    plan["adjustments"]["digest"] = digest
    lake.write_bytes(layout.plan_key("42", plan["plan_id"]), json.dumps(plan, ensure_ascii=False).encode())
    checked = verify_plan(lake, plan["plan_id"])
    assert checked.status == "mismatch" and "adjustments" in checked.differences, checked.message


def test_an_excluded_or_out_of_scope_adjusted_entity_is_not_moved(lake: Lake, table: pa.Table) -> None:
    entity = next(r for r in table.to_pylist() if r["risk_class"] == "A")
    _approve(lake, entity["uscc"], "D")
    excluded = _plan(lake, "s4", exclude=[entity["uscc"]])
    assert entity["uscc"] not in {t["uscc"] for t in excluded["targets"]}
    assert excluded["adjustments"]["applied"] == 0
    elsewhere = next(r["region_code"] for r in table.to_pylist() if r["region_code"] != entity["region_code"])
    scoped = _plan(lake, "s5", region_prefix=elsewhere)
    assert scoped["adjustments"]["applied"] == 0
    assert entity["uscc"] not in {t["uscc"] for t in scoped["targets"]}
    for plan in (excluded, scoped):
        assert verify_plan(lake, plan["plan_id"]).status == "match"


def test_a_task_draws_by_the_adjustments_fixed_at_its_registration(lake: Lake, table: pa.Table) -> None:
    """Like the supervision set (ADR 0123), the snapshot is fixed before the randomness exists:
    an approval after registration does not change the task's draws; its plans verify officially."""
    from functions.sampling.signing import HmacSigner
    from functions.sampling.tasks import draw_task, register_task
    from schemas.api import DrawRequest, TaskRequest

    key = HmacSigner(b"o" * 32)
    rows = table.to_pylist()
    first = next(r for r in rows if r["risk_class"] == "A")
    later = next(r for r in rows if r["risk_class"] == "B")
    _approve(lake, first["uscc"], "D")
    body = {"month": MONTH, "province": "42", "ratios": {"D": 1.0},
            "window": {"start": "2026-11-01", "end": "2026-11-30"}}  # fmt: skip
    task = register_task(lake, TaskRequest.model_validate(body, strict=False), CALLER, key)
    fixed = overlay.current(lake, MONTH, "42")
    assert fixed is not None and task["adjustments"] == {"digest": fixed.digest, "adjustments": 1}
    _approve(lake, later["uscc"], "D")  # after registration: not this task's
    made = draw_task(lake, task["task_id"], DrawRequest(), CALLER, key)
    plan = json.loads(made.stored)
    drawn = {t["uscc"]: t["risk_class"] for t in plan["targets"]}
    assert drawn.get(first["uscc"]) == "D" and later["uscc"] not in drawn
    assert plan["adjustments"]["digest"] == fixed.digest
    checked = verify_plan(lake, plan["plan_id"], key)
    assert checked.status == "match", checked.message


def test_format_3_plans_replay_without_adjustments_and_a_stripped_format_4_plan_fails(
    lake: Lake, table: pa.Table
) -> None:
    """ADR 0125: a plan of format 3 (no ``adjustments`` member) is replayed as written, with no
    overlay; a format 4 plan that applied an adjustment, relabelled as format 3, no longer matches."""
    plain = _plan(lake, "s6")
    entity = next(r for r in table.to_pylist() if r["risk_class"] == "A")
    _approve(lake, entity["uscc"], "D")
    adjusted = _plan(lake, "s6")
    for plan, expected in ((plain, "match"), (adjusted, "mismatch")):
        old = {k: v for k, v in plan.items() if k != "adjustments"} | {"plan_format": 3}
        if expected == "match":  # as format 3 staffed it: rounds shuffled one by one (ADR 0163)
            req = PlanRequest.model_validate(plan["request"])
            frame = cells.load_published(lake, MONTH, "42")
            again = compute(req, frame, plan["seed"], *staffing_of(lake, plan), None, None, 3)
            old |= {"targets": again["targets"], "inspector_loads": again["inspector_loads"]}
        lake.write_bytes(layout.plan_key("42", plan["plan_id"]), json.dumps(old, ensure_ascii=False).encode())
        checked = verify_plan(lake, plan["plan_id"])
        assert checked.status == expected, checked.message
    assert "targets" in verify_plan(lake, adjusted["plan_id"]).differences


def test_an_entity_adjusted_in_the_copy_can_be_excluded_and_is_not_moved_again(
    local_lake: Lake, table: pa.Table
) -> None:
    """A copy written after the approval holds the adjusted class (ADR 0120): ``cells.locate``
    finds the entity in that class's cell, so an exclusion works and the overlay moves nothing."""
    from functions.classify.sampling_copy import write_sampling_copy

    publish_cold(local_lake, table, MONTH, "42")
    entity = next(r for r in table.to_pylist() if r["risk_class"] == "A")
    _approve(local_lake, entity["uscc"], "D")
    write_sampling_copy(local_lake, MONTH, "42", "run-1", "samr-general@1")  # the adjusted copy
    cells.clear_cache()
    frame = cells.load_published(local_lake, MONTH, "42")
    assert isinstance(frame, cells.CellFrame)
    cell, _ = cells.locate(frame, [entity["uscc"]])[entity["uscc"]]
    assert frame.index["risk_class"][cell].as_py() == "D"
    plan = _plan(local_lake, "s7")
    assert plan["adjustments"]["applied"] == 0  # already in class D in the copy
    assert {t["uscc"]: t["risk_class"] for t in plan["targets"]}[entity["uscc"]] == "D"
    excluded = _plan(local_lake, "s8", exclude=[entity["uscc"]])
    assert entity["uscc"] not in {t["uscc"] for t in excluded["targets"]}
    assert len(excluded["targets"]) == len(plan["targets"]) - 1


def test_the_adjustments_a_draw_applies_are_the_months_snapshot_on_any_copy(
    lake: Lake, table: pa.Table
) -> None:
    """``adjustments_for`` needs only the frame (ADR 0145: a field's draw combines the snapshot
    with the field class itself), so it takes no ``frame_field``."""
    from functions.sampling.service import adjustments_for

    frame = cells.load_published_for(lake, MONTH, "42", None)
    assert adjustments_for(lake, MONTH, "42", frame) is None  # nothing approved yet
    _approve(lake, next(r["uscc"] for r in table.to_pylist() if r["risk_class"] == "A"), "D")
    got = adjustments_for(lake, MONTH, "42", frame)
    snapshot = overlay.current(lake, MONTH, "42")
    assert got is not None and snapshot is not None and got.digest == snapshot.digest
