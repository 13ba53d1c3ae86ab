"""``creditrisk plan verify``: re-draw a stored plan from its seed and its frame.

The plan names the run it drew from; runs are kept (``results/runs/<run_id>/``), so the draw
can be replayed even after a newer run was published — the answer then also says that the
classification the plan used has since been replaced.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.errors import NotFound, Unprocessable
from functions.roster.load import load_roster
from functions.roster.staff import Rules
from functions.sampling import frame as frames
from functions.sampling.plans import load_plan
from functions.sampling.service import compute
from schemas.api import PlanRequest

if TYPE_CHECKING:
    from functions.lake import Lake

COMPARED = ("frame_digest", "frame_size", "strata", "roster", "targets", "inspector_loads")


@dataclass
class Verification:
    plan_id: str
    status: str  # "match" | "mismatch" | "replaced" | "replaced-mismatch" | "unverifiable"
    run_id: str
    current_run_id: str | None
    differences: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("match", "replaced")


def verify_plan(lake: Lake, plan_id: str) -> Verification:
    plan = load_plan(lake, plan_id)
    req = PlanRequest.model_validate(plan["request"], strict=False)
    month, province, run_id = plan["month"], plan["province"], plan["run_id"]
    current: frames.Frame | None = None
    try:
        current = frames.load_published(lake, month, province)
    except NotFound:
        current = None
    current_run = current.run_id if current else None
    replaced = current_run != run_id
    if not replaced and current is not None:
        frame = current
    else:
        try:
            frame = frames.load_run(lake, run_id)
        except NotFound:
            return Verification(
                plan_id, "unverifiable", run_id, current_run,
                message=(
                    f"the classification used (run {run_id}) has since been replaced by "
                    f"{current_run or 'nothing'} and is no longer at {layout.run_classifications_key(run_id)}"
                ),
            )  # fmt: skip
    used = plan.get("roster") or {}
    try:
        roster = load_roster(lake, province, dt.datetime.fromisoformat(used["as_of"]))
        rules = Rules(used["field"], int(used["per_target"]), int(used["min_pool"]))
        again = compute(req, frame, plan["seed"], roster, rules)
    except (KeyError, TypeError, ValueError, Unprocessable) as exc:
        return Verification(
            plan_id, "mismatch", run_id, current_run, ["roster"],
            message=f"the plan's staffing cannot be replayed from the roster ({type(exc).__name__})",
        )  # fmt: skip
    diffs = [k for k in COMPARED if _norm(again[k]) != _norm(plan.get(k))]
    if replaced:
        status = "replaced" if not diffs else "replaced-mismatch"
        msg = f"the classification used (run {run_id}) has since been replaced by run {current_run}; " + (
            "re-drawing from the kept run reproduces the plan" if not diffs else "and the re-draw differs"
        )
    else:
        status = "match" if not diffs else "mismatch"
        msg = "re-drawing from the stored seed reproduces the plan" if not diffs else "the re-draw differs"
    if diffs:
        msg += f" (different: {', '.join(diffs)})"
    return Verification(plan_id, status, run_id, current_run, diffs, msg)


def _norm(v: Any) -> Any:
    """Compare as JSON would (tuples vs lists, int vs float ratios)."""
    import json

    return json.loads(json.dumps(v, sort_keys=True, default=str))
