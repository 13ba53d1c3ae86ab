"""Manual class adjustment (人工调整): proposed with a reason by one person, approved by a second,
different person; only then does it show — as an adjustment, beside the model's class, which
stays visible — in the bulk read, ``explain`` and the report (issue 14, docs/adr/0113).

Each adjustment has its own append-only trail (proposed → approved | refused). The approved
ones of a month are also written to one small derived index beside the published partition
(``_adjustments.json``), rebuilt from the trails on every approval, so that readers read one
object instead of every trail.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any

from functions import layout
from functions import uscc as uscc_mod
from functions.errors import Conflict, Forbidden, InvalidInput, NotFound
from functions.objections.trail import append, now_utc, read_trail
from functions.sampling.overlay import store_snapshot
from schemas.objections import Actor, AdjustmentOut

if TYPE_CHECKING:
    from functions.lake import Lake

logger = logging.getLogger(__name__)
CLASSES = ("A", "B", "C", "D")


def propose(lake: Lake, uscc: str, month: str, to_class: str, reason: str, by: Actor) -> AdjustmentOut:
    """Propose moving ``uscc``'s published class for ``month`` to ``to_class``."""
    from functions.sampling.lookup import lookup

    code = uscc.strip().upper()
    if not uscc_mod.is_well_formed(code):
        raise InvalidInput(f"not a Unified Social Credit Code: {uscc!r}", field="uscc")
    if not layout.MONTH_RE.match(month):
        raise InvalidInput(f"month must be YYYY-MM, got {month!r}", field="month")
    if to_class not in CLASSES:
        raise InvalidInput("the adjusted class is one of A, B, C, D", field="to_class")
    if not reason.strip() or len(reason) > 500:
        raise InvalidInput("an adjustment gives a reason of 1–500 characters", field="reason")
    row = lookup(lake, code, month)
    if row["risk_class"] == to_class:
        raise InvalidInput(f"the model already put {code} in class {to_class}", field="to_class")
    province = code[2:4]
    adjustment_id = f"{province}-{secrets.token_hex(8)}"
    data = {
        "uscc": code,
        "month": month,
        "model_class": row["risk_class"],
        "adjusted_class": to_class,
        "run_id": row["run_id"],
    }
    event = {
        "step": "proposed",
        "at": now_utc(),
        "by": by.model_dump(),
        "reason": reason.strip(),
        "data": data,
    }
    append(lake, layout.adjustment_prefix(province, month, adjustment_id), event, expected_seq=1)
    return get(lake, month, adjustment_id)


def decide(
    lake: Lake, month: str, adjustment_id: str, by: Actor, *, approve: bool, reason: str | None = None
) -> AdjustmentOut:
    """The second person's approval (or refusal); the proposer cannot approve their own."""
    state = get(lake, month, adjustment_id)
    if state.status != "proposed":
        raise Conflict(f"adjustment {adjustment_id} is already {state.status}", field="adjustment_id")
    if (by.kind, by.id) == (state.proposed_by.kind, state.proposed_by.id):
        raise Forbidden("the approver must be a different person from the proposer", field="by")
    event: dict[str, Any] = {
        "step": "approved" if approve else "refused",
        "at": now_utc(),
        "by": by.model_dump(),
    }
    if reason:
        event["reason"] = reason
    prefix = layout.adjustment_prefix(state.province, month, adjustment_id)
    append(lake, prefix, event, expected_seq=len(state.trail) + 1)
    if approve:
        rebuild_index(lake, state.province, month)
    return get(lake, month, adjustment_id)


def get(lake: Lake, month: str, adjustment_id: str) -> AdjustmentOut:
    if not layout.OBJECTION_ID_RE.match(adjustment_id) or not layout.MONTH_RE.match(month):
        raise InvalidInput("an adjustment id is PP-<16 hex digits>, month YYYY-MM", field="adjustment_id")
    trail = read_trail(lake, layout.adjustment_prefix(adjustment_id[:2], month, adjustment_id))
    if not trail:
        raise NotFound(f"no adjustment {adjustment_id} for {month}", field="adjustment_id")
    return fold(adjustment_id, trail)


def list_adjustments(lake: Lake, province: str, month: str) -> list[AdjustmentOut]:
    out = []
    for aid in lake.list_dirs(layout.adjustments_prefix(province, month)):
        if layout.OBJECTION_ID_RE.match(aid):
            trail = read_trail(lake, layout.adjustment_prefix(province, month, aid))
            if trail:
                out.append(fold(aid, trail))
    return sorted(out, key=lambda a: (a.trail[0].at, a.adjustment_id))


def fold(adjustment_id: str, trail: list[dict[str, Any]]) -> AdjustmentOut:
    first, status, approver = trail[0], "proposed", None
    for e in trail[1:]:
        status = e["step"]
        approver = e["by"] if e["step"] == "approved" else None
    d = first["data"]
    return AdjustmentOut.model_validate(
        {
            "adjustment_id": adjustment_id,
            "province": adjustment_id[:2],
            "uscc": d["uscc"],
            "month": d["month"],
            "model_class": d["model_class"],
            "adjusted_class": d["adjusted_class"],
            "reason": first["reason"],
            "status": status,
            "proposed_by": first["by"],
            "approved_by": approver,
            "run_id": d["run_id"],
            "trail": trail,
        },
        strict=False,
    )


def rebuild_index(lake: Lake, province: str, month: str) -> dict[str, dict[str, Any]]:
    """Write the month's approved adjustments (the latest approved one per entity) as the index."""
    approved: dict[str, dict[str, Any]] = {}
    for a in list_adjustments(lake, province, month):
        if a.status == "approved" and a.approved_by is not None:
            approved[a.uscc] = {
                "adjustment_id": a.adjustment_id,
                "model_class": a.model_class,
                "adjusted_class": a.adjusted_class,
                "reason": a.reason,
                "proposed_by": a.proposed_by.name,
                "approved_by": a.approved_by.name,
                "approved_at": a.trail[-1].at,
            }
    # the snapshot first: the index names it, and plans record its digest (docs/adr/0142)
    digest = store_snapshot(lake, month, province, approved)
    lake.write_json(
        layout.adjustments_index_key(month, province),
        {"month": month, "province": province, "digest": digest, "adjustments": approved},
    )
    return approved


def approved_adjustments(lake: Lake, month: str, province: str) -> dict[str, dict[str, Any]]:
    """uscc → the approved adjustment (empty when there are none)."""
    try:
        doc = lake.read_json(layout.adjustments_index_key(month, province))
    except FileNotFoundError:
        return {}
    found: dict[str, dict[str, Any]] = doc.get("adjustments", {})
    return found
