"""Draw a plan end to end: frame → scope → draw → inspectors → stored plan."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from functions.sampling import draw as drawing
from functions.sampling import frame as frames
from functions.sampling.inspectors import Inspector, assign
from functions.sampling.plans import new_plan_id, store_plan
from schemas.results import RISK_CLASSES

if TYPE_CHECKING:
    from functions.auth.tokens import Principal
    from functions.lake import Lake
    from schemas.api import PlanRequest

logger = logging.getLogger(__name__)
TARGET_COLUMNS = ["uscc", "name", "risk_class", "region_code", "industry_code"]


def scope_of(req: PlanRequest) -> frames.Scope:
    return frames.Scope(
        region_prefix=req.region_prefix,
        industries=tuple(req.industries),
        entity_types=tuple(req.entity_types),
        exclude=tuple(req.exclude),
    )


def compute(req: PlanRequest, frame: frames.Frame, seed: str) -> dict[str, Any]:
    """The reproducible part of a plan: a pure function of (request, seed, frame)."""
    prepared = frames.scoped_frame(frame, scope_of(req), RISK_CLASSES)
    table, indices = prepared.table, prepared.indices
    populations = {c: len(indices[c]) for c in RISK_CLASSES}
    ratios: dict[str, float] = {str(k): v for k, v in req.ratios.items()}
    positions = drawing.draw(seed, populations, ratios)
    picked: list[pa.Array] = [
        indices[c].take(frames.int64_array(positions[c])) for c in RISK_CLASSES if positions[c]
    ]
    rows: list[dict[str, Any]] = []
    if picked:
        take = pa.concat_arrays(picked)
        picked_rows = table.select(TARGET_COLUMNS).take(take)
        columns = [picked_rows.column(c).to_pylist() for c in TARGET_COLUMNS]
        rows = [dict(zip(TARGET_COLUMNS, values, strict=True)) for values in zip(*columns, strict=True)]
    loads: dict[str, int] | None = None
    if req.inspectors is not None:
        pool = [Inspector(i.id, i.region_code, frozenset(i.conflicts)) for i in req.inspectors.pool]
        staffing = assign(seed, [r["uscc"] for r in rows], pool, req.inspectors.per_target)
        loads = {i.id: 0 for i in pool}
        for r in rows:
            r["inspectors"] = staffing[r["uscc"]]
            for i in r["inspectors"]:
                loads[i] += 1
    else:
        for r in rows:
            r["inspectors"] = []
    strata = [
        {
            "risk_class": c,
            "population": populations[c],
            "ratio": ratios.get(c),
            "sampled": len(positions[c]),
        }
        for c in RISK_CLASSES
    ]
    return {
        "frame_digest": prepared.digest,
        "frame_size": table.num_rows,
        "algorithm": drawing.ALGORITHM,
        "strata": strata,
        "targets": rows,
        "inspector_loads": loads,
    }


def create_plan(
    lake: Lake, req: PlanRequest, principal: Principal, *, now: dt.datetime | None = None
) -> tuple[str, str]:
    """Draw and store a plan; returns ``(plan_id, stored JSON text)``. Scope is the caller's job."""
    frame = frames.load_published(lake, req.month, req.province)
    seed = req.seed if req.seed is not None else drawing.new_seed()
    body = compute(req, frame, seed)
    plan: dict[str, Any] = {
        "plan_id": new_plan_id(req.province),
        "created_at": (now or dt.datetime.now(dt.UTC)).isoformat(timespec="milliseconds"),
        "caller": principal.caller(),
        "month": req.month,
        "province": req.province,
        "seed": seed,
        "seed_generated": req.seed is None,
        "run_id": frame.run_id,
        "model": frame.model,
        "model_hash": frame.pointer.get("model_hash"),
        **body,
        "request": req.model_dump(mode="json"),
    }
    text = store_plan(lake, plan)
    logger.info(
        "plan %s stored: province %s month %s, %d targets",
        plan["plan_id"],
        req.province,
        req.month,
        len(body["targets"]),
    )
    return plan["plan_id"], text
