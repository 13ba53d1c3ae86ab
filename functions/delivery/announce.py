"""Announcing a province's monthly export (docs/adr/0122): one event whose detail is the export's
manifest, on the account's EventBridge bus in AWS (source ``creditrisk.delivery``; one rule per
province forwards it to the topic only that province's platform role may subscribe to,
infra/delivery.py), a JSON-lines file locally. Never raises: the export is written and its
manifest readable whatever happens here; a failure is logged and returned.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemas.delivery import EXPORT_EVENT_DETAIL_TYPE, EXPORT_EVENT_SOURCE, ExportManifest

if TYPE_CHECKING:
    from functions.settings import Settings

logger = logging.getLogger(__name__)


def entry(manifest: ExportManifest, bus: str) -> dict[str, Any]:
    """The ``PutEvents`` entry (the rule matches ``detail.province``)."""
    return {
        "Source": EXPORT_EVENT_SOURCE,
        "DetailType": EXPORT_EVENT_DETAIL_TYPE,
        "Detail": json.dumps(manifest.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")),
        "EventBusName": bus,
    }


def announce(manifest: ExportManifest, settings: Settings, *, client: Any = None) -> str | None:
    """Tell the province's platform; ``None`` when told (or nothing configured), else the error."""
    try:
        if settings.delivery_events_bus:
            events = client or settings.aws_client("events")
            answer = events.put_events(Entries=[entry(manifest, settings.delivery_events_bus)])
            if answer.get("FailedEntryCount"):
                failed = (answer.get("Entries") or [{}])[0]
                raise RuntimeError(
                    f"PutEvents refused: {failed.get('ErrorCode')} {failed.get('ErrorMessage')}"
                )
        elif settings.delivery_events_file:
            path = Path(settings.delivery_events_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            line = {"source": EXPORT_EVENT_SOURCE, "detail-type": EXPORT_EVENT_DETAIL_TYPE,
                    "detail": manifest.model_dump(mode="json")}  # fmt: skip
            with path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        else:
            logger.debug("no delivery announcement configured for %s/%s", manifest.province, manifest.month)
    except Exception as exc:  # the export stands; the platform can still poll the manifest
        logger.error("announcing the %s/%s export failed: %s", manifest.province, manifest.month,
                     type(exc).__name__)  # fmt: skip
        return f"{type(exc).__name__}: {exc}"[:500]
    return None
