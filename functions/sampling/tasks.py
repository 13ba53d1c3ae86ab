"""Sampling tasks: registered first, drawn once officially, redrawn only with a reason.

Registration fixes what will be drawn (province, month, field, scope, ratios, window, exclusions
with their reasons) and the frame (the published run and the scoped frame's digest), and commits
to a server secret (:mod:`functions.sampling.commit`); the caller never picks the seed. The first
draw is the task's official plan; a redraw needs a reason from a fixed list and supersedes it.
Both stay stored and visible. Registration, plan and supersession each go on the province's audit
chain (:mod:`functions.sampling.audit`). See docs/adr/0093 and 0094.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import secrets
from collections import Counter
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc

from functions import layout
from functions.errors import Conflict, InvalidInput, NotFound, StorageError, Unprocessable, WriteConflict
from functions.obs.context import bind, scoped
from functions.sampling import audit, cells, commit, overlay, supervision
from functions.sampling import draw as drawing
from functions.sampling import frame as frames
from functions.sampling.plans import MAX_ANSWER_BYTES
from functions.sampling.service import CreatedPlan, adjustments_for, make_plan
from schemas.api import EXCLUSION_REASONS, REDRAW_REASONS, DrawRequest, PlanRequest, TaskRequest
from schemas.results import RISK_CLASSES

if TYPE_CHECKING:
    from functions.auth.tokens import Principal
    from functions.lake import Lake
    from functions.sampling.signing import Signer

logger = logging.getLogger(__name__)


def new_task_id(province: str) -> str:
    return f"{province}-t{secrets.token_hex(10)}"


def province_of_task(task_id: str) -> str:
    m = layout.TASK_ID_RE.match(task_id)
    if not m:
        raise InvalidInput("task_id must look like PP-t<20 hex characters>", field="task_id")
    return m.group(1)


def stamp(now: dt.datetime | None) -> str:
    """``now`` (or the clock) as the chain's and the stored objects' UTC text, to the millisecond."""
    return (now or dt.datetime.now(dt.UTC)).isoformat(timespec="milliseconds")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def slot_of(req: TaskRequest, frame_field: str | None = None, *, beside_old: bool = False) -> str:
    """One task per (month, inspection field, region, population): a second registration cannot
    buy a second draw, and a field population's task (``frame_field``) is not the general one's.
    The general population keeps the key every task had before (docs/adr/0141); ``beside_old``
    is its key where a field task registered before ADR 0141 holds that one (docs/adr/0151)."""
    key = f"{req.month}|{req.field or ''}|{req.region_prefix or req.province}"
    if frame_field is not None:
        key += f"|frame={frame_field}"
    elif beside_old:
        key += "|general"  # no field population's key ends so: those end in |frame=<field>
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _slot_for(lake: Lake, req: TaskRequest) -> tuple[str, str | None]:
    """The slot key the request claims and the task already holding its population's slot, if any.

    Before ADR 0141 a field task claimed the general key. It still holds its own population's
    slot (a field registration looks there too), but not the general one's: the general task
    goes beside it, under ``slot_of(..., beside_old=True)`` (docs/adr/0151). Only a taken
    general key costs the extra reads."""
    general = layout.task_index_key(req.province, slot_of(req))
    if req.frame_field is not None:
        own = layout.task_index_key(req.province, slot_of(req, req.frame_field))
        taken = audit.read_object(lake, own, "sampling object")
        if taken is not None:
            return own, str(taken["task_id"])
        old = _general_holder(lake, general)
        return own, (old[0] if old is not None and old[1] == req.frame_field else None)
    old = _general_holder(lake, general)
    if old is None:
        return general, None
    task_id, frame_field = old
    if frame_field is None:
        return general, task_id
    beside = layout.task_index_key(req.province, slot_of(req, beside_old=True))
    taken = audit.read_object(lake, beside, "sampling object")
    return beside, (None if taken is None else str(taken["task_id"]))


def _general_holder(lake: Lake, general_key: str) -> tuple[str, str | None] | None:
    """The task holding the general key and its ``frame_field`` (set: a field task from before 0141)."""
    held = audit.read_object(lake, general_key, "sampling object")
    if held is None:
        return None
    task_id = str(held["task_id"])
    return task_id, load_task(lake, task_id).get("frame_field")


def exclusion_counts(req: TaskRequest) -> dict[str, int]:
    """Excluded entities per reason (every reason listed, zeros included); 422 without a reason."""
    missing = [i for i, e in enumerate(req.exclude) if e.reason is None]
    if missing:
        raise Unprocessable(
            f"{len(missing)} exclusion(s) without a reason; "
            f"each needs one of: {', '.join(EXCLUSION_REASONS)}",
            field="exclude",
            positions=missing[:20],
        )
    codes = [e.uscc for e in req.exclude]
    if len(set(codes)) != len(codes):
        raise Unprocessable("an entity is excluded more than once", field="exclude")
    counts = Counter(str(e.reason) for e in req.exclude)
    return {r: counts.get(r, 0) for r in EXCLUSION_REASONS}


def _scope(task: dict[str, Any]) -> frames.Scope:
    return frames.Scope(
        region_prefix=task["region_prefix"],
        industries=tuple(task["industries"]),
        entity_types=tuple(task["entity_types"]),
        exclude=tuple(e["uscc"] for e in task["exclude"]),
    )


@scoped
def register_task(
    lake: Lake, req: TaskRequest, principal: Principal, signer: Signer, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Store a task and its committed secret; returns the task's public view. Scope is the caller's job."""
    counts = exclusion_counts(req)
    slot_key, holder = _slot_for(lake, req)
    if holder is not None:
        raise _slot_taken(req, holder, lake)
    frame = cells.load_published_for(lake, req.month, req.province, req.frame_field)
    task: dict[str, Any] = {
        "task_id": new_task_id(req.province),
        "created_at": stamp(now),
        "caller": principal.caller(),
        **req.model_dump(mode="json", exclude={"exclude"}),
        "exclude": [e.model_dump(mode="json") for e in req.exclude],
        "exclusions": counts,
        "run_id": frame.run_id,
        "model": frame.model,
    }
    digest, size = scoped_digest(frame, _scope(task))
    if req.supervision.lists or req.supervision.reinspection:
        # fixed now, before the randomness exists (ADR 0123, 0124); the draw reads it back
        at = dt.datetime.fromisoformat(task["created_at"])
        special = supervision.compute(lake, req.province, req.month, req.supervision, as_of=at)
        listed = supervision.in_scope(special.table, _scope(task))
        excluded = listed.filter(pc.equal(listed["disposition"], "inspected_recently")).num_rows
        task["exclusions"]["inspected_recently"] += excluded
        task["supervision_set"] = {"digest": special.digest, "as_of": special.as_of, "day": special.day}
    # the approved adjustments are fixed now too, before the randomness exists (ADR 0142)
    adjusted = adjustments_for(lake, req.month, req.province, frame)
    task["adjustments"] = None if adjusted is None else {"digest": adjusted.digest,
                                                         "adjustments": len(adjusted.classes)}  # fmt: skip
    secret = commit.new_secret()
    task.update(
        frame_digest=digest,
        frame_size=size,
        algorithm=drawing.ALGORITHM,
        commitment=commit.commitment(secret),
        max_draws=commit.MAX_DRAWS,
    )
    task_id, province = task["task_id"], req.province
    bind(task_id=task_id)
    lake.write_bytes(
        layout.task_secret_key(province, task_id),
        _dumps({"task_id": task_id, "secret": secret}),
        if_none_match=True,
    )
    data = _dumps(task)
    lake.write_bytes(layout.task_key(province, task_id), data, metadata={"Content-Type": "application/json"},
                     if_none_match=True)  # fmt: skip
    try:  # the slot is claimed once: of two concurrent registrations one gets 409 (docs/adr/0126)
        lake.write_bytes(slot_key, _dumps({"task_id": task_id}), if_none_match=True)
    except WriteConflict:
        winner = audit.read_object(lake, slot_key, "sampling object") or {}
        logger.info("task %s lost the slot to %s; left unregistered", task_id, winner.get("task_id"))
        raise _slot_taken(req, str(winner.get("task_id")), lake) from None
    chain_task(lake, signer, task, data, task["created_at"])
    logger.info("task %s registered: province %s month %s", task_id, province, req.month)
    return view(task, [])


