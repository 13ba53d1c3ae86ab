"""``creditrisk plan verify``: re-draw a stored plan from its seed and its frame.

Stored plans keep the format they were written in (``plan_format``, docs/adr/0125): format 1
(before the roster: inspectors came in the request, assigned by
:func:`functions.sampling.inspectors.assign`), 2 (the roster, no ``plan_format`` member yet) and
3 (supervision lists and re-inspection limits), 4 (adjustments applied at the draw) and 5 (the
inspector rounds drawn by keys, ADR 0163). Each is replayed as it was written.

The plan names the run it drew from; runs are kept (``results/runs/<run_id>/``), so the draw
can be replayed even after a newer run was published — the answer then also says that the
classification the plan used has since been replaced.

An official plan (drawn from a task) is also checked against its task and the audit chain
(:func:`official_differences`, docs/adr/0095): the stored bytes of the task and the plan against
their chain records, the chain and its signed head, the reveal against the task's commitment,
the seed against the reveal, and every member the task fixes (month, scope, ratios, run, frame).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.errors import CreditRiskError, NotFound, StorageError, Unprocessable
from functions.roster.load import load_roster
from functions.roster.staff import Rules
from functions.sampling import audit, cells, commit, overlay, page_index, supervision
from functions.sampling import frame as frames
from functions.sampling.inspectors import Inspector, assign
from functions.sampling.plans import load_plan_text
from functions.sampling.service import PLAN_FORMAT, compute, draw_targets
from schemas.api import PlanRequest, PlanRequestV1

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.roster.load import Roster
    from functions.sampling.signing import Signer

COMPARED = ("frame_digest", "frame_size", "strata", "roster", "targets", "inspector_loads")
COMPARED_V1 = ("frame_digest", "frame_size", "strata", "targets", "inspector_loads")  # no roster


def plan_format(plan: dict[str, Any]) -> int:
    """The stored layout: the ``plan_format`` member, else 2 with a ``roster`` member, else 1."""
    declared = plan.get("plan_format")
    if declared is not None:
        return declared if isinstance(declared, int) and not isinstance(declared, bool) else -1
    return 2 if "roster" in plan else 1


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


def verify_plan(
    lake: Lake, plan_id: str, signer: Signer | None = None, *, full: bool = False
) -> Verification:
    """Re-draw the plan; an official plan (or one that claims to be test but is on the chain) is
    also checked against its task and the audit chain, which needs ``signer``.

    The chain is checked from the plan's and the task's records to the nearest signed checkpoint
    or head (bounded work, docs/adr/0127); ``full`` checks every record of the province instead."""
    text = load_plan_text(lake, plan_id)
    stored = text.encode("utf-8")
    plan: dict[str, Any] = json.loads(text)
    official: list[str] = []
    chain_problems: list[str] = []
    record: dict[str, Any] | None = None
    # format 1 plans written before tasks existed carry no mode: they were test draws by nature
    mode = plan.get("mode", "test" if plan_format(plan) == 1 else None)
    claims_test = mode == "test" and plan.get("task_id") is None
    if claims_test and signer is not None and _on_chain(lake, signer, plan_id, full):
        claims_test = False  # an official plan rewritten to pass for a test draw
    if not claims_test:
        if signer is None:
            return Verification(plan_id, "unverifiable", str(plan.get("run_id")), None,
                                message="an official plan needs the audit signer to be verified")  # fmt: skip
        official, chain_problems, record = official_differences(lake, plan, stored, signer, full=full)
    elif signer is not None:
        official, chain_problems, record = _test_plan_differences(
            lake, plan_id, stored, signer, full, legacy=plan_format(plan) < 3
        )
    pages, pages_note = page_index.problems(lake, plan_id, stored, plan.get("targets"), record)
    if pages:
        official.append("page_index")
    out = _redraw(lake, plan_id, plan)
    if official:
        out.differences += [d for d in official if d not in out.differences]
        out.status = "replaced-mismatch" if out.status.startswith("replaced") else "mismatch"
        kind = "test" if claims_test else "official"
        out.message += f" ({kind} plan, different: {', '.join(official)})"
    if chain_problems:
        out.message += "; audit chain: " + "; ".join(chain_problems[:5])
    if pages:
        out.message += "; page index: " + "; ".join(pages[:5])
    elif pages_note:
        out.message += f"; {pages_note}"
    if claims_test:
        out.message = "test plan, never official: " + out.message
    return out


def _redraw(lake: Lake, plan_id: str, plan: dict[str, Any]) -> Verification:
    """Re-draw from the stored request, seed and frame, and compare."""
    fmt = plan_format(plan)
    if fmt not in range(1, PLAN_FORMAT + 1):
        return Verification(plan_id, "mismatch", str(plan.get("run_id")), None, ["plan_format"],
                            message=f"unknown plan format {plan.get('plan_format')!r}")  # fmt: skip
    legacy: PlanRequestV1 | None = None
    try:
        if fmt == 1:
            legacy = PlanRequestV1.model_validate(plan["request"], strict=False)
            req = _request_of_v1(legacy)
        else:
            req = PlanRequest.model_validate(plan["request"], strict=False)
        month, province, run_id = plan["month"], plan["province"], plan["run_id"]
    except (ValueError, KeyError, TypeError):
        return Verification(plan_id, "mismatch", str(plan.get("run_id")), None, ["request"],
                            message="the stored request is not a valid request")  # fmt: skip
    current_run = (
        _published_field_run(lake, req.frame_field, month, province)
        if req.frame_field
        else _published_run(lake, month, province)
    )
    replaced = current_run != run_id
    frame: frames.Frame | cells.CellFrame
    if str(plan.get("frame_digest", "")).startswith(cells.DIGEST_PREFIX):
        # frame digest v2 (ADR 0100): the run's sampling copy, its index rebuilt from its rows
        found = cells.load_run(lake, month, province, run_id)
        if found is None:
            return _unverifiable(
                plan_id, run_id, current_run, layout.sampling_prefix(month, province, run_id)
            )
        try:
            frame = cells.rebuilt(found)
        except StorageError as exc:  # rows lost, repeated or out of order: the copy was altered
            return Verification(plan_id, "mismatch", run_id, current_run, ["sampling_copy"],
                                message=f"the run's sampling copy is not intact: {exc}")  # fmt: skip
        stale = _index_differs(found, frame)
    else:
        # frame digest v1 (bare hex): the whole partition, as the plan was drawn
        stale = []
        published: frames.Frame | None = None
        if not replaced:
            try:
                published = frames.load_published(lake, month, province)
            except NotFound:
                published = None
        if published is None or published.run_id != run_id:
            try:
                published = frames.load_run(lake, run_id)
            except NotFound:
                return _unverifiable(plan_id, run_id, current_run, layout.run_classifications_key(run_id))
        frame = published
    compared: tuple[str, ...] = COMPARED
    adjusted: overlay.Overlay | None = None
    if fmt >= 4:
        compared = (*COMPARED, "supervision", "adjustments")
        try:
            adjusted = adjustments_of(lake, plan)
        except StorageError as exc:
            return Verification(plan_id, "mismatch", run_id, current_run, ["adjustments"],
                                message=f"the plan's adjustments cannot be re-applied: {exc}")  # fmt: skip
    try:
        if legacy is not None:
            again, compared = replay_v1(legacy, req, frame, str(plan["seed"])), COMPARED_V1
        else:
            special = None
            if fmt >= 3:
                compared = (*compared, "supervision") if fmt == 3 else compared
                used = plan.get("supervision")
                if isinstance(used, dict):
                    special = supervision.load(lake, province, str(used.get("digest")))
            again = compute(req, frame, plan["seed"], *staffing_of(lake, plan), special, adjusted, fmt)
    except StorageError as exc:
        return Verification(plan_id, "mismatch", run_id, current_run, ["supervision"],
                            message=f"the plan's supervision set cannot be read: {exc}")  # fmt: skip
    except (KeyError, TypeError, ValueError, Unprocessable) as exc:
        return Verification(
            plan_id, "mismatch", run_id, current_run, ["roster"],
            message=f"the plan's staffing cannot be replayed from the roster ({type(exc).__name__})",
        )  # fmt: skip
    diffs = [k for k in compared if _norm(again[k]) != _norm(plan.get(k))] + stale
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


def adjustments_of(lake: Lake, plan: dict[str, Any]) -> overlay.Overlay | None:
    """The adjustments snapshot a format 4 plan names, read back and checked: its bytes against
    the digest, and each entry against its adjustment's own trail (approved, same entity and
    class, approved before the plan was drawn). StorageError names what does not hold."""
    from functions.objections.adjust import get as adjustment

    used = plan.get("adjustments")
    if used is None:
        return None
    if not isinstance(used, dict) or not isinstance(used.get("digest"), str):
        raise StorageError("the plan's adjustments member is not a snapshot reference")
    month, province = str(plan["month"]), str(plan["province"])
    found = overlay.load(lake, month, province, used["digest"])
    drawn_at = dt.datetime.fromisoformat(str(plan["created_at"]))
    for code, to in sorted(found.classes.items()):
        try:
            a = adjustment(lake, month, found.ids[code])
        except CreditRiskError:
            raise StorageError(
                f"the snapshot names adjustment {found.ids[code]}, which has no trail"
            ) from None
        approved = a.trail[-1].at if a.status == "approved" else None
        if (
            approved is None
            or (a.uscc, a.adjusted_class) != (code, to)
            or dt.datetime.fromisoformat(approved) > drawn_at
        ):
            raise StorageError(
                f"the snapshot's adjustment {a.adjustment_id} is not one approved before the draw"
            )
    return found


def _request_of_v1(legacy: PlanRequestV1) -> PlanRequest:
    """The scope and ratios of a format 1 request as today's request (staffing aside)."""
    body = legacy.model_dump(mode="json", exclude={"inspectors", "mode"})
    return PlanRequest.model_validate({**body, "mode": "test"}, strict=False)


