"""One landed object named by a trigger event, ingested: the domain call behind the upload
handler and the dead-letter re-drive (``functions.redrive``), so both treat a missing object
and a refused one the same way."""

from __future__ import annotations

import logging

from functions.errors import NotFound, StorageAccessDenied
from functions.ingest.pipeline import ingest_object
from functions.lake import Lake
from functions.obs.context import log_context
from functions.settings import Settings
from schemas.ingest import IngestReport

logger = logging.getLogger(__name__)


def ingest_landed(
    lake: Lake,
    landing: Lake,
    candidates: list[str],
    *,
    etag: str | None,
    version_id: str | None,
    settings: Settings,
) -> IngestReport | None:
    """Ingest the first candidate key (bucket-relative, e.g. decoded and as given) that exists.

    None when none exists (S3 404: deleted or overwritten since; nothing to retry). A refused
    read (S3 403, e.g. the role lacks ``s3:ListBucket``) is logged and re-raised: it is not
    "gone", and the retry (Lambda's, then the DLQ's re-drive) must see it."""
    for raw in candidates:
        key = raw.removeprefix(settings.landing_prefix)
        with log_context(source_key=key):
            try:
                return ingest_object(lake, landing, key, etag=etag, version_id=version_id, settings=settings)
            except NotFound:
                continue
            except StorageAccessDenied as exc:
                logger.error("landed object %s cannot be read: %s", key, exc.message)
                raise
    return None