def _slot_taken(req: TaskRequest, task_id: str, lake: Lake) -> Conflict:
    if not audit.indexed(lake, req.province, ("task",), task_id):
        # its writer died between claiming the slot and the chain (docs/adr/0140)
        return Conflict(
            f"task {task_id} claimed month {req.month}, field {req.field or '-'}, region "
            f"{req.region_prefix or req.province} and population {req.frame_field or 'general'} but "
            "is not on the audit chain yet; an operator "
            f"finishes its registration: creditrisk audit repair --province {req.province}",
            field="task",
            task_id=task_id,
        )
    return Conflict(
        f"task {task_id} is already registered for month {req.month}, field {req.field or '-'}, "
        f"region {req.region_prefix or req.province} and population {req.frame_field or 'general'}; "
        "redraw it with a reason",
        field="task",
        task_id=task_id,
    )


def load_task_bytes(lake: Lake, task_id: str) -> bytes:
    try:
        return lake.read_bytes(layout.task_key(province_of_task(task_id), task_id))
    except FileNotFoundError:
        raise NotFound(f"no task {task_id}", field="task_id") from None


def load_task(lake: Lake, task_id: str) -> dict[str, Any]:
    task: dict[str, Any] = json.loads(load_task_bytes(lake, task_id))
    return task


