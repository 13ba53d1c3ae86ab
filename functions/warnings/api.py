"""The read side of warnings for the REST API (scope is checked by the handler)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from functions.warnings.store import load_warnings

if TYPE_CHECKING:
    from functions.lake import Lake
    from schemas.warnings import WarningsQuery


def list_warnings(lake: Lake, query: WarningsQuery) -> dict[str, Any]:
    """One page of the month's warnings in their current state (optionally only one state),
    oldest first (an empty list when none were raised)."""
    table = load_warnings(lake, query.month, query.province, rule=query.rule, state=query.state)
    total = table.num_rows
    page = table.slice(query.offset, query.limit).to_pylist() if query.offset < total else []
    for w in page:
        w["evidence"] = json.loads(w["evidence"])
        w["event_on"] = w["event_on"].isoformat() if w["event_on"] is not None else None
        w["detected_at"] = w["detected_at"].isoformat()
        w["state_at"] = w["state_at"].isoformat()
    end = query.offset + len(page)
    return {
        "month": query.month,
        "province": query.province,
        "rule": query.rule,
        "state": query.state,
        "total": total,
        "offset": query.offset,
        "limit": query.limit,
        "next_offset": end if end < total else None,
        "warnings": page,
    }
