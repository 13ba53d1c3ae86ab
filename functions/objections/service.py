"""Objections (异议处理): registered, accepted, checked and decided within 5 working days of
receipt, every step appended to the objection's audit trail (issue 14, docs/adr/0112).

An upheld objection records its correction (a new upload, or a record kept here) and the entity's
province is re-classified for that month as a *correction run*: a new run whose manifest names
the objection, published like any re-run (the earlier run is kept and named by ``supersedes``);
the published partition is never edited in place.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from functions import layout
from functions import uscc as uscc_mod
from functions.errors import Conflict, InvalidInput, NotFound, RunInProgress
from functions.objections.trail import append, now_utc, read_trail
from functions.objections.workdays import add_working_days
from schemas.objections import Actor, Correction, ObjectionIn, ObjectionOut

if TYPE_CHECKING:
    from functions.lake import Lake

logger = logging.getLogger(__name__)

# which step may follow which (the rules' order: received → accepted → checked → decided)
NEXT: dict[str, str] = {"received": "accepted", "accepted": "checked", "checked": "decided"}
# steps after the decision and the correction status each leaves (docs/adr/0144)
CORRECTION_STEPS: dict[str, str] = {
    "queued": "queued",
    "correction_started": "running",
    "correction_failed": "failed",
    "corrected": "done",
}
CN = ZoneInfo("Asia/Shanghai")


def today_in_china(now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(dt.UTC)).astimezone(CN).date()


def _lease(lease: dt.timedelta | None) -> dt.timedelta:
    """How long a claim holds the run: the caller's, else the one setting (ADR 0155)."""
    if lease is not None:
        return lease
    from functions.settings import get_settings

    return get_settings().correction_lease


def register(lake: Lake, req: ObjectionIn, by: Actor, *, now: dt.datetime | None = None) -> ObjectionOut:
    """Record a received objection; its deadline is fixed now, from the day of receipt."""
    code = req.uscc.upper()
    if not uscc_mod.is_well_formed(code):
        raise InvalidInput(f"not a Unified Social Credit Code: {req.uscc!r}", field="uscc")
    received = dt.date.fromisoformat(req.received_on)
    if received > today_in_china(now):
        raise InvalidInput("received_on is in the future", field="received_on")
    province = code[2:4]
    if not lake.exists(layout.classification_key(req.month, province)):
        raise NotFound(f"no published classification for province {province} in {req.month}", field="month")
    deadline = add_working_days(received)
    objection_id = f"{province}-{secrets.token_hex(8)}"
    data = {
        **req.model_dump(mode="json"),
        "uscc": code,
        "due_on": deadline.due.isoformat(),
        "calendar_official": deadline.official,
    }
    event = {"step": "received", "at": _at(now), "by": by.model_dump(), "data": data}
    append(lake, layout.objection_prefix(objection_id), event, expected_seq=1)
    logger.info("objection %s registered, due %s", objection_id, deadline.due)
    return get(lake, objection_id, now=now)


def advance(
    lake: Lake,
    objection_id: str,
    step: str,
    by: Actor,
    *,
    outcome: str | None = None,
    reason: str | None = None,
    correction: Correction | None = None,
    now: dt.datetime | None = None,
) -> ObjectionOut:
    """Append the next step. ``decided`` needs an outcome: ``upheld`` with the correction, or
    ``rejected`` with a reason."""
    trail = _trail(lake, objection_id)
    last = trail[-1]["step"]
    if step not in NEXT.values():
        raise InvalidInput(f"step must be one of {', '.join(NEXT.values())}", field="step")
    if NEXT.get(last) != step:
        raise Conflict(
            f"objection {objection_id} is at step {last}; the next step is {NEXT.get(last, 'none')}",
            field="step",
        )
    event: dict[str, Any] = {"step": step, "at": _at(now), "by": by.model_dump()}
    if reason is not None:
        event["reason"] = reason
    if step == "decided":
        if outcome == "upheld":
            if correction is None:
                raise InvalidInput("an upheld objection records its correction", field="correction")
            if correction.kind == "upload":
                _check_upload(lake, objection_id[:2], str(correction.ingest_id))
            event["correction"] = correction.model_dump(mode="json", exclude_none=True)
        elif outcome == "rejected":
            if not reason:
                raise InvalidInput("a rejection gives its reason", field="reason")
        else:
            raise InvalidInput("outcome must be upheld or rejected", field="outcome")
        event["outcome"] = outcome
    elif outcome is not None or correction is not None:
        raise InvalidInput("only the decision has an outcome or a correction", field="outcome")
    append(lake, layout.objection_prefix(objection_id), event, expected_seq=len(trail) + 1)
    return get(lake, objection_id, now=now)


