"""A province's ingest reports for the API: listed under ``reports/ingest/<PP>/`` only (never
another province's prefix), oldest first, paged by an opaque cursor, each answer within the
Lambda response limit (docs/adr/0087).

Order is the report object's modification time, then its key: a report is written once, at the
end of its ingest (the commit marker, docs/adr/0010), so uploads that arrive later sort later and
a kept cursor finds them. ``since`` compares ``ingested_at``; the listing is narrowed by
modification time first (a report is written after its ingest began) so that old reports are
not read at all.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from functions import layout
from functions.errors import InvalidInput, NotFound
from functions.uploads.view import public_view
from schemas.ingest import IngestReport
from schemas.uploads import UploadOut

if TYPE_CHECKING:
    from functions.lake import Lake, LakeFile
    from schemas.uploads import UploadQuery, UploadsQuery

logger = logging.getLogger(__name__)

READERS = 8  # report objects read in parallel (S3 GETs are latency-bound)
SINCE_SLACK_NS = 15 * 60 * 10**9  # an ingest may take this long before its report is written
_ENVELOPE = 1024  # room for the page fields around the uploads


@dataclass(frozen=True, order=True)
class Position:
    """Where a page ended: (modification time, key) of the last report looked at."""

    mtime_ns: int
    key: str


def encode_cursor(province: str, pos: Position) -> str:
    raw = json.dumps([province, pos.mtime_ns, pos.key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, province: str) -> Position:
    """The position in ``cursor``; a cursor of another query or a damaged one is a 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        prov, mtime_ns, key = json.loads(raw)
        ok = isinstance(mtime_ns, int) and isinstance(key, str) and isinstance(prov, str)
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise InvalidInput("cursor is not one this API returned", field="cursor")
    if prov != province:
        raise InvalidInput("cursor belongs to another province's listing", field="cursor")
    return Position(mtime_ns, key)


def _ns(iso: str) -> int:
    when = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp()) * 10**9 + when.microsecond * 1000


def _position(f: LakeFile) -> Position:
    return Position(f.mtime_ns or 0, f.key)


def _read(lake: Lake, key: str) -> IngestReport | None:
    try:
        return IngestReport.model_validate(lake.read_json(key))
    except FileNotFoundError:
        return None


def _wire(view: UploadOut) -> int:
    """Bytes of the view inside the Lambda proxy response (JSON-escaped, ASCII-only: an upper
    bound of what the body costs there)."""
    return len(json.dumps(view.model_dump_json()))


def list_uploads(lake: Lake, query: UploadsQuery, *, max_bytes: int) -> str:
    """One page (JSON text of ``UploadsPage``) of ``query.province``'s uploads, oldest first."""
    province = query.province
    after = decode_cursor(query.cursor, province) if query.cursor else None
    since_ns = _ns(query.since) if query.since else None
    files = [f for f in lake.list_files(layout.ingest_reports_prefix(province)) if f.key.endswith(".json")]
    files.sort(key=_position)
    if after is not None:
        files = [f for f in files if _position(f) > after]
    if since_ns is not None:
        files = [f for f in files if f.mtime_ns is None or f.mtime_ns >= since_ns - SINCE_SLACK_NS]
    uploads: list[UploadOut] = []
    last = after
    budget = max_bytes - _ENVELOPE
    full = False
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        start = 0
        while start < len(files) and not full:
            batch = files[start : start + query.limit]
            start += len(batch)
            for f, report in zip(batch, pool.map(lambda f: _read(lake, f.key), batch), strict=True):
                if report is not None and (since_ns is None or _ns(report.ingested_at) >= since_ns):
                    view = public_view(report)
                    size = _wire(view) + 1
                    if uploads and size > budget:  # one report always fits (its errors are capped)
                        full = True
                        break
                    uploads.append(view)
                    budget -= size
                last = _position(f)
                if len(uploads) == query.limit:
                    full = True
                    break
    more = last is not None and any(_position(f) > last for f in files)
    body = {
        "province": province,
        "since": query.since,
        "limit": query.limit,
        "has_more": more,
        "next_cursor": encode_cursor(province, last) if last is not None else None,
        "uploads": [u.model_dump(mode="json") for u in uploads],
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def find_upload(lake: Lake, query: UploadQuery, provinces: frozenset[str]) -> UploadOut:
    """The upload ``query.ingest_id`` among ``provinces`` (the caller's, already narrowed to
    ``query.province`` when given). Not found and not the caller's look the same: 404."""
    keys = [
        layout.ingest_report_key(p, dataset, query.ingest_id)
        for p in sorted(provinces)
        for dataset in lake.list_dirs(layout.ingest_reports_prefix(p))
    ]
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        found = [k for k, hit in zip(keys, pool.map(lake.exists, keys), strict=True) if hit]
    for key in found:
        report = _read(lake, key)
        if report is not None:
            return public_view(report)
    raise NotFound(f"no upload {query.ingest_id} in your provinces", field="ingest_id")