def replay_v1(
    legacy: PlanRequestV1, req: PlanRequest, frame: frames.Frame | cells.CellFrame, seed: str
) -> dict[str, Any]:
    """A format 1 plan as it was drawn: the same targets, staffed from the request's pool by
    :func:`assign` (loads listed for the whole pool), or unstaffed without one."""
    drawn = draw_targets(req, frame, seed)
    staffing: list[list[str]] | None = None
    loads: dict[str, int] | None = None
    if legacy.inspectors is not None:
        pool = [Inspector(i.id, i.region_code, frozenset(i.conflicts)) for i in legacy.inspectors.pool]
        codes = drawn.table.column("uscc").to_pylist()
        by_code = assign(seed, codes, pool, legacy.inspectors.per_target)
        staffing = [by_code[c] for c in codes]
        loads = {i.id: 0 for i in pool}
        for ids in staffing:
            for i in ids:
                loads[i] += 1
    return {"frame_digest": drawn.digest, "frame_size": drawn.size, "strata": drawn.strata,
            "targets": drawn.rows(staffing), "inspector_loads": loads}  # fmt: skip


def _published_field_run(lake: Lake, field: str, month: str, province: str) -> str | None:
    """The run published for a professional field's month now (its pointer, docs/adr/0117)."""
    try:
        pointer = lake.read_json(layout.field_classification_pointer_key(field, month, province))
    except (FileNotFoundError, ValueError):
        return None
    return (
        str(pointer["run_id"])
        if isinstance(pointer, dict) and isinstance(pointer.get("run_id"), str)
        else None
    )


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


