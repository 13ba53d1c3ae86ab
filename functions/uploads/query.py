"""A province's ingest reports for the API: listed under ``reports/ingest/<PP>/`` only (never
another province's prefix), oldest first, paged by an opaque cursor, each answer within the
Lambda response limit (docs/adr/0087).

Order is the report object's modification time to the second (S3's precision), then its key. A
report is written once, at the end of its ingest (the commit marker, docs/adr/0010), so later
uploads sort later and a kept cursor finds them. Two reports of the same second may become
visible in either key order, and one may become visible a moment after a listing: the cursor
therefore also carries the ids it has already handed out from its last ``LAG_SECONDS`` seconds,
and a report of those seconds that it has not handed out is still to come. ``since`` compares
``ingested_at``; the listing is narrowed by modification time first (a report is written after
its ingest began) so that old reports are not read at all.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import posixpath
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
LAG_SECONDS = 2  # a report of the last seconds before a listing may show up after it
MAX_SEEN = 40  # ids a cursor remembers (ingest runs at most 5 at a time: far more than a burst)
_ENVELOPE = 1024  # room for the page fields around the uploads


@dataclass(frozen=True, order=True)
class Position:
    """A report's place in the listing: (modification second, key)."""

    second: int
    key: str

    @property
    def ingest_id(self) -> str:
        return posixpath.basename(self.key).removesuffix(".json")


@dataclass(frozen=True)
class Cursor:
    """Where a page ended, and the ids handed out from its last ``LAG_SECONDS`` seconds."""

    last: Position
    seen: frozenset[str]

    def is_new(self, pos: Position) -> bool:
        if pos > self.last:
            return True
        return pos.second >= self.last.second - LAG_SECONDS and pos.ingest_id not in self.seen


def encode_cursor(province: str, cursor: Cursor) -> str:
    doc = [province, cursor.last.second, cursor.last.key, sorted(cursor.seen)]
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, province: str) -> Cursor:
    """The cursor in ``text``; one of another province or a damaged one is a 400."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        prov, second, key, seen = json.loads(raw)
        ok = (
            isinstance(prov, str)
            and isinstance(second, int)
            and isinstance(key, str)
            and isinstance(seen, list)
            and all(isinstance(s, str) for s in seen)
        )
    except (ValueError, TypeError, binascii.Error):
        ok = False
    if not ok:
        raise InvalidInput("cursor is not one this API returned", field="cursor")
    if prov != province:
        raise InvalidInput("cursor belongs to another province's listing", field="cursor")
    return Cursor(Position(second, key), frozenset(seen))


def _ns(iso: str) -> int:
    when = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp()) * 10**9 + when.microsecond * 1000


def _position(f: LakeFile) -> Position:
    return Position((f.mtime_ns or 0) // 10**9, f.key)


def _read(lake: Lake, key: str) -> IngestReport | None:
    try:
        return IngestReport.model_validate(lake.read_json(key))
    except FileNotFoundError:
        return None


def _wire(view: UploadOut) -> int:
    """Bytes of the view inside the Lambda proxy response (JSON-escaped, ASCII-only: an upper
    bound of what the body costs there)."""
    return len(json.dumps(view.model_dump_json()))


def _next_cursor(province: str, before: Cursor | None, examined: list[Position]) -> str | None:
    """The cursor after this page: the furthest position reached (a late report handed out
    now may sort before the previous one) and the ids handed out in its last seconds."""
    if not examined:
        return encode_cursor(province, before) if before is not None else None
    last = max([*examined, before.last]) if before is not None else max(examined)
    recent = sorted((p for p in examined if p.second >= last.second - LAG_SECONDS), reverse=True)
    seen = [p.ingest_id for p in recent]
    if before is not None and before.last.second >= last.second - LAG_SECONDS:
        seen += sorted(before.seen)
    kept = frozenset(dict.fromkeys(seen[:MAX_SEEN]))
    return encode_cursor(province, Cursor(last, kept))


def list_uploads(lake: Lake, query: UploadsQuery, *, max_bytes: int) -> str:
    """One page (JSON text of ``UploadsPage``) of ``query.province``'s uploads, oldest first."""
    province = query.province
    after = decode_cursor(query.cursor, province) if query.cursor else None
    since_ns = _ns(query.since) if query.since else None
    listed = [f for f in lake.list_files(layout.ingest_reports_prefix(province)) if f.key.endswith(".json")]
    if since_ns is not None:
        listed = [f for f in listed if f.mtime_ns is None or f.mtime_ns >= since_ns - SINCE_SLACK_NS]
    todo = sorted((_position(f) for f in listed), key=lambda p: p)
    if after is not None:
        todo = [p for p in todo if after.is_new(p)]
    uploads: list[UploadOut] = []
    examined: list[Position] = []
    budget = max_bytes - _ENVELOPE
    full = False
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        start = 0
        while start < len(todo) and not full:
            batch = todo[start : start + query.limit]
            start += len(batch)
            for pos, report in zip(batch, pool.map(lambda p: _read(lake, p.key), batch), strict=True):
                if report is not None and (since_ns is None or _ns(report.ingested_at) >= since_ns):
                    view = public_view(report)
                    size = _wire(view) + 1
                    if uploads and size > budget:  # one report always fits (its errors are capped)
                        full = True
                        break
                    uploads.append(view)
                    budget -= size
                examined.append(pos)
                if len(uploads) == query.limit:
                    full = True
                    break
    body = {
        "province": province,
        "since": query.since,
        "limit": query.limit,
        "has_more": len(examined) < len(todo),
        "next_cursor": _next_cursor(province, after, examined),
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
