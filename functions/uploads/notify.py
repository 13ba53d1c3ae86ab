"""Telling a province what became of its upload: one event per ingest outcome (docs/adr/0088).

In AWS the ingest function puts the event on the account's EventBridge bus; one rule per
province (matching ``detail.province``) forwards it to that province's SNS topic, which only the
province's uploader role may subscribe to (infra/uploads_notify.py). Locally a JSON-lines file
stands in. The publisher is injected; the event's detail is the public view of the report
(never personal data). A failed notification is logged and returned, never raised: the report
is committed and readable through ``GET /v1/uploads`` whatever happens here.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from functions import layout
from functions.uploads.view import event_detail
from schemas.uploads import EVENT_DETAIL_TYPE, EVENT_SOURCE, UploadEvent

if TYPE_CHECKING:
    import boto3

    from functions.settings import Settings
    from schemas.ingest import IngestReport

logger = logging.getLogger(__name__)

MAX_DETAIL_BYTES = 200_000  # PutEvents allows 256 KB per entry, envelope included


class Publisher(Protocol):
    def publish(self, event: UploadEvent) -> None: ...


class NoopPublisher:
    def publish(self, event: UploadEvent) -> None:
        logger.debug("no upload notification configured; ingest %s not announced", event.ingest_id)


class LocalFilePublisher:
    """Appends the event as EventBridge would deliver it, one JSON line each (local runs)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def publish(self, event: UploadEvent) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = {"source": EVENT_SOURCE, "detail-type": EVENT_DETAIL_TYPE, "detail": detail_json(event)}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")


class EventBridgePublisher:
    """``PutEvents`` on ``bus`` with an injected client (never created at import)."""

    def __init__(self, client: Any, bus: str) -> None:
        self.client = client
        self.bus = bus

    def publish(self, event: UploadEvent) -> None:
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": EVENT_DETAIL_TYPE,
            "Detail": json.dumps(detail_json(event), ensure_ascii=False, separators=(",", ":")),
            "EventBusName": self.bus,
        }
        answer = self.client.put_events(Entries=[entry])
        if answer.get("FailedEntryCount"):
            failed = (answer.get("Entries") or [{}])[0]
            raise RuntimeError(
                f"PutEvents refused the event: {failed.get('ErrorCode')} {failed.get('ErrorMessage')}"
            )


def detail_json(event: UploadEvent) -> dict[str, Any]:
    """The event's detail; a very wide file's errors and header map are cut to fit an event
    (``errors_in_api`` tells the consumer to read them from the API)."""
    detail = event.model_dump(mode="json")
    detail["errors_in_api"] = False
    if len(json.dumps(detail, ensure_ascii=False).encode()) > MAX_DETAIL_BYTES:
        detail.update(errors=detail["errors"][:10], header_mapping={}, ignored_columns=[], errors_in_api=True)
    return detail


def publisher_from_settings(settings: Settings, *, boto3_session: boto3.Session | None = None) -> Publisher:
    """EventBridge when a bus is configured, else a local file when one is, else nothing."""
    if settings.upload_events_bus:
        return EventBridgePublisher(settings.aws_client("events", boto3_session), settings.upload_events_bus)
    if settings.upload_events_file:
        return LocalFilePublisher(settings.upload_events_file)
    return NoopPublisher()


def notify_outcome(report: IngestReport, publisher: Publisher) -> dict[str, Any]:
    """Announce one ingest outcome to its province; ``{"status": "sent" | "skipped" | "failed"}``,
    never raises (the report is already committed)."""
    if report.province not in layout.PROVINCES:
        return {"status": "skipped", "reason": "no such province to tell"}
    try:
        publisher.publish(event_detail(report))
    except Exception as exc:
        logger.error(
            "notification of ingest %s failed: %s", report.ingest_id, type(exc).__name__, exc_info=exc
        )
        return {"status": "failed", "error": type(exc).__name__}
    return {"status": "sent"}
