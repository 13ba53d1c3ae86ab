"""A province's curated inspector roster as of a moment (docs/adr/0097).

The roster is small reference data (hundreds to a few thousand inspectors per province), so it
is read with ``pyarrow.parquet`` from every curated ingest of ``inspectors`` and resolved in
Python like the as-of read model (ADR 0031): rows ingested at or before ``as_of``, the latest
ingest of each ``inspector_id`` wins. Files are re-read only when the listing changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from functions import layout
from functions.errors import Unprocessable
from schemas.datasets import LIST_SEPARATOR

if TYPE_CHECKING:
    from functions.lake import Lake

logger = logging.getLogger(__name__)

DATASET = "inspectors"
COLUMNS = ["inspector_id", "name", "region_code", "fields", "active_from", "active_to", "conflicts"]
DIGEST_VERSION = "roster-v1"


@dataclass(frozen=True)
class RosterInspector:
    id: str
    name: str  # a pseudonym (contract rule)
    region_code: str
    fields: frozenset[str]
    active_from: dt.date
    active_to: dt.date | None
    conflicts: frozenset[str]  # internal: never in an answer or a log line

    @property
    def prefix(self) -> str:
        return region_prefix(self.region_code)

    def active_on(self, day: dt.date) -> bool:
        return self.active_from <= day and (self.active_to is None or day <= self.active_to)


def region_prefix(code: str) -> str:
    """The area an office covers: ``420000`` → ``42``, ``420100`` → ``4201``, ``420102`` itself."""
    p = code
    while len(p) > 2 and p.endswith("00"):
        p = p[:-2]
    return p


def _split(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    return frozenset(v.strip() for v in value.split(LIST_SEPARATOR) if v.strip())


@dataclass(frozen=True)
class Roster:
    province: str
    as_of: dt.datetime
    inspectors: tuple[RosterInspector, ...]  # the latest version of each id, sorted by id

    def digest(self) -> str:
        """SHA-256 over the whole resolved roster (conflicts included, so a changed recusal
        changes the digest; the digest reveals nothing of them)."""
        return _digest(self.inspectors)


@lru_cache(maxsize=16)
def _digest(inspectors: tuple[RosterInspector, ...]) -> str:
    """Memoised: warm plan requests of an unchanged roster do not hash it again."""
    h = hashlib.sha256(DIGEST_VERSION.encode())
    for i in inspectors:
        row = [
            i.id, i.name, i.region_code, sorted(i.fields), i.active_from.isoformat(),
            i.active_to.isoformat() if i.active_to else None, sorted(i.conflicts),
        ]  # fmt: skip
        h.update(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True)
class _Version:
    ingested_at: dt.datetime
    ingest_id: str
    inspector: RosterInspector


_cache: dict[tuple[str, str], tuple[tuple[tuple[str, int, int | None], ...], list[_Version]]] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _cache.clear()
    _digest.cache_clear()


def _versions(lake: Lake, province: str) -> list[_Version]:
    """Every curated row of the province's roster, newest first (cached by the file listing)."""
    files = [
        f for f in lake.list_files(layout.curated_prefix(DATASET, province)) if f.key.endswith(".parquet")
    ]
    signature = tuple((f.key, f.size, f.mtime_ns) for f in files)
    key = (lake.uri, province)
    with _lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == signature:
        return hit[1]
    out: list[_Version] = []
    for f in files:
        with lake.open_input_file(f.key) as fh:
            # ParquetFile, not read_table: the dataset reader imports pandas (cold start)
            t = pq.ParquetFile(fh).read(columns=[*COLUMNS, "_ingest_id", "_ingested_at"])
        cols = {c: t.column(c).to_pylist() for c in t.column_names}
        for k in range(t.num_rows):
            out.append(
                _Version(
                    cols["_ingested_at"][k],
                    cols["_ingest_id"][k],
                    RosterInspector(
                        cols["inspector_id"][k],
                        cols["name"][k],
                        cols["region_code"][k],
                        _split(cols["fields"][k]),
                        cols["active_from"][k],
                        cols["active_to"][k],
                        _split(cols["conflicts"][k]),
                    ),
                )
            )
    out.sort(key=lambda v: (v.ingested_at, v.ingest_id), reverse=True)
    with _lock:
        _cache[key] = (signature, out)
    return out


def load_roster(lake: Lake, province: str, as_of: dt.datetime) -> Roster:
    """The roster as it stood at ``as_of`` (422 when the province has none)."""
    latest: dict[str, RosterInspector] = {}
    for v in _versions(lake, province):
        if v.ingested_at <= as_of and v.inspector.id not in latest:
            latest[v.inspector.id] = v.inspector
    if not latest:
        raise Unprocessable(
            f"province {province} has no inspector roster: upload the `inspectors` dataset "
            "(docs/upload-contract.md) before drawing plans",
            field="inspectors",
            province=province,
        )
    inspectors = tuple(latest[k] for k in sorted(latest))
    logger.debug("roster of province %s: %d inspectors", province, len(inspectors))
    return Roster(province, as_of, inspectors)
