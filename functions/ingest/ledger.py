"""A cheap "already ingested" ledger so ``--pending`` never re-reads landed objects.

One small JSON marker per landed object version, named by a digest of (landing root, key,
size, mtime): ``--pending`` lists the ledger prefix once and compares names (docs/adr/0013).
The ingest report stays the commit marker; the ledger is only a cache and may be lost.
"""

from __future__ import annotations

import hashlib
import posixpath

from functions import layout
from functions.lake import Lake, LakeFile


def token(landing: Lake, f: LakeFile) -> str:
    raw = f"{landing.uri}\n{f.key}\n{f.size}\n{f.mtime_ns or 0}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def done_tokens(lake: Lake) -> set[str]:
    files = lake.list_files(layout.INGEST_LEDGER_PREFIX, include_hidden=True)
    return {posixpath.basename(f.key)[: -len(".json")] for f in files if f.key.endswith(".json")}


def record(lake: Lake, landing: Lake, f: LakeFile, *, ingest_id: str, status: str) -> None:
    key = layout.ingest_ledger_key(token(landing, f))
    if not lake.exists(key):
        lake.write_json(key, {"key": f.key, "size": f.size, "ingest_id": ingest_id, "status": status})
