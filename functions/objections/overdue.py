"""Overdue objections as warnings (issue 14, docs/adr/0121): an objection still undecided after
its 5th working day is an ``open`` warning of rule ``objection_overdue`` in the warnings store,
filed under the disputed month; once decided it is ``resolved`` (append-only rows, ADR 0103).

The sync is idempotent (an open warning is not raised twice, a resolved one not resolved again):
the monthly follow-up runs it for every province, and the decision step runs it for its own
province, so the warning closes when the objection is decided rather than a month later.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.objections.service import list_objections
from functions.warnings import store

if TYPE_CHECKING:
    from functions.lake import Lake
    from schemas.objections import ObjectionOut

logger = logging.getLogger(__name__)

RULE_ID = "objection_overdue"
RULE_REF = f"{RULE_ID}@1"
RULE_NAME = "异议逾期 objection not decided within 5 working days"
SEVERITY = "high"


def sync_overdue_warnings(
    lake: Lake, province: str, *, now: dt.datetime, by: str = "system", trigger: str = "monthly"
) -> dict[str, int]:
    """Raise a warning for each undecided overdue objection of ``province`` without an open one,
    resolve the open ones whose objection is decided; ``{"raised": n, "resolved": m}``."""
    from functions.warnings.engine import new_run_id, warning_key

    objections = list_objections(lake, province, now=now)
    run_id = new_run_id(now)
    at = now.astimezone(dt.UTC)
    current = _current(lake, province, {o.month for o in objections})
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    raised = resolved = 0
    for o in objections:
        key = warning_key(RULE_ID, o.uscc, o.objection_id)
        old = current.get(key)
        late = o.overdue and o.decided_on is None
        when = _after(old, at)
        if late and (old is None or old["state"] != "open"):
            row = old or _row(o, key, at, trigger, run_id)
            out[o.month].append(_state(row, "open", when, by, trigger, run_id, f"undecided after {o.due_on}"))
            raised += 1
        elif not late and old is not None and old["state"] == "open":
            reason = f"decided ({o.status}) on {o.decided_on}"
            out[o.month].append(_state(old, "resolved", when, by, trigger, run_id, reason))
            resolved += 1
    for month, rows in sorted(out.items()):
        store.write_partition(lake, layout.warnings_key(month, province, run_id), rows, store.WARNING_SCHEMA)
    if raised or resolved:
        logger.info(
            "province %s: %s overdue-objection warning(s) raised, %s resolved", province, raised, resolved
        )
    return {"raised": raised, "resolved": resolved}


def _after(old: dict[str, Any] | None, at: dt.datetime) -> dt.datetime:
    """``at``, or just after the key's last transition: the latest state per key is the one with
    the latest ``state_at``, and run ids (hence file order) do not order two runs in one instant."""
    last = old.get("state_at") if old is not None else None
    if isinstance(last, dt.datetime) and last >= at:
        return last + dt.timedelta(microseconds=1)
    return at


def _current(lake: Lake, province: str, months: set[str]) -> dict[str, dict[str, Any]]:
    """The latest row of each ``objection_overdue`` warning in the objections' months."""
    found: dict[str, dict[str, Any]] = {}
    for month in sorted(months):
        t = store.load_warnings(lake, month, province, rule=RULE_ID)
        for row in t.drop_columns(["month"]).to_pylist():
            found[row["warning_key"]] = row
    return found


def _row(o: ObjectionOut, key: str, at: dt.datetime, trigger: str, run_id: str) -> dict[str, Any]:
    evidence = {"objection_id": o.objection_id, "received_on": o.received_on, "due_on": o.due_on,
                "status": o.status}  # fmt: skip
    return {
        "warning_key": key,
        "rule": RULE_REF,
        "rule_id": RULE_ID,
        "rule_name": RULE_NAME,
        "uscc": o.uscc,
        "severity": SEVERITY,
        "fact": o.objection_id,
        "event_on": dt.date.fromisoformat(o.due_on),
        "evidence": json.dumps(evidence, ensure_ascii=False, sort_keys=True),
        "detected_at": at,
        "trigger": trigger,
        "run_id": run_id,
        "dispatched": False,
    }


def _state(
    row: dict[str, Any], state: str, at: dt.datetime, by: str, trigger: str, run_id: str, reason: str
) -> dict[str, Any]:
    return {**row, "state": state, "state_at": at, "state_by": by, "state_trigger": trigger,
            "run_id": run_id, "state_reason": reason}  # fmt: skip
