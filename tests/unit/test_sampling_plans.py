"""Plans: immutable storage, ids carry the province, verification detects replacement/tampering."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json

import pytest

from functions import layout
from functions.auth.tokens import Principal
from functions.errors import Conflict, InvalidInput, NotFound
from functions.lake import Lake
from functions.sampling import frame as frames
from functions.sampling import plans
from functions.sampling.plans import load_plan, new_plan_id, province_of_plan, store_plan
from functions.sampling.service import make_plan
from functions.sampling.tasks import create_plan
from functions.sampling.verify import verify_plan
from schemas.api import PlanRequest
from tests.sampling_data import AUDIT_KEY, publish, results_table

CALLER = Principal("0123456789ab", "platform", frozenset({"42"}))


def _request(**extra: object) -> PlanRequest:
    body = {"month": "2026-10", "province": "42", "ratios": {"A": 0.02, "B": 0.05, "C": 0.2, "D": 0.5}}
    body.update(extra)
    return PlanRequest.model_validate(body)


@pytest.fixture
def lake(local_lake: Lake) -> Lake:
    frames.clear_cache()
    publish(local_lake, results_table("42", 1500, run_id="run-1"), "2026-10", "42")
    return local_lake


def test_plan_ids_carry_the_province() -> None:
    pid = new_plan_id("42")
    assert province_of_plan(pid) == "42"
    for bad in ("42", "x2-0123456789abcdef0123", "../etc/passwd", "42-0123456789ABCDEF0123"):
        with pytest.raises(InvalidInput):
            province_of_plan(bad)


def test_plans_are_immutable(lake: Lake) -> None:
    pid, text = create_plan(lake, _request(seed="s"), CALLER, AUDIT_KEY)
    with pytest.raises(Conflict):
        store_plan(lake, json.loads(text))
    assert lake.read_bytes(layout.plan_key("42", pid)).decode() == text


def test_stored_plan_records_request_caller_time_and_frame(lake: Lake) -> None:
    pid, text = create_plan(lake, _request(), CALLER, AUDIT_KEY)
    plan = load_plan(lake, pid)
    assert plan["caller"] == {"token_id": "0123456789ab", "name": "platform"}
    assert "secret" not in text and "hash" not in json.dumps(plan["caller"])
    assert plan["seed_generated"] is True and len(plan["seed"]) == 32
    assert plan["run_id"] == "run-1" and plan["model"] == "samr-general@1"
    assert plan["model_hash"].startswith("sha256:")
    assert plan["frame_size"] == 1500 and plan["frame_digest"].startswith("cells-v2:")
    assert len(plan["frame_digest"]) == len("cells-v2:") + 64
    assert plan["request"]["ratios"] == {"A": 0.02, "B": 0.05, "C": 0.2, "D": 0.5}
    assert plan["created_at"].endswith("+00:00")
    assert sum(s["sampled"] for s in plan["strata"]) == len(plan["targets"])


def test_same_seed_same_targets(lake: Lake) -> None:
    _, a = create_plan(lake, _request(seed="fixed"), CALLER, AUDIT_KEY)
    _, b = create_plan(lake, _request(seed="fixed"), CALLER, AUDIT_KEY)
    _, c = create_plan(lake, _request(seed="other"), CALLER, AUDIT_KEY)
    ta, tb, tc = (json.loads(x)["targets"] for x in (a, b, c))
    assert ta == tb and ta != tc


def test_exclusions_are_never_drawn(lake: Lake) -> None:
    table = results_table("42", 1500, run_id="run-1")
    d_codes = [r["uscc"] for r in table.to_pylist() if r["risk_class"] == "D"]
    _, text = create_plan(
        lake, _request(seed="e", ratios={"D": 1.0}, exclude=d_codes[:10]), CALLER, AUDIT_KEY
    )
    plan = json.loads(text)
    drawn = {t["uscc"] for t in plan["targets"]}
    assert drawn == set(d_codes[10:])
    assert plan["strata"][3] == {
        "risk_class": "D",
        "population": len(d_codes) - 10,
        "ratio": 1.0,
        "sampled": len(d_codes) - 10,
    }


def test_verify_matches_then_reports_replacement(lake: Lake) -> None:
    pid, _ = create_plan(lake, _request(seed="v"), CALLER, AUDIT_KEY)
    assert verify_plan(lake, pid).status == "match"
    publish(lake, results_table("42", 1500, run_id="run-2", seed=99), "2026-10", "42")
    result = verify_plan(lake, pid)
    assert result.status == "replaced" and result.ok
    assert result.current_run_id == "run-2" and "replaced" in result.message


def test_verify_detects_tampering(lake: Lake) -> None:
    pid, text = create_plan(lake, _request(seed="t"), CALLER, AUDIT_KEY)
    plan = json.loads(text)
    plan["targets"] = plan["targets"][1:]
    lake.write_json(layout.plan_key("42", pid), plan)  # simulate an edit behind the API's back
    result = verify_plan(lake, pid)
    assert result.status == "mismatch" and not result.ok and "targets" in result.differences


def test_verify_unknown_plan(lake: Lake) -> None:
    with pytest.raises(NotFound):
        verify_plan(lake, new_plan_id("42"))


def test_a_bare_test_plan_is_on_the_chain_and_verified_against_it(lake: Lake) -> None:
    """``create_plan`` (the demo, tests) appends ``test_plan`` like the API (docs/adr/0141)."""
    from functions.sampling import audit

    pid, text = create_plan(lake, _request(seed="c", mode="test"), CALLER, AUDIT_KEY)
    found = audit.locate(lake, AUDIT_KEY, "42", ("test_plan",), pid)
    assert found.ok and len(found.records) == 1
    rec = found.records[0]
    assert (rec["mode"], rec["seed_from"], rec["subject"]) == ("test", "caller", audit.sha256(text.encode()))
    assert audit.locate(lake, AUDIT_KEY, "42", audit.OFFICIAL_KINDS, pid).records == []  # never official
    assert verify_plan(lake, pid, AUDIT_KEY).ok
    path = layout.plan_key("42", pid)
    lake.write_bytes(path, text.replace('"created_at":"', '"created_at":"1', 1).encode())
    edited = verify_plan(lake, pid, AUDIT_KEY)
    assert not edited.ok and "stored_plan" in edited.differences


def test_a_test_plan_off_the_chain_fails_until_repair_adopts_it(lake: Lake) -> None:
    """Stored without its record (a writer that died, or drawn before ADR 0141): exit 1, then
    ``audit repair`` appends its ``test_plan`` record marked ``repaired_by``."""
    from functions.sampling.repair import repair
    from functions.sampling.service import make_plan

    pid = make_plan(lake, _request(seed="o", mode="test"), CALLER).plan_id  # stored, not appended
    off = verify_plan(lake, pid, AUDIT_KEY)
    assert not off.ok and "audit_chain" in off.differences and "not on the audit chain" in off.message
    done = repair(lake, AUDIT_KEY, "42", "cli:op")
    assert done.actions[0]["action"] == "adopted_test_plan" and done.actions[0]["ref"] == pid
    assert verify_plan(lake, pid, AUDIT_KEY).ok


# -- stored a batch of targets at a time (docs/adr/0153) ------------------------------------------
def test_a_plan_written_in_batches_is_the_same_bytes(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same seed, same time: a plan written 7 targets at a time equals one written whole."""
    at = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    req = _request(seed="batches")
    whole = make_plan(lake, req, CALLER, now=at)
    monkeypatch.setattr(plans, "TARGET_BATCH", 7)
    batched = make_plan(lake, req, CALLER, now=at)
    assert whole.targets == batched.targets > 7 * 3
    data = lake.read_bytes(layout.plan_key("42", batched.plan_id))
    assert data == lake.read_bytes(layout.plan_key("42", whole.plan_id)).replace(
        whole.plan_id.encode(), batched.plan_id.encode()
    )
    assert batched.sha256 == hashlib.sha256(data).hexdigest() and batched.stored == data
    assert json.loads(data)["targets"] == json.loads(whole.stored)["targets"]


