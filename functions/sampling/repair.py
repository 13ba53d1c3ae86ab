"""``creditrisk audit repair``: finish or set aside what a writer that died left (docs/adr/0140).

Every step of a task registration, a draw and a chain append is written once, in an order that
leaves each crash point recognisable from the lake alone:

- a record beyond the head: sealed with the chain's key, its append is finished (the head moved
  to it); not sealed, it is copied to ``audit/<PP>/set-aside/`` and replaced, ``If-Match`` its
  ETag, by a ``repair`` record naming that copy and its SHA-256 (never appended, so nothing on
  the chain is rewritten, and nothing is lost);
- a record without its ref index entry or checkpoint: they are written;
- a claimed task slot whose task is not on the chain: the task record is appended once the
  stored task matches its committed secret; a claimed draw whose plan is not on the chain: its
  ``plan``/``supersession`` record, once the plan opens the task's commitment;
- a stored test plan not on the chain (drawn before test plans were, or its writer died): its
  ``test_plan`` record.

Each completed record carries ``repaired_by``; the run ends with one ``repair`` record listing
what it did, who ran it and when. A second run finds nothing to do and appends nothing. What
repair cannot mend (a head that does not verify, a broken link) is reported, never papered over.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.errors import CreditRiskError, StorageError, WriteConflict
from functions.sampling import audit, commit, page_index, tasks

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.sampling.signing import Signer

logger = logging.getLogger(__name__)


@dataclass
class Repair:
    """What a run did (``actions``) and what it could not mend (``problems``: exit 1)."""

    province: str
    actions: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Run:
    """What every step of one run shares: where, with which key, who runs it and when (written
    into the records it appends), whether it only reports, and what it reports."""

    lake: Lake
    signer: Signer
    province: str
    operator: str
    at: str
    dry_run: bool
    out: Repair

    @property
    def mark(self) -> dict[str, str]:
        """What each record this run completes carries."""
        return {"repaired_by": self.operator}


def repair(
    lake: Lake,
    signer: Signer,
    province: str,
    operator: str,
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> Repair:
    """Finish or set aside every unfinished append of ``province``; idempotent."""
    out = Repair(province)
    at = tasks.stamp(now)
    run = _Run(lake, signer, province, operator, at, dry_run, out)
    try:
        _pending(run)
    except (StorageError, CreditRiskError) as exc:
        out.problems.append(str(exc))
        return out
    check = audit.check_chain(lake, signer, province)
    head_seq = audit.signed_head(lake, signer, province)[0]
    problems = check.problems
    if dry_run and out.actions:  # the record beyond the head is still there: its problems are known
        beyond = layout.audit_record_key(province, head_seq + 1)
        problems = [p for p in problems if not (p.startswith(("the head (", f"record {head_seq + 1}:"))
                                                or beyond in p)]  # fmt: skip
    if problems:
        out.problems += problems
        return out
    records = check.records[:head_seq]  # a dry run: not the record beyond the head
    _index(run, records)
    on_chain = {(str(r.get("kind")), str(r.get("ref"))) for r in records}
    _tasks(run, on_chain)
    _test_plans(run, on_chain)
    if out.actions and not dry_run:
        summary = {"operator": operator, "at": at, "actions": out.actions}
        audit.append(lake, signer, province, "repair", f"{province}-r{secrets.token_hex(10)}",
                     audit.sha256(audit.canonical(summary)), at, operator=operator,
                     actions=out.actions)  # fmt: skip
        after = audit.check_chain(lake, signer, province)
        out.problems += after.problems
    for a in out.actions:
        logger.info("audit repair %s: %s", province, a)
    return out


def _pending(run: _Run) -> None:
    """The record beyond the head, if any: finished when sealed, else set aside."""
    lake, signer, province, out = run.lake, run.signer, run.province, run.out
    seq, prev, etag = audit.signed_head(lake, signer, province)
    found = audit.pending_record(lake, province, seq)
    if found is None:
        return
    data, record_etag = found
    try:
        record: Any = json.loads(data)
    except ValueError:
        record = None
    if audit.sealed(signer, province, record, seq + 1, prev):
        out.actions.append({"action": "finished_append", "seq": seq + 1, "kind": record["kind"],
                            "ref": record["ref"]})  # fmt: skip
        if not run.dry_run:
            audit.move_head(lake, signer, province, record, etag)
            audit.ensure_indexed(lake, signer, province, seq + 1, str(record["digest"]))
        return
    sha = audit.sha256(data)
    kept = layout.audit_set_aside_key(province, seq + 1, sha)
    action = {"action": "set_aside", "seq": seq + 1, "sha256": sha, "kept_at": kept}
    out.actions.append(action)
    if run.dry_run:
        return
    try:
        lake.write_bytes(kept, data, if_none_match=True)
    except WriteConflict:
        if audit.sha256(lake.read_bytes(kept)) != sha:
            raise StorageError(f"{lake.display(kept)} exists with other bytes; not overwritten") from None
    replacement: dict[str, Any] = {
        "seq": seq + 1, "province": province, "at": run.at, "kind": "repair",
        "ref": f"{province}-r{secrets.token_hex(10)}", "subject": sha, "prev": prev,
        "operator": run.operator, "actions": [action],
    }  # fmt: skip
    replacement["digest"] = audit.record_digest(replacement)
    replacement["seal"] = signer.sign(audit.seal_message(province, seq + 1, replacement["digest"]))
    try:  # only the record read: a writer that finished it meanwhile wins, and we look again
        lake.write_bytes(layout.audit_record_key(province, seq + 1), audit.canonical(replacement),
                         metadata={"Content-Type": "application/json"}, if_match=record_etag)  # fmt: skip
    except WriteConflict:
        raise StorageError(
            f"record #{seq + 1} changed while it was set aside; run the repair again"
        ) from None
    audit.move_head(lake, signer, province, replacement, etag)
    audit.ensure_indexed(lake, signer, province, seq + 1, replacement["digest"])


def _index(run: _Run, records: list[dict[str, Any]]) -> None:
    """Ref index entries and checkpoints a writer died before (two listings, then create-once)."""
    lake, province = run.lake, run.province
    refs = {f.key for f in lake.list_files(f"audit/{province}/refs")}
    cps = {f.key for f in lake.list_files(layout.audit_checkpoints_prefix(province))}
    for rec in records:
        seq = int(rec["seq"])
        ref_key = layout.audit_ref_key(province, str(rec.get("kind")), str(rec.get("ref")))
        cp_key = layout.audit_checkpoint_key(province, seq)
        if ref_key not in refs or (seq % audit.CHECKPOINT_EVERY == 0 and cp_key not in cps):
            run.out.actions.append(
                {"action": "indexed", "seq": seq, "kind": rec.get("kind"), "ref": rec.get("ref")}
            )
            if not run.dry_run:
                audit.write_index(lake, run.signer, province, rec)


def _tasks(run: _Run, on_chain: set[tuple[str, str]]) -> None:
    """Claimed slots whose task is not on the chain, and claimed draws whose plan is not."""
    lake, province, out = run.lake, run.province, run.out
    task_ids = []
    for f in lake.list_files(layout.task_slots_prefix(province), include_hidden=True):
        slot = audit.read_object(lake, f.key, "sampling object") or {}
        task_ids.append(str(slot.get("task_id")))
    for task_id in task_ids:
        try:
            data = tasks.load_task_bytes(lake, task_id)
            task: dict[str, Any] = json.loads(data)
        except (CreditRiskError, ValueError) as exc:
            out.problems.append(f"a slot names task {task_id}, which cannot be read: {exc}")
            continue
        if ("task", task_id) not in on_chain:
            stored = audit.read_object(lake, layout.task_secret_key(province, task_id), "sampling object")
            if stored is None or commit.commitment(str(stored.get("secret"))) != task.get("commitment"):
                out.problems.append(f"task {task_id} does not match its committed secret; not registered")
                continue
            out.actions.append({"action": "registered_task", "ref": task_id, "subject": audit.sha256(data)})
            if not run.dry_run:
                tasks.chain_task(lake, run.signer, task, data, run.at, **run.mark)
        for draw in tasks.load_draws(lake, task_id):
            plan_id = str(draw.get("plan_id"))
            if any((k, plan_id) in on_chain for k in audit.OFFICIAL_KINDS):
                continue
            try:
                stored_plan = lake.read_bytes(layout.plan_key(province, plan_id))
                plan = json.loads(stored_plan)
            except (FileNotFoundError, ValueError):
                out.problems.append(f"draw {draw.get('draw_no')} of task {task_id} names plan {plan_id}, "
                                    "which cannot be read")  # fmt: skip
                break
            draw_no = draw.get("draw_no")
            if (
                plan.get("task_id") != task_id
                or plan.get("draw_no") != draw_no
                or not isinstance(draw_no, int)
                or not commit.opens(str(plan.get("reveal")), draw_no, str(task.get("commitment")))
            ):
                out.problems.append(f"plan {plan_id} is not draw {draw_no} of task {task_id}; not recorded")
                break
            out.actions.append({"action": "recorded_draw", "ref": plan_id, "task_id": task_id,
                                "draw_no": draw_no, "subject": audit.sha256(stored_plan)})  # fmt: skip
            if not run.dry_run:
                tasks.chain_draw(lake, run.signer, province, task_id, draw, audit.sha256(stored_plan), run.at,
                                 page_index=page_index.digest(lake, plan_id), **run.mark)  # fmt: skip


def _test_plans(run: _Run, on_chain: set[tuple[str, str]]) -> None:
    """Stored test plans not on the chain get their ``test_plan`` record (adopted: ``repaired_by``
    says when, so a change made before adoption is not vouched for); an official plan that is no
    draw of its task (its writer died before claiming the draw) stays off the chain, noted."""
    lake, out = run.lake, run.out
    recorded = {ref for _, ref in on_chain} | {str(a.get("ref")) for a in out.actions}
    for f in lake.list_files(layout.plans_prefix(run.province), recursive=False):
        plan_id = f.key.rsplit("/", 1)[-1].removesuffix(".json")
        if plan_id in recorded or not layout.PLAN_ID_RE.match(plan_id):
            continue
        try:
            data = lake.read_bytes(f.key)
            plan = json.loads(data)
        except (FileNotFoundError, ValueError):
            out.problems.append(f"plan {plan_id} cannot be read")
            continue
        if plan.get("task_id") is not None or plan.get("mode") == "official":
            out.notes.append(f"plan {plan_id} is no draw of its task (never official); left off the chain")
            continue
        out.actions.append({"action": "adopted_test_plan", "ref": plan_id, "subject": audit.sha256(data)})
        if not run.dry_run:
            seed_generated = bool(plan.get("seed_generated"))
            tasks.chain_test_plan(
                lake,
                run.signer,
                run.province,
                plan_id,
                audit.sha256(data),
                seed_generated,
                run.at,
                page_index=page_index.digest(lake, plan_id),
                **run.mark,
            )
