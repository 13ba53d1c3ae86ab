"""A decision's follow-up (issue 14, docs/adr/0144): queued with ids only, then done once by the
worker however often the message is delivered — the overdue warning resolved by the decider,
the correction run started once and recorded once, a failure shown and re-raised."""

from __future__ import annotations

import datetime as dt
import json
import types
from pathlib import Path
from typing import Any

import pytest

from functions import layout
from functions.errors import InvalidInput, RunInProgress
from functions.lake import Lake
from functions.objections import service
from functions.objections.followup import enqueue, follow_up
from functions.objections.overdue import RULE_ID, sync_overdue_warnings
from functions.objections.queue import deliveries
from functions.warnings import store
from schemas.objections import Actor, Correction, FollowUpMessage, ObjectionIn
from tests.sampling_data import publish, results_table

MONTH = "2026-09"
API = Actor(kind="token", id="0123456789ab", name="hubei-platform")
CHIEF = Actor(kind="token", id="ba9876543210", name="hubei-chief")
T_REG = dt.datetime(2026, 9, 30, 2, 0, tzinfo=dt.UTC)
LATE = dt.datetime(2026, 10, 20, 2, 0, tzinfo=dt.UTC)  # past the due day (13 Oct)
LEASE = dt.timedelta(seconds=900)
FIXTURE = Path(__file__).parent.parent / "fixtures" / "events" / "sqs_objection_follow_up.json"