def staffing_of(lake: Lake, plan: dict[str, Any]) -> tuple[Roster, Rules]:
    """The roster as it stood when the plan was drawn and the staffing rules it used."""
    used = plan.get("roster") or {}
    roster = load_roster(lake, str(plan["province"]), dt.datetime.fromisoformat(used["as_of"]))
    return roster, Rules(used["field"], int(used["per_target"]), int(used["min_pool"]))


def _on_chain(lake: Lake, signer: Signer, plan_id: str, full: bool = False) -> bool:
    return (
        _chain_record(lake, signer, plan_id.split("-", 1)[0], audit.OFFICIAL_KINDS, plan_id, full)[0]
        is not None
    )


def _chain_record(
    lake: Lake, signer: Signer, province: str, kinds: tuple[str, ...], ref: str, full: bool
) -> tuple[dict[str, Any] | None, list[str]]:
    """``ref``'s record and the chain's problems: the whole chain (``full``) or its proof only."""
    check = (
        audit.check_chain(lake, signer, province)
        if full
        else audit.locate(lake, signer, province, kinds, ref)
    )
    rec = next((r for kind in kinds if (r := check.find(kind, ref)) is not None), None)
    return rec, check.problems


def _test_plan_differences(
    lake: Lake, plan_id: str, stored: bytes, signer: Signer, full: bool, *, legacy: bool
) -> tuple[list[str], list[str], dict[str, Any] | None]:
    """Every stored test plan is on the chain (docs/adr/0141) and must match its ``test_plan``
    record; one that is not (its writer died, or it was drawn before) fails until ``creditrisk
    audit repair`` adopts it. ``legacy`` formats (1, 2) predate the chain: they pass off it."""
    province = plan_id.split("-", 1)[0]
    rec, problems = _chain_record(lake, signer, province, ("test_plan",), plan_id, full)
    if rec is None and legacy:
        return [], [*problems, f"test plan {plan_id} (format 1/2) was drawn before the chain"], None
    if rec is None:
        problems = [*problems, f"test plan {plan_id} is not on the audit chain (creditrisk audit repair "
                    f"--province {province} adopts it)"]  # fmt: skip
    diffs = ["audit_chain"] if problems else []
    if rec is not None and rec.get("subject") != audit.sha256(stored):
        diffs.append("stored_plan")
    return diffs, problems, rec


