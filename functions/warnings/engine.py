"""Run the warning rules for one month and province (monthly run, upload, or by hand).

Rules are compiled to Athena SQL and run over as-of views of the curated lake, on DuckDB
locally or on Athena in AWS (``settings.engine``; :mod:`functions.warnings.query`). New
warnings (keys never written before for the province) are written as one partition file per
run; those at or above their rule's dispatch severity become inspection tasks, and the
notifier is told once per run.
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
from functions.errors import InvalidInput
from functions.months import previous_month
from functions.warnings import store
from functions.warnings.compile import Period, compile_rule
from functions.warnings.config import RuleSet, dispatches, load_rules
from functions.warnings.notify import Notifier, TaskBatch, notifier_from_settings
from functions.warnings.query import QuerySource, Scope, class_scope, open_source

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)
TRIGGERS = ("monthly", "upload", "manual")


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

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rules"] = list(self.rules)
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


def validate_scope(month: str, province: str) -> None:
    if not layout.MONTH_RE.match(month or ""):
        raise InvalidInput("month must be YYYY-MM", field="month")
    if not layout.PROVINCE_RE.match(province or ""):
        raise InvalidInput("province must be a two-digit GB/T 2260 code", field="province")


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
) -> list[tuple[Any, pa.Table]]:
    """Run each selected rule; returns (rule, rows) pairs, rows limited to ``scope`` if given.

    The scope is applied in SQL where the source can (``warning_scope``) and always again here,
    so both engines answer the same whichever way the scope was applied."""
    out = []
    in_sql = scope is not None and source.scopes_in_sql
    for rule in rule_set.rules:
        if rule_ids and rule.id not in rule_ids:
            continue
        rows = source.query(compile_rule(rule, period, scoped=in_sql), label=f"warning rule {rule.ref}")
        if scope is not None and rows.num_rows:
            rows = rows.filter(pc.is_in(rows["uscc"], pa.array(sorted(scope), pa.string())))
        out.append((rule, rows))
    return out


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
) -> WarningRunResult:
    """Evaluate the rule set for ``month`` as of ``now``; write and dispatch what is new.

    ``uscc_filter`` limits the warnings to the entities an upload touched (the whole lake is
    still read, so clusters and relationships see every entity); ``[]`` means nothing to do.
    ``engine`` defaults to ``settings.engine`` (DuckDB locally, Athena in AWS).
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
    selected = tuple(r.ref for r in rule_set.rules if not rules or r.id in rules)
    if uscc_filter is not None and not uscc_filter:
        return WarningRunResult(
            run_id, month, province, trigger, rule_set.ref, class_month, selected, 0, 0, 0
        )

    cutoff = now.astimezone(dt.UTC)
    scope = Scope(
        province,
        cutoff,
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
    try:
        results = evaluate(
            source, rule_set, period, rule_ids=rules, scope=None if uscc_filter is None else set(uscc_filter)
        )
    finally:
        source.close()

    seen = store.existing_keys(lake, province)
    detected_at = now.astimezone(dt.UTC)
    warnings: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    candidates = duplicates = 0
    for rule, rows in results:
        threshold = rule_set.dispatch_at(rule)
        ev_cols = [c for c in rows.column_names if c.startswith("ev_")]
        for row in sorted(rows.to_pylist(), key=lambda r: (str(r["uscc"]), str(r["fact"]))):
            candidates += 1
            key = warning_key(rule.id, row["uscc"], row["fact"])
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
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
                "province": province,
                "month": month,
                "severity": rule.severity,
                "fact": row["fact"],
                "event_on": row["event_on"],
                "evidence": evidence,
                "detected_at": detected_at,
                "trigger": trigger,
                "run_id": run_id,
                "dispatched": dispatched,
            }
            warnings.append(w)
            if dispatched:
                tasks.append(
                    {
                        "task_id": f"T{key[:24]}",
                        "warning_key": key,
                        "rule": rule.ref,
                        "rule_name": rule.name_zh,
                        "uscc": row["uscc"],
                        "province": province,
                        "month": month,
                        "severity": rule.severity,
                        "evidence": evidence,
                        "created_at": detected_at,
                        "run_id": run_id,
                        "status": "open",
                    }
                )
    # Tasks first: a crash between the two writes leaves a task without its warning (re-raised
    # on re-run, idempotent by task id) rather than a warning whose task is lost forever.
    tasks_key = store.write_partition(
        lake, layout.tasks_key(month, province, run_id), tasks, store.TASK_SCHEMA
    )
    warnings_key = store.write_partition(
        lake, layout.warnings_key(month, province, run_id), warnings, store.WARNING_SCHEMA
    )
    by_rule = dict(sorted(Counter(w["rule_id"] for w in warnings).items()))
    notified, notify_error = False, None
    if tasks_key is not None:
        batch = TaskBatch(
            month,
            province,
            run_id,
            trigger,
            tasks_key,
            len(tasks),
            dict(sorted(Counter(t["rule"] for t in tasks).items())),
            dict(sorted(Counter(t["severity"] for t in tasks).items())),
        )
        try:
            (notifier or notifier_from_settings(settings, boto3_session=boto3_session)).notify(batch)
            notified = True
        except Exception as exc:  # the partition is the source of truth; report, don't lose it
            notify_error = f"{type(exc).__name__}: {exc}"
            logger.error("notifying %s tasks of run %s failed: %s", len(tasks), run_id, type(exc).__name__)
    logger.info(
        "warnings run %s %s/%s: %s candidates, %s new, %s duplicates, %s tasks",
        run_id,
        province,
        month,
        candidates,
        len(warnings),
        duplicates,
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
        len(warnings),
        duplicates,
        by_rule,
        warnings_key,
        len(tasks),
        tasks_key,
        notified,
        notify_error,
    )