@pytest.mark.parametrize("batch", [1, 2, 5, 6, 100])
def test_pieces_join_to_the_full_text(lake: Lake, batch: int) -> None:
    pid, text = create_plan(lake, _request(ratios={"A": 0.002, "D": 0.005}, seed="few"), CALLER, AUDIT_KEY)
    parsed = plans.plan_text_of(json.loads(text))
    assert 0 < parsed.count <= 6
    assert b"".join(p for p, _ in parsed.pieces(batch)) == parsed.full() == text.encode()
    empty = plans.PlanText(pid, b'{"a":1', lambda start, stop: b"[]", 0, b'"z":2}')
    assert b"".join(p for p, _ in empty.pieces(batch)) == empty.full() == b'{"a":1,"targets":[],"z":2}'


def test_a_stored_plan_is_kept_only_when_small(lake: Lake) -> None:
    _, text = create_plan(lake, _request(seed="kept"), CALLER, AUDIT_KEY)
    parsed = plans.plan_text_of(json.loads(text))
    data = text.encode()
    for keep, kept in ((len(data), data), (len(data) - 1, None)):
        copy = dataclasses.replace(parsed, plan_id=new_plan_id("42"))
        stored = plans.store_plan_text(lake, "42", copy, keep=keep, batch=3)
        assert (stored.kept, stored.size, stored.sha256) == (
            kept,
            len(data),
            hashlib.sha256(data).hexdigest(),
        )
        assert lake.read_bytes(layout.plan_key("42", copy.plan_id)) == data
        with pytest.raises(Conflict):
            plans.store_plan_text(lake, "42", copy)


def test_a_draw_keeps_no_reference_to_its_targets(lake: Lake) -> None:
    """The per-frame ``json_plain_columns`` cache once held every draw's targets (65 MB for a 20M
    province-wide plan, four of them at a time)."""
    make_plan(lake, _request(seed="a"), CALLER)
    before = dict(frames._plain_cache)
    made = make_plan(lake, _request(seed="b"), CALLER)
    assert made.targets > 0 and frames._plain_cache == before
