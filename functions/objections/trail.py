"""An append-only trail of steps: one lake object per step, ``<seq:04d>-<step>.json``.

A step is written once under a new key; nothing is ever rewritten or deleted, so the trail is
the audit record (who, when, what) and the state is folded from it. Two writers racing for the
same ``seq`` are told apart by a re-read: the loser gets a ``Conflict`` (docs/adr/0112).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import posixpath
from typing import TYPE_CHECKING, Any

from functions.errors import Conflict

if TYPE_CHECKING:
    from functions.lake import Lake

logger = logging.getLogger(__name__)


def read_trail(lake: Lake, prefix: str) -> list[dict[str, Any]]:
    """The steps under ``prefix``, in order."""
    files = sorted(f.key for f in lake.list_files(prefix) if f.key.endswith(".json"))
    return [lake.read_json(k) for k in files]


def append(lake: Lake, prefix: str, event: dict[str, Any], *, expected_seq: int) -> dict[str, Any]:
    """Write ``event`` as step ``expected_seq``; a trail that moved meanwhile is a ``Conflict``."""
    existing = [posixpath.basename(f.key) for f in lake.list_files(prefix) if f.key.endswith(".json")]
    if any(name.startswith(f"{expected_seq:04d}-") for name in existing) or len(existing) >= expected_seq:
        raise Conflict("the record changed meanwhile; read it again and retry", field="seq")
    stored = {**event, "seq": expected_seq}
    key = f"{prefix}/{expected_seq:04d}-{event['step']}.json"
    data = json.dumps(stored, ensure_ascii=False, indent=2, default=str).encode("utf-8")
    # created once (If-None-Match, ADR 0126): of two writers of the same step, one loses here
    lake.write_bytes(key, data, if_none_match=True)
    mine = [
        posixpath.basename(f.key)
        for f in lake.list_files(prefix)
        if f.key.startswith(f"{prefix}/{expected_seq:04d}-")
    ]
    if len(mine) > 1:  # another writer appended the same step number at the same time
        logger.warning("two steps numbered %s under %s", expected_seq, prefix)
        raise Conflict("another step was recorded at the same time; read the record again", field="seq")
    return stored


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
