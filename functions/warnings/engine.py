"""Run the warning rules for one month and province (monthly run, upload, or by hand).

Rules are compiled to Athena SQL and run over as-of views of the curated lake, on DuckDB
locally or on Athena in AWS (``settings.engine``; :mod:`functions.warnings.query`). Before a
rule runs, its declared inputs are checked on the province's coverage: a rule whose inputs are
missing does not run and one data-gap alert per missing input says so (docs/adr/0104); so do the
inputs the month's classification held indicators back for (docs/adr/0138). The run
then moves warnings through their lifecycle (docs/adr/0103): new facts are raised ``open``,
open warnings the run looked at and no longer finds are ``resolved`` (standing conditions) or
``retracted`` (events of the month no longer found on corrected data), closed ones that fire
again are reopened; every transition is a new row. Dispatching warnings make one inspection
task per entity and month with every reason; the notifier is told once per run.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import logging
import math
import secrets
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from functions import layout
from functions.classify.gating import held_back
from functions.classify.run import published_manifest
from functions.coverage import store as coverage_store
from functions.coverage.requires import Need
from functions.errors import InvalidInput
from functions.layout import validate_scope
from functions.months import previous_month
from functions.warnings import store
from functions.warnings.compile import Period, compile_rule, fact_in_period, in_list
from functions.warnings.config import Rule, RuleSet, dispatches, load_rules, severity_rank
from functions.warnings.notify import Notifier, TaskBatch, notifier_from_settings
from functions.warnings.query import QuerySource, Scope, class_scope, open_source
from schemas.warnings import DATA_GAP_RULE

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)
TRIGGERS = ("monthly", "upload", "manual")
DATA_GAP_REF = f"{DATA_GAP_RULE}@1"
DATA_GAP_NAME = "数据缺失 input data missing"
DATA_GAP_SEVERITY = "medium"
SCORE_BATCH = 2000  # entity codes per inline list when reading tasked entities' classes


@dataclass(frozen=True)
class WarningRunResult:
    run_id: str
    month: str
    province: str
    trigger: str
    rule_set: str
    class_month: str | None
    rules: tuple[str, ...]
    candidates: int
    raised: int
    duplicates: int
    by_rule: dict[str, int] = field(default_factory=dict)
    warnings_key: str | None = None
    tasks: int = 0
    tasks_key: str | None = None
    notified: bool = False
    notify_error: str | None = None
    resolved: int = 0
    retracted: int = 0
    reopened: int = 0
    data_gaps: tuple[str, ...] = ()
    blocked_rules: tuple[str, ...] = ()
    gaps_resolved: int = 0
    gaps_updated: int = 0  # open data-gap alerts whose evidence grew (docs/adr/0138)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rules"] = list(self.rules)
        out["data_gaps"] = list(self.data_gaps)
        out["blocked_rules"] = list(self.blocked_rules)
        return out


def warning_key(rule_id: str, uscc: str, fact: str) -> str:
    """Deterministic: the same rule, entity and triggering fact always give the same key.

    The rule *version* is left out on purpose: re-tuning a rule must not re-raise facts that
    already raised a warning (docs/adr/0063)."""
    return hashlib.sha256(f"{rule_id}\x1f{uscc}\x1f{fact}".encode()).hexdigest()


def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        v = float(v)
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 6)
    return v


def published_months(lake: Lake, province: str) -> list[str]:
    """Months with a published classification for the province, ascending."""
    months = [d.split("=", 1)[1] for d in lake.list_dirs("results/classifications") if d.startswith("month=")]
    return sorted(m for m in months if lake.exists(layout.classification_key(m, province)))


def class_month_for(lake: Lake, month: str, province: str) -> str | None:
    """The latest published classification at or before ``month`` (uploads arrive mid-month)."""
    eligible = [m for m in published_months(lake, province) if m <= month]
    return eligible[-1] if eligible else None


def new_run_id(now: dt.datetime) -> str:
    return f"w{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def evaluate(
    source: QuerySource,
    rule_set: RuleSet,
    period: Period,
    *,
    rule_ids: list[str] | None,
    scope: set[str] | None,
    unscoped: frozenset[str] = frozenset(),
) -> list[tuple[Any, pa.Table]]:
    """Run each selected rule; returns (rule, rows) pairs, rows limited to ``scope`` if given
    (except for the rules in ``unscoped``: those whose missing inputs just arrived run for
    the whole province).

    The scope is applied in SQL where the source can (``warning_scope``) and always again here,
    so both engines answer the same whichever way the scope was applied."""
    out = []
    for rule in rule_set.rules:
        if rule_ids is not None and rule.id not in rule_ids:
            continue
        scoped = scope is not None and rule.id not in unscoped
        in_sql = scoped and source.scopes_in_sql
        rows = source.query(compile_rule(rule, period, scoped=in_sql), label=f"warning rule {rule.ref}")
        if scoped and scope is not None and rows.num_rows:
            rows = rows.filter(pc.is_in(rows["uscc"], pa.array(sorted(scope), pa.string())))
        out.append((rule, rows))
    return out


def rule_needs(rule: Rule, period: Period) -> list[Need]:
    """The concrete inputs ``rule`` needs for ``period``."""
    deadline = str(rule.params.get("deadline", "06-30"))
    return [r.need(period.start, period.end, deadline=deadline) for r in rule.requirements]


def task_id(province: str, month: str, uscc: str) -> str:
    """One task per entity and month: the id depends on nothing else."""
    return "T" + hashlib.sha256(f"{province}\x1f{month}\x1f{uscc}".encode()).hexdigest()[:24]


def _transition(
    row: dict[str, Any], state: str, *, at: dt.datetime, by: str, trigger: str, run_id: str, reason: str
) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "month"}
    out.update(
        state=state, state_at=at, state_by=by, state_trigger=trigger, run_id=run_id, state_reason=reason
    )
    return out


def grown_gap_evidence(old: dict[str, Any], found: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """An open data-gap alert's evidence with what a later run ``found`` added, and the reason
    of that transition; ``None`` when it adds nothing. Rules and indicators accumulate (a run of
    chosen rules or a later model never shrinks what the gap held back while open); ``missing``
    is the current one (coverage only grows, so it only narrows)."""
    merged = dict(old)
    added: list[str] = []
    for name in ("rules", "indicators"):
        before = list(old.get(name) or [])
        new = sorted(set(found.get(name) or []) - set(before))
        merged[name] = sorted({*before, *new})
        if new:
            added.append(f"{name} + {', '.join(new)}")
    if found.get("missing") and found["missing"] != old.get("missing"):
        merged["missing"] = found["missing"]
        added.append(f"missing now: {found['missing']}")
    return (merged, "evidence updated: " + "; ".join(added)) if added else None


def _class_of(source: QuerySource, usccs: list[str]) -> dict[str, tuple[str | None, float | None]]:
    """Class and score of the tasked entities in the classification the rules read."""
    from functions.warnings.compile import CLASSES_TABLE

    out: dict[str, tuple[str | None, float | None]] = {}
    for i in range(0, len(usccs), SCORE_BATCH):
        part = usccs[i : i + SCORE_BATCH]
        t = source.query(
            f"SELECT uscc, risk_class, risk_score FROM {CLASSES_TABLE} WHERE uscc IN {in_list(part)}",
            label="task classes",
        )
        for r in t.to_pylist() if t.num_rows else []:
            score = r["risk_score"]
            out[str(r["uscc"])] = (r["risk_class"], None if score is None else float(score))
    return out


def merge_tasks(
    existing: dict[str, dict[str, Any]],
    new_reasons: dict[str, list[dict[str, Any]]],
    classes: dict[str, tuple[str | None, float | None]],
    *,
    province: str,
    month: str,
    now: dt.datetime,
    run_id: str,
) -> list[dict[str, Any]]:
    """The task rows to append: one per entity with new reasons, every reason of the month
    kept, ranked by severity (then rule); the task's severity is its highest reason's."""
    out = []
    for uscc, reasons in sorted(new_reasons.items()):
        tid = task_id(province, month, uscc)
        old = existing.get(tid)
        merged = {r["warning_key"]: r for r in (old["reasons"] if old else [])}
        added = [r for r in reasons if r["warning_key"] not in merged]
        if not added:
            continue
        merged.update({r["warning_key"]: r for r in added})
        ranked = sorted(
            merged.values(), key=lambda r: (-severity_rank(r["severity"]), r["rule"], r["warning_key"])
        )
        risk_class, score = classes.get(uscc, (None, None))
        out.append(
            {
                "task_id": tid,
                "uscc": uscc,
                "severity": ranked[0]["severity"],
                "risk_class": risk_class,
                "risk_score": score,
                "reasons": ranked,
                "created_at": old["created_at"] if old else now,
                "updated_at": now,
                "run_id": run_id,
                "status": old["status"] if old else "open",
            }
        )
    return out


class Current:
    """The latest row of every warning of the province, kept in Arrow: a run looks up keys
    (a dict of key → row index) and turns into Python rows only the open warnings of the rules
    it re-evaluates and the warnings it changes."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.index = {k: i for i, k in enumerate(table["warning_key"].to_pylist())}
        self.states = table["state"].to_pylist()

    def is_open(self, key: str) -> bool:
        i = self.index.get(key)
        return i is not None and self.states[i] == "open"

    def get(self, key: str) -> dict[str, Any] | None:
        i = self.index.get(key)
        if i is None:
            return None
        row: dict[str, Any] = self.table.slice(i, 1).to_pylist()[0]
        return row

    def open_rows(self, rule_ids: set[str]) -> list[dict[str, Any]]:
        if not self.table.num_rows or not rule_ids:
            return []
        t = self.table
        mask = pc.and_(
            pc.equal(t["state"], "open"), pc.is_in(t["rule_id"], pa.array(sorted(rule_ids), pa.string()))
        )
        rows: list[dict[str, Any]] = t.filter(mask).to_pylist()
        return rows