def load_draws(lake: Lake, task_id: str) -> list[dict[str, Any]]:
    """The task's draws in order (1 = the first official plan; the last one is official now)."""
    province = province_of_task(task_id)
    out = []
    for f in lake.list_files(layout.task_draws_prefix(province, task_id)):
        rec = audit.read_object(lake, f.key, "sampling object")
        if rec is not None:
            out.append(rec)
    return sorted(out, key=lambda r: int(r["draw_no"]))


def view(task: dict[str, Any], draws: list[dict[str, Any]]) -> dict[str, Any]:
    """``GET /v1/sampling/tasks/{task_id}``: the task without its exclusion list (counts only)."""
    public = {k: v for k, v in task.items() if k not in ("exclude", "algorithm")}
    return {
        **public,
        "official_plan_id": draws[-1]["plan_id"] if draws else None,
        "supersessions": max(0, len(draws) - 1),
        "draws": draws,
    }


def task_view(lake: Lake, task_id: str) -> dict[str, Any]:
    return view(load_task(lake, task_id), load_draws(lake, task_id))


def scoped_digest(frame: frames.Frame | cells.CellFrame, scope: frames.Scope) -> tuple[str, int]:
    """The frame digest and size of the task's scope: from the cell index of the run's sampling
    copy (v2, ADR 0100), or over the whole partition for runs published before it (v1)."""
    if isinstance(frame, cells.CellFrame):
        sel = cells.selection(frame, scope, RISK_CLASSES)
        return sel.digest, sel.size
    scoped = frames.scoped_frame(frame, scope, RISK_CLASSES)
    return scoped.digest, scoped.table.num_rows


def task_frame(lake: Lake, task: dict[str, Any]) -> frames.Frame | cells.CellFrame:
    """The frame fixed at registration: the published run if it still is, else its kept copy."""
    month, province, run_id = task["month"], task["province"], task["run_id"]
    try:
        published = cells.load_published(lake, month, province)
    except NotFound:
        published = None
    if published is not None and published.run_id == run_id:
        return published
    kept = cells.load_run(lake, month, province, run_id)
    return kept if kept is not None else frames.load_run(lake, run_id)


