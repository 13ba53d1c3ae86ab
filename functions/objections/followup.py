"""What follows a decision made through the API, done by a worker (issue 14, docs/adr/0144).

The API records the decision and queues a message naming only the objection; the worker (the
``corrections`` function, with the role that classifies and writes warnings) resolves the
objection's overdue warning and, for an upheld one, runs its correction run — the same code path
as ``creditrisk objection reclassify``.

Delivery is at least once, so every step is idempotent and read back from the trail: a
duplicate message finds the warning resolved and ``correction_run_id`` set and does nothing; a
run is claimed by appending ``correction_started`` (created once, so of two workers one wins),
and a claim younger than the lease makes a second delivery wait (it raises, so SQS delivers it
again later) instead of starting a second run; after the lease the claim shows ``stalled`` and is
taken over. A worker that published its run and died before recording it is recognised by the
published pointer or, if another run of the month superseded it since, by its own manifest, which
names the objection: the run is recorded, never repeated. A failed run is appended as
``correction_failed`` (the objection shows ``failed``) and re-raised, so SQS retries and, after
the last attempt, keeps the message in the dead-letter queue.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from functions import layout
from functions.errors import Conflict
from functions.objections import service
from functions.objections.trail import append, now_utc
from schemas.objections import Actor, FollowUpMessage, ObjectionOut

if TYPE_CHECKING:
    from functions.lake import Lake

logger = logging.getLogger(__name__)

WORKER = Actor(kind="system", id="corrections", name="correction worker")


class Sender(Protocol):
    def send(self, body: str) -> str:
        """Queue ``body``; the message id."""
        ...


def enqueue(lake: Lake, decided: ObjectionOut, by: Actor, sender: Sender | None) -> ObjectionOut:
    """Queue the follow-up of a decision and append ``queued`` with the message id.

    Without a queue (a folder lake, ``chalice local``) nothing is queued: an upheld objection
    stays ``pending`` and the authority runs ``creditrisk objection reclassify``, as before."""
    if sender is None:
        if decided.status == "upheld":
            logger.warning(
                "no correction queue configured: objection %s stays pending until "
                "`creditrisk objection reclassify`",
                decided.objection_id,
            )
        return decided
    body = FollowUpMessage(objection_id=decided.objection_id).model_dump_json()
    try:
        message_id = sender.send(body)
    except Exception as exc:  # the decision stands; the objection shows the run as pending
        logger.error(
            "objection %s: follow-up not queued: %s", decided.objection_id, type(exc).__name__, exc_info=exc
        )
        return decided
    event = {"step": "queued", "at": now_utc(), "by": by.model_dump(), "message_id": message_id}
    try:
        append(
            lake, layout.objection_prefix(decided.objection_id), event, expected_seq=len(decided.trail) + 1
        )
    except Conflict:  # the worker was faster and appended its own step: it is under way
        logger.info("objection %s: the worker took message %s at once", decided.objection_id, message_id)
    else:
        logger.info("objection %s: follow-up queued as message %s", decided.objection_id, message_id)
    return service.get(lake, decided.objection_id)


def follow_up(
    lake: Lake,
    message: FollowUpMessage,
    *,
    classify: Callable[..., Any],
    attempt: int = 1,
    lease: dt.timedelta | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> dict[str, Any]:
    """Resolve the decided objection's overdue warning, then run its correction run if upheld and
    not run yet; a summary of what was done (``correction``: ``ran`` | ``recorded`` | ``done`` |
    ``none``). ``lease``: the setting's unless given (ADR 0155)."""
    from functions.objections.overdue import sync_overdue_warnings

    oid = message.objection_id
    state = service.get(lake, oid, now=now(), lease=lease)
    if state.decided_on is None:  # only a decision queues a message: keep it for an operator
        raise Conflict(f"objection {oid} is not decided ({state.status})", field="objection_id")
    decided = next(e for e in state.trail if e.step == "decided")
    warned = sync_overdue_warnings(lake, state.province, now=now(), by=decided.by.name, trigger="decision")
    out: dict[str, Any] = {"objection_id": oid, "status": state.status, "warnings": warned}
    if state.status != "upheld" or state.correction_run_id is not None:
        return {**out, "correction": "done" if state.correction_run_id else "none"}
    # a run already published for it (a runner died before recording it) is recorded, not repeated
    recorded = service.published_correction(lake, state) is not None
    done = service.reclassify(lake, oid, WORKER, classify=classify, now=now(), lease=lease, attempt=attempt)
    logger.info("objection %s: correction run %s recorded", oid, done.correction_run_id)
    return {**out, "correction": "recorded" if recorded else "ran", "run_id": done.correction_run_id}