# Members a task fixes, compared with the plan's (plan member, task member).
_FIXED = (("month", "month"), ("province", "province"), ("run_id", "run_id"), ("model", "model"),
          ("frame_digest", "frame_digest"), ("commitment", "commitment"),
          ("exclusions", "exclusions"))  # fmt: skip
_FIXED_REQUEST = ("region_prefix", "industries", "entity_types", "ratios")


def official_differences(
    lake: Lake, plan: dict[str, Any], stored: bytes, signer: Signer, *, full: bool = False
) -> tuple[list[str], list[str], dict[str, Any] | None]:
    """Names of the members that do not hold for an official plan, the chain's problems, and the
    plan's chain record (``None`` when it has none)."""
    from functions.sampling import tasks

    diffs: list[str] = []
    plan_id, province = str(plan.get("plan_id")), str(plan.get("province"))
    if plan.get("mode") != "official":
        diffs.append("mode")
    chain_province = plan_id.split("-", 1)[0]  # where the plan is stored: its id says so
    if chain_province != province:
        diffs.append("province")
    plan_rec, problems = _chain_record(lake, signer, chain_province, audit.OFFICIAL_KINDS, plan_id, full)
    task_rec: dict[str, Any] | None = None
    task_ref = str(plan.get("task_id") or (plan_rec or {}).get("task_id"))
    if layout.TASK_ID_RE.match(task_ref):
        task_rec, task_problems = _chain_record(lake, signer, chain_province, ("task",), task_ref, full)
        problems += [p for p in task_problems if p not in problems]
    if problems:
        diffs.append("audit_chain")
    if plan_rec is None or plan_rec.get("subject") != audit.sha256(stored):
        diffs.append("stored_plan")  # any member changed: month, caller, created_at, seed, targets…
    elif plan_rec.get("draw_no") != plan.get("draw_no") or plan_rec.get("task_id") != plan.get("task_id"):
        diffs.append("draw_no")
    try:
        task_id = str(plan.get("task_id") or (plan_rec or {}).get("task_id"))
        if tasks.province_of_task(task_id) != chain_province:
            raise NotFound("the task is another province's")
        task_bytes = tasks.load_task_bytes(lake, task_id)
        task: dict[str, Any] = json.loads(task_bytes)
    except (CreditRiskError, ValueError):
        return [*diffs, "task_id"], problems, plan_rec
    if plan.get("task_id") != task_id:
        diffs.append("task_id")
    if (
        task_rec is None
        or task_rec.get("ref") != task_id
        or task_rec.get("subject") != audit.sha256(task_bytes)
    ):
        diffs.append("task")
    for mine, theirs in _FIXED:
        if _norm(plan.get(mine)) != _norm(task.get(theirs)):
            diffs.append(mine)
    raw_request = plan.get("request")
    request: dict[str, Any] = raw_request if isinstance(raw_request, dict) else {}
    for name in _FIXED_REQUEST:
        if _norm(request.get(name)) != _norm(task.get(name)):
            diffs.append(f"request.{name}")
    if _norm(request.get("exclude")) != _norm([e["uscc"] for e in task.get("exclude", [])]):
        diffs.append("request.exclude")
    fixed_set = task.get("supervision_set")
    if _norm(request.get("supervision")) != _norm(task.get("supervision") if fixed_set else None):
        diffs.append("request.supervision")
    if _norm((plan.get("supervision") or {}).get("digest")) != _norm((fixed_set or {}).get("digest")):
        diffs.append("supervision")
    if plan_format(plan) >= 4 and _norm((plan.get("adjustments") or {}).get("digest")) != _norm(
        (task.get("adjustments") or {}).get("digest")
    ):
        diffs.append("adjustments")  # the snapshot fixed at registration (ADR 0142)
    draw_no, reveal = plan.get("draw_no"), str(plan.get("reveal"))
    if not isinstance(draw_no, int) or not commit.opens(reveal, draw_no, str(task.get("commitment"))):
        diffs.append("reveal")
    elif plan.get("seed") != commit.seed_of(reveal, task["task_id"], task["frame_digest"], draw_no):
        diffs.append("seed")
    return diffs, problems, plan_rec


def _norm(v: Any) -> Any:
    """Compare as JSON would (tuples vs lists, int vs float ratios)."""
    return json.loads(json.dumps(v, sort_keys=True, default=str))