def run_warnings(
    lake: Lake,
    *,
    month: str,
    province: str,
    uscc_filter: list[str] | None = None,
    trigger: str,
    now: dt.datetime,
    settings: Settings,
    rules: list[str] | None = None,
    notifier: Notifier | None = None,
    engine: str | None = None,
    athena_runner: Any = None,
    boto3_session: Any = None,
    actor: str | None = None,
) -> WarningRunResult:
    """Evaluate the rule set for ``month`` as of ``now``; write every new state and dispatch.

    ``uscc_filter`` limits the warnings to the entities an upload touched (the whole lake is
    still read, so clusters and relationships see every entity); ``[]`` means nothing to do.
    A rule whose missing inputs have just arrived runs for the whole province. ``engine``
    defaults to ``settings.engine`` (DuckDB locally, Athena in AWS). ``actor`` names who ran it
    (the transitions' ``state_by``; ``system`` when the platform did).
    """
    validate_scope(month, province)
    if trigger not in TRIGGERS:
        raise InvalidInput(f"trigger must be one of {', '.join(TRIGGERS)}", field="trigger")
    if now.tzinfo is None:
        raise InvalidInput("now must be timezone-aware", field="now")
    rule_set = load_rules(settings.warning_rules)
    for r in rules or []:
        rule_set.rule(r)  # unknown rule ids fail clearly
    run_id = new_run_id(now)
    class_month = class_month_for(lake, month, province)
    period = Period.of(month, class_month)
    selected_rules = [r for r in rule_set.rules if not rules or r.id in rules]
    selected = tuple(r.ref for r in selected_rules)
    if uscc_filter is not None and not uscc_filter:
        return WarningRunResult(
            run_id, month, province, trigger, rule_set.ref, class_month, selected, 0, 0, 0
        )
    at = now.astimezone(dt.UTC)
    by = actor or "system"

    # 1. Coverage (recorded first for curated files without: ADR 0133): which rules have their
    # inputs; one gap per missing input.
    coverage = coverage_store.ensure(lake, province)
    gaps: dict[str, dict[str, Any]] = {}
    runnable: list[Rule] = []
    for rule in selected_rules:
        unmet = [n for n in rule_needs(rule, period) if not n.met(coverage)]
        for n in unmet:
            g = gaps.setdefault(n.text, {"need": n, "rules": []})
            g["rules"].append(rule.id)
        if not unmet:
            runnable.append(rule)
    # Inputs the month's published classification held indicators back for (ADR 0132) get the
    # same alert, one per requirement whatever reads it (docs/adr/0138); a run of chosen rules
    # only looks at those rules' inputs.
    if not rules and class_month == month:
        manifest = published_manifest(lake, month, province)
        for text, indicators in sorted(held_back(manifest).items()):
            need = Need.parse(text)
            if need.met(coverage):
                continue  # delivered since the classification: nothing is missing any more
            g = gaps.setdefault(need.text, {"need": need, "rules": []})
            g["indicators"] = indicators
    blocked = tuple(sorted({rid for g in gaps.values() for rid in g["rules"]}))

    current = Current(store.current_warnings(lake, province))
    out_rows: dict[str, list[dict[str, Any]]] = {}  # month → rows to append

    def add(m: str, row: dict[str, Any]) -> None:
        out_rows.setdefault(m, []).append(row)

    # 2. Open data-gap alerts whose input has arrived are resolved; their rules run province-wide.
    unscoped: set[str] = set()
    gaps_resolved = 0
    for w in current.open_rows({DATA_GAP_RULE}):
        if w["fact"] in gaps:
            continue
        need = Need.parse(w["fact"])
        if need.met(coverage):
            reason = f"input delivered: {need.text}"
            add(
                w["month"],
                _transition(w, "resolved", at=at, by=by, trigger=trigger, run_id=run_id, reason=reason),
            )
            unscoped.update(json.loads(w["evidence"]).get("rules", []))
            gaps_resolved += 1
    gaps_updated = 0
    for text, g in sorted(gaps.items()):
        key = warning_key(DATA_GAP_RULE, "", text)
        old = current.get(key)
        need = g["need"]
        gap_evidence = {
            "dataset": need.dataset,
            "requirement": text,
            "missing": need.missing(coverage),
            "rules": sorted(g["rules"]),
            "indicators": g.get("indicators", []),
        }
        if old is not None and current.is_open(key):
            # Still open: never a second alert; a recorded transition (open → open) when this
            # run found the gap holding back more or other rules or indicators (ADR 0138).
            grown = grown_gap_evidence(json.loads(old["evidence"]), gap_evidence)
            if grown is not None:
                grown_evidence, why = grown
                row = {**old, "evidence": json.dumps(grown_evidence, ensure_ascii=False, sort_keys=True)}
                add(
                    old["month"],
                    _transition(row, "open", at=at, by=by, trigger=trigger, run_id=run_id, reason=why),
                )
                gaps_updated += 1
            continue
        row = {
            "warning_key": key,
            "rule": DATA_GAP_REF,
            "rule_id": DATA_GAP_RULE,
            "rule_name": DATA_GAP_NAME,
            "uscc": None,
            "severity": DATA_GAP_SEVERITY,
            "fact": text,
            "event_on": None,
            "evidence": json.dumps(gap_evidence, ensure_ascii=False, sort_keys=True),
            "detected_at": old["detected_at"] if old else at,
            "trigger": old["trigger"] if old else trigger,
            "run_id": run_id,
            "dispatched": False,
        }
        add(
            old["month"] if old else month,
            _transition(
                row, "open", at=at, by=by, trigger=trigger, run_id=run_id, reason=gap_evidence["missing"]
            ),
        )

    # 3. Evaluate the runnable rules.
    scope_set = None if uscc_filter is None else set(uscc_filter)
    scope = Scope(
        province,
        at,
        period.end,
        class_scope(class_month, previous_month(class_month) if class_month else None),
        None if uscc_filter is None else tuple(sorted(set(uscc_filter))),
    )
    source = open_source(
        lake,
        scope,
        settings=settings,
        engine=engine,
        job=run_id,
        athena_runner=athena_runner,
        boto3_session=boto3_session,
    )
    candidates = duplicates = resolved = retracted = reopened = 0
    raised: list[dict[str, Any]] = []
    new_reasons: dict[str, list[dict[str, Any]]] = {}
    try:
        results = evaluate(
            source,
            rule_set,
            period,
            rule_ids=[r.id for r in runnable],
            scope=scope_set,
            unscoped=frozenset(unscoped),
        )
        found: set[str] = set()
        for rule, rows in results:
            threshold = rule_set.dispatch_at(rule)
            ev_cols = [c for c in rows.column_names if c.startswith("ev_")]
            for row in sorted(rows.to_pylist(), key=lambda r: (str(r["uscc"]), str(r["fact"]))):
                candidates += 1
                key = warning_key(rule.id, row["uscc"], row["fact"])
                if key in found:
                    duplicates += 1
                    continue
                found.add(key)
                if current.is_open(key):
                    duplicates += 1
                    continue
                old = current.get(key)
                evidence = json.dumps(
                    {c[3:]: _jsonable(row[c]) for c in ev_cols}, ensure_ascii=False, sort_keys=True
                )
                dispatched = dispatches(rule.severity, threshold)
                w = {
                    "warning_key": key,
                    "rule": rule.ref,
                    "rule_id": rule.id,
                    "rule_name": rule.name_zh,
                    "uscc": row["uscc"],
                    "severity": rule.severity,
                    "fact": row["fact"],
                    "event_on": row["event_on"],
                    "evidence": evidence,
                    "detected_at": old["detected_at"] if old else at,
                    "trigger": old["trigger"] if old else trigger,
                    "run_id": run_id,
                    "dispatched": dispatched,
                }
                reason = "raised" if old is None else f"fires again (was {old['state']})"
                add(
                    old["month"] if old else month,
                    _transition(w, "open", at=at, by=by, trigger=trigger, run_id=run_id, reason=reason),
                )
                if old is None:
                    raised.append(w)
                else:
                    reopened += 1
                if dispatched:
                    new_reasons.setdefault(row["uscc"], []).append(
                        {k: w[k] for k in ("rule", "rule_name", "severity", "warning_key", "evidence")}
                    )
        # 4. Open warnings the run looked at and did not find again leave the open state.
        evaluated = {rule.id: rule for rule, _ in results}
        for w in current.open_rows(set(evaluated)):
            rule_ = evaluated[w["rule_id"]]
            if w["warning_key"] in found:
                continue
            in_scope = scope_set is None or rule_.id in unscoped or w["uscc"] in scope_set
            if not in_scope or w["state_at"] > at or not fact_in_period(rule_, period, w["fact"], w["month"]):
                continue  # not looked at by this run, or raised on data this run cannot see
            if rule_.lifecycle == "state":
                state, reason = "resolved", f"condition no longer holds in {month}"
                resolved += 1
            else:
                state, reason = "retracted", f"not found again for {w['month']} on the current data"
                retracted += 1
            add(
                w["month"], _transition(w, state, at=at, by=by, trigger=trigger, run_id=run_id, reason=reason)
            )
        classes = _class_of(source, sorted(new_reasons)) if new_reasons and class_month else {}
    finally:
        source.close()

    existing_tasks = {t["task_id"]: t for t in store.load_tasks(lake, month, province).to_pylist()}
    tasks = merge_tasks(
        existing_tasks, new_reasons, classes, province=province, month=month, now=at, run_id=run_id
    )
    # Tasks first: a crash between the writes leaves a task whose warning is raised again on the
    # re-run (the task id is per entity and month, so it is the same task), never a lost task.
    tasks_key = store.write_partition(
        lake, layout.tasks_key(month, province, run_id), tasks, store.TASK_SCHEMA
    )
    warnings_key = None
    for m, rows_ in sorted(out_rows.items()):
        written = store.write_partition(
            lake, layout.warnings_key(m, province, run_id), rows_, store.WARNING_SCHEMA
        )
        if m == month:
            warnings_key = written
    if out_rows:  # the next run reads this state, not the whole history
        store.compact(lake, province)
    by_rule = dict(sorted(Counter(w["rule_id"] for w in raised).items()))
    notified, notify_error = False, None
    if tasks_key is not None:
        batch = TaskBatch(
            month,
            province,
            run_id,
            trigger,
            tasks_key,
            len(tasks),
            dict(sorted(Counter(r["rule"] for t in tasks for r in t["reasons"]).items())),
            dict(sorted(Counter(t["severity"] for t in tasks).items())),
        )
        try:
            (notifier or notifier_from_settings(settings, boto3_session=boto3_session)).notify(batch)
            notified = True
        except Exception as exc:  # the partition is the source of truth; report, don't lose it
            notify_error = f"{type(exc).__name__}: {exc}"
            logger.error("notifying %s tasks of run %s failed: %s", len(tasks), run_id, type(exc).__name__)
    logger.info(
        "warnings run %s %s/%s: %s candidates, %s new, %s duplicates, %s resolved, %s retracted, "
        "%s reopened, %s data gaps, %s tasks",
        run_id,
        province,
        month,
        candidates,
        len(raised),
        duplicates,
        resolved,
        retracted,
        reopened,
        len(gaps),
        len(tasks),
    )
    return WarningRunResult(
        run_id,
        month,
        province,
        trigger,
        rule_set.ref,
        class_month,
        selected,
        candidates,
        len(raised),
        duplicates,
        by_rule,
        warnings_key,
        len(tasks),
        tasks_key,
        notified,
        notify_error,
        resolved,
        retracted,
        reopened,
        tuple(sorted(gaps)),
        blocked,
        gaps_resolved,
        gaps_updated,
    )
