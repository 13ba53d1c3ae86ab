"""Re-driving the dead-letter queue (issue 12, docs/operations.md).

Lambda puts a failed asynchronous invocation, after its two retries, on the dead-letter queue:
the message body is the original event, the attributes say why (``ErrorCode``,
``ErrorMessage``, ``RequestID``). Uploads (S3 → EventBridge "Object Created", or an S3
notification) are re-driven by ingesting the landed object again, which is idempotent
(``ingest_id`` = digest of key and content: a re-delivery writes nothing). A message is
deleted only after its re-drive succeeded; a failed one stays for the next attempt.

A monthly run's scheduled event is re-driven only when asked (``include_monthly``): it runs
the month again for every province, which is as safe as the schedule's own run (a new
run_id per province, superseding the published one) but long.

``parse`` is pure; ``Queue`` is the thin SQS adapter; ``redrive`` ties them with injected
actions, so tests run on moto SQS and on fakes alike.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_plus

from functions.obs.context import log_context

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receipt_handle: str
    body: str
    error: str | None = None  # the ``ErrorMessage`` attribute Lambda adds (first 1 KB)


@dataclass(frozen=True)
class Upload:
    """One landed object to ingest again: candidate keys in the order the handler tries them."""

    candidates: tuple[str, ...]
    etag: str | None = None
    version_id: str | None = None


@dataclass(frozen=True)
class Monthly:
    """A failed scheduled monthly run, for the month it was classifying."""

    month: str


@dataclass(frozen=True)
class Unknown:
    reason: str


Work = list[Upload] | Monthly | Unknown


def parse(body: str, *, tz: str) -> Work:
    """What a dead letter asks to redo, from the original event (no I/O)."""
    try:
        event = json.loads(body)
    except ValueError:
        return Unknown("the message body is not JSON")
    if not isinstance(event, dict):
        return Unknown("the message body is not a JSON object")
    if event.get("source") == "aws.s3" and event.get("detail-type") == "Object Created":
        from schemas.events import S3ObjectCreatedEvent

        obj = S3ObjectCreatedEvent.model_validate(event).detail.object
        keys = tuple(dict.fromkeys([unquote_plus(obj.key), obj.key]))
        return [Upload(keys, etag=obj.etag, version_id=obj.version_id)]
    if event.get("Records"):
        from schemas.ingest import S3ObjectRecord

        return [
            Upload((r.key,), etag=r.etag, version_id=r.version_id) for r in S3ObjectRecord.from_event(event)
        ]
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        import datetime as dt

        from functions.classify.run import previous_month_in

        try:
            fired = dt.datetime.fromisoformat(str(event.get("time", "")).replace("Z", "+00:00"))
        except ValueError:
            return Unknown(f"scheduled event with an unreadable time {event.get('time')!r}")
        return Monthly(previous_month_in(fired, tz))
    return Unknown(f"not an upload or a scheduled event (source {event.get('source')!r})")


class Queue:
    """The dead-letter queue through an SQS client (boto3, made by the caller)."""

    def __init__(self, sqs: Any, url: str, *, visibility_seconds: int = 900) -> None:
        self.sqs, self.url, self.visibility = sqs, url, visibility_seconds

    def receive(self) -> list[DeadLetter]:
        """Up to 10 messages, hidden from other readers for ``visibility_seconds``."""
        got = self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=self.visibility,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
        )
        return [
            DeadLetter(
                m["MessageId"],
                m["ReceiptHandle"],
                m["Body"],
                (m.get("MessageAttributes", {}).get("ErrorMessage") or {}).get("StringValue"),
            )
            for m in got.get("Messages", [])
        ]

    def delete(self, letter: DeadLetter) -> None:
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=letter.receipt_handle)

    def release(self, letter: DeadLetter) -> None:
        """Visible again at once: a dry run changes nothing, a failure can be retried now."""
        self.sqs.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=letter.receipt_handle, VisibilityTimeout=0
        )


Outcome = Literal["redriven", "would_redrive", "failed", "left"]


@dataclass
class Result:
    message_id: str
    outcome: Outcome
    what: str
    detail: str = ""


@dataclass
class Actions:
    """What a re-drive does per kind of work (injected: the CLI passes the real domain calls)."""

    ingest: Callable[[Upload], str]
    monthly: Callable[[Monthly], str] | None = None  # None: monthly runs are left in the queue


def _letters(queue: Queue) -> Iterator[DeadLetter]:
    """Every message once: received ones stay hidden for this pass (deleted or not)."""
    seen: set[str] = set()
    while True:
        batch = [m for m in queue.receive() if m.message_id not in seen]
        if not batch:
            return
        for letter in batch:
            seen.add(letter.message_id)
            yield letter


def redrive(queue: Queue, actions: Actions, *, tz: str, dry_run: bool = False) -> list[Result]:
    """Re-drive every message of ``queue``; delete each only after its work succeeded."""
    results: list[Result] = []
    held: list[DeadLetter] = []
    for letter in _letters(queue):
        work = parse(letter.body, tz=tz)
        with log_context(redrive_id=letter.message_id):
            result = _one(letter, work, actions, dry_run)
        results.append(result)
        if result.outcome == "redriven":
            queue.delete(letter)
        else:
            held.append(letter)
    for letter in held:  # visible again for the next attempt (or for the operator)
        queue.release(letter)
    return results


def _describe(work: Work) -> str:
    if isinstance(work, list):
        return "upload " + ", ".join(u.candidates[0] for u in work)
    if isinstance(work, Monthly):
        return f"monthly run {work.month}"
    return f"unknown message: {work.reason}"


def _one(letter: DeadLetter, work: Work, actions: Actions, dry_run: bool) -> Result:
    what = _describe(work)
    if isinstance(work, Unknown):
        return Result(letter.message_id, "left", what, "not re-driven; inspect and delete it by hand")
    if isinstance(work, Monthly) and actions.monthly is None:
        return Result(
            letter.message_id,
            "left",
            what,
            f"re-run with `creditrisk classify --month {work.month} --follow-ups` or `dlq redrive "
            "--include-monthly`",
        )
    if dry_run:
        return Result(letter.message_id, "would_redrive", what, letter.error or "")
    try:
        if isinstance(work, Monthly):
            assert actions.monthly is not None
            detail = actions.monthly(work)
        else:
            detail = "; ".join(actions.ingest(upload) for upload in work)
    except Exception as exc:  # kept in the queue for the next attempt; say why
        logger.error("re-drive of %s failed: %s", letter.message_id, type(exc).__name__, exc_info=exc)
        return Result(letter.message_id, "failed", what, f"{type(exc).__name__}: {exc}"[:500])
    return Result(letter.message_id, "redriven", what, detail)
