"""``creditrisk plan verify``: re-draw a stored plan from its seed and its frame.

The plan names the run it drew from; runs are kept (``results/runs/<run_id>/``), so the draw
can be replayed even after a newer run was published — the answer then also says that the
classification the plan used has since been replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.errors import NotFound
from functions.sampling import cells
from functions.sampling import frame as frames
from functions.sampling.plans import load_plan
from functions.sampling.service import compute
from schemas.api import PlanRequest

if TYPE_CHECKING:
    from functions.lake import Lake

COMPARED = ("frame_digest", "frame_size", "strata", "targets", "inspector_loads")


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
    current_run = _published_run(lake, month, province)
    replaced = current_run != run_id
    frame: frames.Frame | cells.CellFrame
    if str(plan.get("frame_digest", "")).startswith(cells.DIGEST_PREFIX):
        # frame digest v2 (ADR 0100): the run's sampling copy, its index rebuilt from its rows
        found = cells.load_run(lake, month, province, run_id)
        if found is None:
            return _unverifiable(
                plan_id, run_id, current_run, layout.sampling_prefix(month, province, run_id)
            )
        frame = cells.rebuilt(found)
        stale = _index_differs(found, frame)
    else:
        # frame digest v1 (bare hex): the whole partition, as the plan was drawn
        stale = []
        legacy: frames.Frame | None = None
        if not replaced:
            try:
                legacy = frames.load_published(lake, month, province)
            except NotFound:
                legacy = None
        if legacy is None or legacy.run_id != run_id:
            try:
                legacy = frames.load_run(lake, run_id)
            except NotFound:
                return _unverifiable(plan_id, run_id, current_run, layout.run_classifications_key(run_id))
        frame = legacy
    again = compute(req, frame, plan["seed"])
    diffs = [k for k in COMPARED if _norm(again[k]) != _norm(plan.get(k))] + stale
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


def _published_run(lake: Lake, month: str, province: str) -> str | None:
    """The run published for the month now (the pointer; the partition itself before pointers)."""
    try:
        pointer = lake.read_json(layout.classification_pointer_key(month, province))
        if isinstance(pointer, dict) and isinstance(pointer.get("run_id"), str):
            return str(pointer["run_id"])
    except (FileNotFoundError, ValueError):
        pass
    try:
        return frames.load_published(lake, month, province).run_id
    except NotFound:
        return None


def _index_differs(stored: cells.CellFrame, rebuilt: cells.CellFrame) -> list[str]:
    """``["sampling_index"]`` when the stored cell index no longer describes the copy's rows."""
    return [] if stored.index.equals(rebuilt.index) else ["sampling_index"]


def _unverifiable(plan_id: str, run_id: str, current_run: str | None, where: str) -> Verification:
    return Verification(
        plan_id, "unverifiable", run_id, current_run,
        message=(
            f"the classification used (run {run_id}) has since been replaced by "
            f"{current_run or 'nothing'} and is no longer at {where}"
        ),
    )  # fmt: skip


def _norm(v: Any) -> Any:
    """Compare as JSON would (tuples vs lists, int vs float ratios)."""
    import json

    return json.loads(json.dumps(v, sort_keys=True, default=str))