class Sent:
    """A queue that keeps what it is sent."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send(self, body: str) -> str:
        self.bodies.append(body)
        return f"m-{len(self.bodies)}"


def _publish_run(
    lake: Lake, run_id: str, started: dt.datetime, correction: dict[str, Any] | None = None
) -> None:
    """What ``classify.run`` keeps of a run of the month: its manifest (naming the run it
    supersedes and its correction) and the published pointer repeating those fields."""
    key = layout.classification_pointer_key(MONTH, "42")
    record = {"run_id": run_id, "supersedes": lake.read_json(key)["run_id"], "correction": correction,
              "month": MONTH, "province": "42", "started_at": started.isoformat()}  # fmt: skip
    lake.write_json(f"{layout.run_prefix(run_id)}/manifest.json", record)
    lake.write_json(key, {**lake.read_json(key), **record})


class Classify:
    """``classify_month`` as the worker calls it: records the call, publishes the run the real
    one would (naming the objection), or fails."""

    def __init__(self, lake: Lake, fail: bool = False, started: dt.datetime = LATE) -> None:
        self.lake, self.fail, self.started = lake, fail, started
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kw: Any) -> Any:
        self.calls.append(kw)
        if self.fail:
            raise RuntimeError("engine down")
        run_id = f"corr-{len(self.calls)}"
        _publish_run(self.lake, run_id, self.started, kw["correction"])
        return types.SimpleNamespace(run_id=run_id)


@pytest.fixture
def lake(local_lake: Lake) -> Lake:
    publish(local_lake, results_table("42", 20, run_id="run-1"), MONTH, "42")
    return local_lake


def _decided(lake: Lake, outcome: str = "upheld") -> str:
    code = str(lake.read_parquet(layout.classification_key(MONTH, "42"))["uscc"][2].as_py())
    req = ObjectionIn(uscc=code, month=MONTH, received_on="2026-09-30", reasons=["R1"])
    oid = service.register(lake, req, API, now=T_REG).objection_id
    sync_overdue_warnings(lake, "42", now=LATE)  # the monthly run raised its overdue warning
    for step in ("accepted", "checked"):
        service.advance(lake, oid, step, API, now=LATE)
    fix = Correction(kind="record", dataset="penalties", record_id="PEN-1", note="revoked on appeal")
    if outcome == "upheld":
        service.advance(lake, oid, "decided", CHIEF, outcome="upheld", correction=fix, now=LATE)
    else:
        service.advance(lake, oid, "decided", CHIEF, outcome="rejected", reason="records stand", now=LATE)
    return oid


def _run(lake: Lake, oid: str, classify: Classify, *, attempt: int = 1, at: dt.datetime = LATE) -> Any:
    return follow_up(lake, FollowUpMessage(objection_id=oid), classify=classify, attempt=attempt,
                     lease=LEASE, now=lambda: at)  # fmt: skip


def _warning_states(lake: Lake) -> list[tuple[str, str]]:
    rows = sorted(store.history(lake, MONTH, "42").to_pylist(), key=lambda h: h["state_at"])
    return [(h["state"], h["state_by"]) for h in rows if h["rule_id"] == RULE_ID]


def test_a_decision_queues_ids_only_and_says_so_in_the_trail(lake: Lake) -> None:
    oid = _decided(lake)
    sent = Sent()
    out = enqueue(lake, service.get(lake, oid), CHIEF, sent)
    assert [json.loads(b) for b in sent.bodies] == [{"v": 1, "objection_id": oid}]  # no name, no code
    assert (out.correction_status, out.trail[-1].step, out.trail[-1].message_id) == (
        "queued",
        "queued",
        "m-1",
    )
    assert out.trail[-1].by == CHIEF


def test_without_a_queue_or_when_sending_fails_the_run_stays_pending(lake: Lake) -> None:
    oid = _decided(lake)

    class Down:
        def send(self, body: str) -> str:
            raise ConnectionError("no route")

    for sender in (None, Down()):
        out = enqueue(lake, service.get(lake, oid), CHIEF, sender)
        assert (out.correction_status, out.trail[-1].step, out.correction_run_id) == (
            "pending",
            "decided",
            None,
        )


def test_the_worker_resolves_the_warning_and_runs_the_correction_once(lake: Lake) -> None:
    oid = _decided(lake)
    enqueue(lake, service.get(lake, oid), CHIEF, Sent())
    assert _warning_states(lake) == [("open", "system")]
    classify = Classify(lake)
    done = _run(lake, oid, classify)
    assert (done["correction"], done["run_id"], done["warnings"]) == (
        "ran",
        "corr-1",
        {"raised": 0, "resolved": 1},
    )
    assert classify.calls == [
        {
            "month": MONTH,
            "province": "42",
            "correction": {"objection_id": oid, "uscc": service.get(lake, oid).uscc},
        }
    ]
    # who: the decider; what: the outcome; when: the worker's clock
    assert _warning_states(lake) == [("open", "system"), ("resolved", "hubei-chief")]
    got = service.get(lake, oid)
    assert (got.correction_status, got.correction_run_id) == ("done", "corr-1")
    assert [e.step for e in got.trail[4:]] == ["queued", "correction_started", "corrected"]
    assert got.trail[-1].by.kind == "system"
    # a duplicate delivery (at least once) starts nothing and changes nothing
    before = {f.key: lake.read_bytes(f.key) for f in lake.list_files("", include_hidden=True)}
    again = _run(lake, oid, classify, attempt=2)
    assert (again["correction"], again["warnings"]) == ("done", {"raised": 0, "resolved": 0})
    assert len(classify.calls) == 1
    assert {f.key: lake.read_bytes(f.key) for f in lake.list_files("", include_hidden=True)} == before


def test_a_rejected_decision_only_resolves_the_warning(lake: Lake) -> None:
    oid = _decided(lake, "rejected")
    classify = Classify(lake)
    done = _run(lake, oid, classify)
    assert (done["correction"], done["warnings"]["resolved"], classify.calls) == ("none", 1, [])
    assert service.get(lake, oid).correction_status is None


def test_a_failed_run_shows_failed_is_raised_and_a_later_delivery_finishes_it(lake: Lake) -> None:
    oid = _decided(lake)
    with pytest.raises(RuntimeError, match="engine down"):
        _run(lake, oid, Classify(lake, fail=True))
    got = service.get(lake, oid)
    assert (got.correction_status, got.trail[-1].step, got.trail[-1].error) == (
        "failed",
        "correction_failed",
        "RuntimeError",
    )
    assert _warning_states(lake)[-1] == ("resolved", "hubei-chief")  # done before the run
    done = _run(lake, oid, Classify(lake), attempt=2)  # SQS delivers it again: no lease to wait for
    assert done["correction"] == "ran" and service.get(lake, oid).correction_status == "done"


def test_a_running_claim_holds_a_second_delivery_until_its_lease_ends(lake: Lake) -> None:
    oid = _decided(lake)

    def killed(**kw: Any) -> Any:  # Lambda's timeout ends the worker mid-run: nothing published
        raise SystemExit("timed out")

    with pytest.raises(SystemExit):
        _run(lake, oid, killed)  # type: ignore[arg-type]
    minute = LATE + dt.timedelta(seconds=60)
    assert service.get(lake, oid, now=minute, lease=LEASE).correction_status == "running"
    classify = Classify(lake)
    with pytest.raises(RunInProgress):  # SQS delivers it again: it waits, no second run
        _run(lake, oid, classify, attempt=2, at=minute)
    assert (
        classify.calls == []
        and service.get(lake, oid, now=minute, lease=LEASE).correction_status == "running"
    )
    done = _run(lake, oid, classify, attempt=3, at=LATE + LEASE + dt.timedelta(seconds=1))  # taken over
    assert done["correction"] == "ran" and len(classify.calls) == 1
    starts = [e.attempt for e in service.get(lake, oid).trail if e.step == "correction_started"]
    assert starts == [1, 3]


def test_a_killed_workers_claim_shows_stalled_after_its_lease_with_when_it_was_claimed(lake: Lake) -> None:
    """Nothing is appended when Lambda's timeout kills the worker: the status read knows the lease,
    so GET, the listing and the CLI stop saying ``running`` once the claim is older than it."""
    oid = _decided(lake)
    with pytest.raises(SystemExit):
        _run(lake, oid, lambda **kw: (_ for _ in ()).throw(SystemExit("timed out")))  # type: ignore[arg-type]
    claimed = LATE.isoformat()
    for at, status in ((LATE + LEASE - dt.timedelta(seconds=1), "running"), (LATE + LEASE, "stalled")):
        got = service.get(lake, oid, now=at, lease=LEASE)
        (listed,) = service.list_objections(lake, "42", now=at, lease=LEASE)
        assert (got.correction_status, got.correction_claimed_at) == (status, claimed)
        assert (listed.correction_status, listed.correction_claimed_at) == (status, claimed)
    # a shorter lease (the setting) judges the same claim stalled sooner
    short = service.get(lake, oid, now=LATE + dt.timedelta(seconds=61), lease=dt.timedelta(seconds=60))
    assert short.correction_status == "stalled"
    # the run taken over and done: no claim is shown any more
    _run(lake, oid, Classify(lake), attempt=2, at=LATE + LEASE)
    done = service.get(lake, oid, now=LATE + LEASE, lease=LEASE)
    assert (done.correction_status, done.correction_claimed_at) == ("done", None)


def test_without_a_lease_given_the_setting_is_the_lease(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    """One definition (ADR 0155): the worker, the CLI and the status read all default to
    ``correction_lease_seconds``."""
    from functions.settings import get_settings

    oid = _decided(lake)
    with pytest.raises(SystemExit):
        _run(lake, oid, lambda **kw: (_ for _ in ()).throw(SystemExit("timed out")))  # type: ignore[arg-type]
    at = LATE + dt.timedelta(seconds=120)
    monkeypatch.setenv("CREDITRISK_CORRECTION_LEASE_SECONDS", "100")
    get_settings.cache_clear()
    try:
        assert service.get(lake, oid, now=at).correction_status == "stalled"
        classify = Classify(lake)
        done = follow_up(
            lake, FollowUpMessage(objection_id=oid), classify=classify, attempt=2, now=lambda: at
        )
        assert (done["correction"], len(classify.calls)) == ("ran", 1)
    finally:
        get_settings.cache_clear()


def test_a_run_published_before_the_worker_died_is_recorded_not_repeated(lake: Lake) -> None:
    oid = _decided(lake)
    Classify(lake)(month=MONTH, province="42", correction={"objection_id": oid})  # published, not recorded
    classify = Classify(lake)
    done = _run(lake, oid, classify, at=LATE + LEASE * 2)
    assert (done["correction"], done["run_id"], classify.calls) == ("recorded", "corr-1", [])
    assert service.get(lake, oid).correction_run_id == "corr-1"


def test_a_run_published_then_superseded_before_it_was_recorded_is_recorded_not_repeated(
    lake: Lake,
) -> None:
    """The worker published the correction run and died; a re-run of the month replaced it
    before the next delivery. The pointer no longer names the objection, the run's own manifest
    does: it is recorded, not run a third time (ADR 0155)."""
    oid = _decided(lake)
    Classify(lake, started=LATE + dt.timedelta(seconds=5))(
        month=MONTH, province="42", correction={"objection_id": oid}
    )  # published, not recorded
    _publish_run(lake, "run-2", LATE + dt.timedelta(seconds=600))  # the month re-run since
    _publish_run(lake, "run-3", LATE + dt.timedelta(seconds=700))
    classify = Classify(lake)
    done = _run(lake, oid, classify, at=LATE + LEASE * 2)
    assert (done["correction"], done["run_id"], classify.calls) == ("recorded", "corr-1", [])
    assert service.get(lake, oid).correction_run_id == "corr-1"


def test_the_walk_back_stops_at_a_run_older_than_the_decision(lake: Lake) -> None:
    """A run of the month started before the decision cannot be its correction: the walk stops
    there (the chain is not read to its start) and the correction runs."""
    oid = _decided(lake)
    _publish_run(lake, "run-2", LATE - dt.timedelta(days=1))
    _publish_run(lake, "run-3", LATE + dt.timedelta(seconds=60))
    lake.write_json(f"{layout.run_prefix('run-1')}/manifest.json",  # would be found past the bound
                    {"run_id": "run-1", "supersedes": None, "correction": {"objection_id": oid}})  # fmt: skip
    classify = Classify(lake)
    done = _run(lake, oid, classify, at=LATE + LEASE * 2)
    assert (done["correction"], done["run_id"], len(classify.calls)) == ("ran", "corr-1", 1)


def test_an_undecided_objection_keeps_its_message(lake: Lake) -> None:
    code = str(lake.read_parquet(layout.classification_key(MONTH, "42"))["uscc"][5].as_py())
    req = ObjectionIn(uscc=code, month=MONTH, received_on="2026-09-30", reasons=["R1"])
    oid = service.register(lake, req, API, now=T_REG).objection_id
    with pytest.raises(Exception, match="not decided"):
        _run(lake, oid, Classify(lake))


def test_the_recorded_sqs_event_gives_the_message_and_its_delivery_count() -> None:
    event = json.loads(FIXTURE.read_text())
    event["Records"][0]["body"] = json.dumps({"v": 1, "objection_id": "42-0123456789abcdef"})
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "3"
    (d,) = deliveries(event)
    assert (d.message.objection_id, d.attempt, d.message_id) == (
        "42-0123456789abcdef",
        3,
        "2e1424d4-f796-459a-8184-9c92662be6da",
    )
    for body in (
        "BODY",
        json.dumps({"objection_id": "42-x"}),
        json.dumps({"objection_id": "42-0123456789abcdef", "uscc": "x"}),
    ):
        event["Records"][0]["body"] = body
        with pytest.raises(InvalidInput, match="not an objection follow-up"):
            deliveries(event)


def test_the_cli_correction_run_respects_the_workers_claim(lake: Lake) -> None:
    """`creditrisk objection reclassify` claims through the same step: it does not start a second
    run beside a running worker, and takes over a dead worker's claim after the lease."""
    oid = _decided(lake)

    def killed(**kw: Any) -> Any:
        raise SystemExit("timed out")

    with pytest.raises(SystemExit):
        _run(lake, oid, killed)  # type: ignore[arg-type]
    operator = Actor(kind="operator", id="wang", name="wang")
    classify = Classify(lake)
    with pytest.raises(RunInProgress, match="correction worker"):
        service.reclassify(lake, oid, operator, classify=classify, now=LATE + dt.timedelta(seconds=60))
    assert classify.calls == []
    out = service.reclassify(lake, oid, operator, classify=classify, now=LATE + LEASE * 2)
    assert (out.correction_status, out.correction_run_id, len(classify.calls)) == ("done", "corr-1", 1)
    assert [(e.step, e.by.name) for e in out.trail[-2:]] == [
        ("correction_started", "wang"),
        ("corrected", "wang"),
    ]


def test_a_worker_faster_than_the_queued_step_does_not_fail_the_decision(lake: Lake) -> None:
    """SQS may hand the message to the worker before the API appends ``queued``: the API's
    append then loses the step number, and the decision still answers (the run shows running)."""
    oid = _decided(lake)
    decided = service.get(lake, oid)

    class Fast:
        def send(self, body: str) -> str:
            with pytest.raises(SystemExit):  # the worker claims the run, then is still running
                _run(lake, oid, lambda **kw: (_ for _ in ()).throw(SystemExit("busy")),  # type: ignore[arg-type]
                     at=dt.datetime.now(dt.UTC))  # fmt: skip
            return "m-fast"

    out = enqueue(lake, decided, CHIEF, Fast())
    assert (out.correction_status, out.trail[-1].step) == ("running", "correction_started")
    assert "queued" not in [e.step for e in out.trail]