def plan_request_of(task: dict[str, Any], dreq: DrawRequest | None = None) -> PlanRequest:
    """The draw's parameters as a :class:`PlanRequest` (what ``draw_plan`` takes and the plan echoes)."""
    body: dict[str, Any] = {
        "month": task["month"],
        "province": task["province"],
        "region_prefix": task["region_prefix"],
        "industries": task["industries"],
        "entity_types": task["entity_types"],
        "ratios": task["ratios"],
        "exclude": [e["uscc"] for e in task["exclude"]],
        "mode": "official",
        "supervision": task["supervision"] if task.get("supervision_set") else None,
        "frame_field": task.get("frame_field"),
    }
    inspectors: dict[str, Any] = {"field": task.get("field") or "general"}
    if dreq is not None and dreq.inspectors is not None:
        asked = dreq.inspectors.model_dump(mode="json")
        if "field" not in dreq.inspectors.model_fields_set:
            asked["field"] = inspectors["field"]
        elif task.get("field") and asked["field"] != task["field"]:
            raise InvalidInput(
                f"the task is for field {task['field']!r}; inspectors.field must match", field="inspectors"
            )
        inspectors = asked
    body["inspectors"] = inspectors
    return PlanRequest.model_validate(body, strict=False)


def draw_task(
    lake: Lake,
    task_id: str,
    dreq: DrawRequest,
    principal: Principal,
    signer: Signer,
    *,
    now: dt.datetime | None = None,
    max_answer_bytes: int = MAX_ANSWER_BYTES,
) -> CreatedPlan:
    """The task's official draw (first), or a redraw with a reason that supersedes the last one."""
    task = load_task(lake, task_id)
    province = task["province"]
    draws = load_draws(lake, task_id)
    draw_no = len(draws) + 1
    previous = draws[-1]["plan_id"] if draws else None
    # a task or draw whose writer died before the chain is finished by the operator first, never
    # drawn on or superseded unrecorded (docs/adr/0140)
    if not audit.indexed(lake, province, ("task",), task_id):
        raise Conflict(f"task {task_id} is not on the audit chain; it cannot be drawn until an operator "
                       f"runs: creditrisk audit repair --province {province}", field="task_id")  # fmt: skip
    if previous is not None and not audit.indexed(lake, province, audit.OFFICIAL_KINDS, previous):
        raise Conflict(f"draw {draw_no - 1} of task {task_id} ({previous}) is not on the audit chain; "
                       f"an operator finishes it first: creditrisk audit repair --province {province}",
                       field="task_id")  # fmt: skip
    if previous is not None and dreq.reason is None:
        raise Conflict(
            f"task {task_id} has its official plan {previous}; a redraw needs a reason, one of: "
            f"{', '.join(REDRAW_REASONS)}",
            field="reason",
            official_plan_id=previous,
        )
    if previous is None and dreq.reason is not None:
        raise Unprocessable("the task has no plan yet: its first draw takes no redraw reason", field="reason")
    if draw_no > commit.MAX_DRAWS:
        raise Conflict(f"task {task_id} has had its {commit.MAX_DRAWS} draws", field="task_id")
    draw_key = layout.task_draw_key(province, task_id, draw_no)
    if lake.exists(draw_key):
        raise Conflict("another draw of this task is under way; try again", field="task_id")
    frame = task_frame(lake, task)
    req = plan_request_of(task, dreq)
    if scoped_digest(frame, _scope(task))[0] != task["frame_digest"]:
        raise Conflict("the frame fixed at registration cannot be rebuilt; the task cannot be drawn",
                       field="task_id")  # fmt: skip
    stored = audit.read_object(lake, layout.task_secret_key(province, task_id), "sampling object")
    if stored is None:
        raise StorageError(f"the committed secret of task {task_id} is missing")
    reveal = commit.key_for(str(stored["secret"]), draw_no)
    at = stamp(now)
    official = {
        "mode": "official",
        "task_id": task_id,
        "draw_no": draw_no,
        "commitment": task["commitment"],
        "reveal": reveal,
        "supersedes": previous,
        "redraw_reason": dreq.reason,
        "redraw_note": dreq.note,
        "exclusions": task["exclusions"],
    }
    seed = commit.seed_of(reveal, task_id, task["frame_digest"], draw_no)
    fixed = task.get("supervision_set")
    special = supervision.load(lake, province, fixed["digest"]) if fixed else None
    fixed_adj = task.get("adjustments")  # tasks registered before ADR 0142 have none
    adjusted = overlay.load(lake, task["month"], province, fixed_adj["digest"]) if fixed_adj else None
    made = make_plan(lake, req, principal, now=now, max_answer_bytes=max_answer_bytes, seed=seed,
                     frame=frame, official=official, special=special, adjusted=adjusted)  # fmt: skip
    record = {
        "draw_no": draw_no,
        "plan_id": made.plan_id,
        "at": at,
        "caller": principal.caller(),
        "reason": dreq.reason,
        "note": dreq.note,
        "supersedes": previous,
    }
    try:  # one draw per number: of two concurrent draws one is official, the other 409 (ADR 0126)
        lake.write_bytes(draw_key, _dumps(record), metadata={"Content-Type": "application/json"},
                         if_none_match=True)  # fmt: skip
    except WriteConflict:
        # the losing plan stays stored (nothing is deleted) but is neither a draw of the task nor
        # on the chain, so verification never takes it for official
        logger.warning("plan %s lost draw %d of task %s to a concurrent draw", made.plan_id, draw_no, task_id)
        raise Conflict(
            f"another draw of task {task_id} was made at the same time; read the task again",
            field="task_id",
        ) from None
    chain_draw(lake, signer, province, task_id, record, made.sha256, at, page_index=made.page_index)
    return made