def record_correction_run(
    lake: Lake, objection_id: str, run_id: str, by: Actor, *, now: dt.datetime | None = None
) -> ObjectionOut:
    """Append the correction run that re-classified the month after an upheld decision."""
    trail = _trail(lake, objection_id)
    state = fold(objection_id, trail, now or dt.datetime.now(dt.UTC), _lease(None))
    if state.status != "upheld" or state.correction_run_id is not None:
        raise Conflict("only an upheld objection without a correction run gets one", field="objection_id")
    event = {"step": "corrected", "at": _at(now), "by": by.model_dump(), "run_id": run_id}
    append(lake, layout.objection_prefix(objection_id), event, expected_seq=len(trail) + 1)
    return get(lake, objection_id, now=now)


def reclassify(
    lake: Lake,
    objection_id: str,
    by: Actor,
    *,
    classify: Callable[..., Any],
    now: dt.datetime | None = None,
    lease: dt.timedelta | None = None,
    attempt: int | None = None,
) -> ObjectionOut:
    """Re-classify an upheld objection's month as a correction run and record it.

    ``classify`` is ``functions.classify.run.classify_month`` with its settings bound (injected so
    that tests and the CLI choose the engine); it is called with ``correction=`` naming the
    objection, which the run's manifest keeps. The CLI and the corrections worker (ADR 0144) both
    come here: the run is claimed first (``correction_started``, created once), a claim younger
    than ``lease`` (default: the setting) is another runner's (``RunInProgress``), a failure is appended
    (``correction_failed``) and re-raised, and a run already published for the objection by a
    runner that stopped before recording it is recorded, not repeated."""
    at, lease = now or dt.datetime.now(dt.UTC), _lease(lease)
    state = get(lake, objection_id, now=at, lease=lease)
    if state.status != "upheld":
        raise Conflict(f"objection {objection_id} is {state.status}, not upheld", field="objection_id")
    if state.correction_run_id is not None:
        raise Conflict(f"objection {objection_id} already has correction run {state.correction_run_id}")
    published = published_correction(lake, state)
    if published is not None:
        return record_correction_run(lake, objection_id, published, by, now=at)
    _claim(lake, state, by, attempt, lease, at)
    try:
        result = classify(
            month=state.month,
            province=state.province,
            correction={"objection_id": objection_id, "uscc": state.uscc},
        )
    except Exception as exc:
        logger.error(
            "objection %s: correction run failed: %s", objection_id, type(exc).__name__, exc_info=exc
        )
        failed = {"step": "correction_failed", "at": _at(now), "by": by.model_dump(),
                  "error": type(exc).__name__[:200], **({"attempt": attempt} if attempt else {})}  # fmt: skip
        prefix = layout.objection_prefix(objection_id)
        append(lake, prefix, failed, expected_seq=len(read_trail(lake, prefix)) + 1)
        raise
    return record_correction_run(lake, objection_id, result.run_id, by, now=now)


def published_correction(lake: Lake, state: ObjectionOut) -> str | None:
    """This objection's correction run if a runner published it and stopped before recording it.

    It is the published run, or one a later run of the month superseded before it was recorded
    (ADR 0155): the published pointer, then each run's own manifest, name their correction and
    the run they replaced, so the ``supersedes`` chain is walked back until a run started before
    the decision (no correction run of it can be older)."""
    key = layout.classification_pointer_key(state.month, state.province)
    if not lake.exists(key):
        return None
    record: dict[str, Any] = lake.read_json(key)  # the pointer repeats its run's manifest fields
    decided = dt.datetime.fromisoformat(next(e.at for e in state.trail if e.step == "decided"))
    seen: set[str] = set()
    while record.get("run_id") and str(record["run_id"]) not in seen:
        run_id = str(record["run_id"])
        seen.add(run_id)
        if (record.get("correction") or {}).get("objection_id") == state.objection_id:
            return run_id
        started = record.get("started_at")
        if started and dt.datetime.fromisoformat(started) < decided:
            return None
        previous = record.get("supersedes")
        manifest = f"{layout.run_prefix(str(previous))}/manifest.json" if previous else None
        if manifest is None or not lake.exists(manifest):
            return None
        record = lake.read_json(manifest)
    return None


def _claim(
    lake: Lake, state: ObjectionOut, by: Actor, attempt: int | None, lease: dt.timedelta, now: dt.datetime
) -> None:
    """Append ``correction_started``, unless a claim younger than the lease holds the run (then
    retry later); ``state`` was folded at ``now`` with ``lease``, so ``running`` means exactly
    that, and a ``stalled`` claim is a dead runner's, taken over."""
    if state.correction_status == "running" and state.correction_claimed_at is not None:
        started = [e for e in state.trail if e.step == "correction_started"][-1]
        since = now - dt.datetime.fromisoformat(state.correction_claimed_at)
        raise RunInProgress(
            f"objection {state.objection_id}: a correction run started {int(since.total_seconds())} s "
            f"ago by {started.by.name} (lease {int(lease.total_seconds())} s); try again later"
        )
    event = {"step": "correction_started", "at": now.astimezone(dt.UTC).isoformat(timespec="seconds"),
             "by": by.model_dump(), **({"attempt": attempt} if attempt else {})}  # fmt: skip
    try:
        append(lake, layout.objection_prefix(state.objection_id), event, expected_seq=len(state.trail) + 1)
    except Conflict as exc:  # another runner claimed it in between
        raise RunInProgress(f"objection {state.objection_id}: claimed by another runner") from exc