def chain_task(lake: Lake, signer: Signer, task: dict[str, Any], data: bytes, at: str, **extra: Any) -> None:
    """The task's registration record (``data``: the stored task); ``extra`` marks a repair."""
    audit.append(lake, signer, task["province"], "task", task["task_id"], audit.sha256(data), at,
                 commitment=task["commitment"], frame_digest=task["frame_digest"], **extra)  # fmt: skip


def chain_draw(
    lake: Lake, signer: Signer, province: str, task_id: str, draw: dict[str, Any], subject: str, at: str,
    *, page_index: str | None, **extra: Any,
) -> None:  # fmt: skip
    """A draw's record: ``plan`` for the first, ``supersession`` for a redraw (``subject``: the
    stored plan's SHA-256, hashed as it was written, docs/adr/0153; ``page_index``: its page
    index's, ``None`` when it has none, docs/adr/0162)."""
    kind = "plan" if draw["supersedes"] is None else "supersession"
    audit.append(lake, signer, province, kind, draw["plan_id"], subject, at,
                 task_id=task_id, draw_no=draw["draw_no"], supersedes=draw["supersedes"],
                 reason=draw["reason"], mode="official", page_index=page_index, **extra)  # fmt: skip


def chain_test_plan(
    lake: Lake, signer: Signer, province: str, plan_id: str, subject: str, seed_generated: bool, at: str,
    *, page_index: str | None, **extra: Any,
) -> None:  # fmt: skip
    """A test plan's record: ``test_plan``, ``mode: test``, never one of a task's plans
    (``subject``: the stored plan's SHA-256; ``page_index``: as :func:`chain_draw`)."""
    audit.append(lake, signer, province, "test_plan", plan_id, subject, at, mode="test",
                 seed_from="server" if seed_generated else "caller", page_index=page_index,
                 **extra)  # fmt: skip


def draw_test_plan(
    lake: Lake,
    req: PlanRequest,
    principal: Principal,
    signer: Signer,
    *,
    now: dt.datetime | None = None,
    max_answer_bytes: int = MAX_ANSWER_BYTES,
) -> CreatedPlan:
    """A test-mode plan (the caller's seed allowed), on the chain as ``test_plan`` with
    ``mode: test``: visible to auditors, never one of a task's plans (docs/adr/0126)."""
    made = make_plan(lake, req, principal, now=now, max_answer_bytes=max_answer_bytes)
    chain_test_plan(lake, signer, req.province, made.plan_id, made.sha256, req.seed is None, stamp(now),
                    page_index=made.page_index)  # fmt: skip
    return made


def create_plan(
    lake: Lake, req: PlanRequest, principal: Principal, signer: Signer, *, now: dt.datetime | None = None
) -> tuple[str, str]:
    """A test plan on the chain; returns ``(plan_id, stored JSON text)`` (the demo, tests)."""
    made = draw_test_plan(lake, req, principal, signer, now=now)
    return made.plan_id, made.stored.decode("utf-8")