def get(
    lake: Lake, objection_id: str, *, now: dt.datetime | None = None, lease: dt.timedelta | None = None
) -> ObjectionOut:
    """The objection as of ``now``; a claimed run is ``running`` only within ``lease`` (default:
    the setting), ``stalled`` after it."""
    return fold(objection_id, _trail(lake, objection_id), now or dt.datetime.now(dt.UTC), _lease(lease))


def list_objections(
    lake: Lake,
    province: str,
    *,
    month: str | None = None,
    overdue_only: bool = False,
    now: dt.datetime | None = None,
    lease: dt.timedelta | None = None,
) -> list[ObjectionOut]:
    """A province's objections (oldest receipt first); ``month`` narrows to the classification
    month disputed. Objections are few (hand-handled), so each trail is read."""
    at, lease = now or dt.datetime.now(dt.UTC), _lease(lease)
    out = []
    for oid in lake.list_dirs(layout.objections_prefix(province)):
        if not layout.OBJECTION_ID_RE.match(oid):
            continue
        trail = read_trail(lake, layout.objection_prefix(oid))
        if not trail:
            continue
        state = fold(oid, trail, at, lease)
        if month is not None and state.month != month:
            continue
        if overdue_only and not state.overdue:
            continue
        out.append(state)
    out.sort(key=lambda o: (o.received_on, o.objection_id))
    overdue = [o.objection_id for o in out if o.overdue and o.status not in ("upheld", "rejected")]
    if overdue:
        logger.warning(
            "province %s: %s objection(s) past their 5-working-day deadline", province, len(overdue)
        )
    return out


def fold(
    objection_id: str, trail: list[dict[str, Any]], now: dt.datetime, lease: dt.timedelta
) -> ObjectionOut:
    """The objection's state at ``now`` from its steps (a duplicate step number keeps the first).

    The trail cannot say that a worker was killed (its timeout ends it mid-run, with no step),
    so a claim older than ``lease`` is shown ``stalled``: the next delivery or ``objection
    reclassify`` takes it over (ADR 0155)."""
    seen: set[int] = set()
    steps = []
    for e in trail:
        if e["seq"] not in seen:
            seen.add(e["seq"])
            steps.append(e)
    data = steps[0]["data"]
    status, decided_on, run_id = "received", None, None
    correction: str | None = None
    claimed_at: str | None = None
    for e in steps[1:]:
        if e["step"] == "decided":
            status = e["outcome"]
            decided_on = dt.datetime.fromisoformat(e["at"]).astimezone(CN).date().isoformat()
            correction = "pending" if status == "upheld" else None
        elif e["step"] in CORRECTION_STEPS:
            if correction not in (None, "done"):  # a late step never reopens a finished run
                correction = CORRECTION_STEPS[e["step"]]
            if e["step"] == "corrected":
                run_id = e["run_id"]
            elif e["step"] == "correction_started":
                claimed_at = e["at"]
        else:
            status = e["step"]
    if correction == "running" and claimed_at and now - dt.datetime.fromisoformat(claimed_at) >= lease:
        correction = "stalled"
    if correction not in ("running", "stalled"):
        claimed_at = None
    today = today_in_china(now)
    due = dt.date.fromisoformat(data["due_on"])
    overdue = (decided_on is None and today > due) or (
        decided_on is not None and dt.date.fromisoformat(decided_on) > due
    )
    return ObjectionOut.model_validate(
        {
            "objection_id": objection_id,
            "province": objection_id[:2],
            "uscc": data["uscc"],
            "month": data["month"],
            "received_on": data["received_on"],
            "due_on": data["due_on"],
            "calendar_official": data["calendar_official"],
            "status": status,
            "overdue": overdue,
            "decided_on": decided_on,
            "correction_run_id": run_id,
            "correction_status": correction,
            "correction_claimed_at": claimed_at,
            "trail": steps,
        },
        strict=False,
    )


def _trail(lake: Lake, objection_id: str) -> list[dict[str, Any]]:
    if not layout.OBJECTION_ID_RE.match(objection_id):
        raise InvalidInput("an objection id is PP-<16 hex digits>", field="objection_id")
    trail = read_trail(lake, layout.objection_prefix(objection_id))
    if not trail:
        raise NotFound(f"no objection {objection_id}", field="objection_id")
    return trail


def _check_upload(lake: Lake, province: str, ingest_id: str) -> None:
    for dataset in lake.list_dirs(layout.ingest_reports_prefix(province)):
        if lake.exists(layout.ingest_report_key(province, dataset, ingest_id)):
            return
    raise NotFound(f"no upload {ingest_id} in province {province}", field="correction.ingest_id")


def _at(now: dt.datetime | None) -> str:
    return now.astimezone(dt.UTC).isoformat(timespec="seconds") if now else now_utc()
