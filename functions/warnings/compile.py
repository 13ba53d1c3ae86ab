"""Warning rules → SQL in Athena's dialect (Trino); DuckDB runs it through sqlglot.

Every compiled statement returns ``uscc``, ``fact`` (what fired, used in the dedup key),
``event_on`` (DATE) and evidence columns named ``ev_<name>``. Dates are computed here in Python
and inlined as ``DATE 'YYYY-MM-DD'`` literals so the SQL never relies on engine-specific date
arithmetic (the DATE vs TIMESTAMP and ``date_diff`` traps, docs/adr/0062); every inlined value
has been validated by :mod:`functions.warnings.config` (enums, integers, dates).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import sqlglot

from functions.coverage.requires import deadline_in, report_year_due
from functions.months import add_months
from functions.warnings.config import (
    AnnualReportOverdueParams,
    ChangeFrequencyParams,
    ClassJumpParams,
    ClusterParams,
    NewRecordParams,
    RelatedToClassParams,
    Rule,
    SurgeParams,
)
from schemas.datasets import DATASETS

SCOPE_TABLE = "warning_scope"  # one column ``uscc``: the entities an upload touched
CLASSES_TABLE = "class_current"  # the classification the class rules read
PREVIOUS_TABLE = "class_previous"
FULLWIDTH_DIGITS = "０１２３４５６７８９"


@dataclass(frozen=True)
class Period:
    month: str  # YYYY-MM
    start: dt.date
    end: dt.date
    class_month: str | None = None  # the classification month the class rules read

    @classmethod
    def of(cls, month: str, class_month: str | None = None) -> Period:
        y, m = int(month[:4]), int(month[5:7])
        return cls(month, dt.date(y, m, 1), dt.date(y, m, calendar.monthrange(y, m)[1]), class_month)


def d(value: dt.date) -> str:
    return f"DATE '{value.isoformat()}'"


def q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def in_list(values: Sequence[str]) -> str:
    return "(" + ", ".join(q(v) for v in values) + ")"


def _new_record(p: NewRecordParams, per: Period) -> str:
    spec = DATASETS[p.dataset]
    key, date = spec.key[0], spec.event_date
    ev = [f"t.{key} AS ev_{key}", f"t.{date} AS ev_{date}"] + [f"t.{c} AS ev_{c}" for c in p.evidence]
    where = [f"t.{date} BETWEEN {d(per.start)} AND {d(per.end)}"]
    where += [f"t.{col} IN {in_list(vals)}" for col, vals in sorted(p.where.items())]
    if p.exclude_withdrawn:
        where.append("(t.withdrawn IS NULL OR t.withdrawn = false)")
    if p.not_removed:
        where.append(f"(t.removed_on IS NULL OR t.removed_on > {d(per.end)})")
    return (
        f"SELECT t.uscc AS uscc, '{key}:' || CAST(t.{key} AS VARCHAR) AS fact, t.{date} AS event_on, "
        + ", ".join(ev)
        + f" FROM {p.dataset} t WHERE "
        + " AND ".join(where)
    )


def _cluster(p: ClusterParams, per: Period) -> str:
    if p.by == "address":
        k = (
            f"regexp_replace(translate(lower(trim(address)), '{FULLWIDTH_DIGITS}', '0123456789'), "
            r"'[\s\p{P}\p{S}]', '')"
        )
    else:
        k = "trim(legal_rep_id)"
    w = p.window_days - 1
    recent = per.start - dt.timedelta(days=p.window_days)
    return f"""
WITH e AS (
  SELECT uscc, established_on, {k} AS k FROM entities
  WHERE {p.by} IS NOT NULL AND established_on <= {d(per.end)}
), m AS (SELECT uscc, established_on, k FROM e WHERE length(k) > 0),
starts AS (SELECT DISTINCT k, established_on AS win_start FROM m),
clusters AS (
  SELECT s.k, s.win_start, CAST(date_add('day', {w}, s.win_start) AS DATE) AS win_end, count(*) AS n
  FROM starts s JOIN m ON m.k = s.k
   AND m.established_on BETWEEN s.win_start AND CAST(date_add('day', {w}, s.win_start) AS DATE)
  GROUP BY s.k, s.win_start HAVING count(*) >= {p.min_entities}
)
SELECT m.uscc AS uscc, '{p.by}:' || m.k AS fact, m.established_on AS event_on,
  m.k AS ev_{p.by}, max(c.n) AS ev_entities_in_window, min(c.win_start) AS ev_window_start,
  max(c.win_end) AS ev_window_end
FROM m JOIN clusters c ON c.k = m.k AND m.established_on BETWEEN c.win_start AND c.win_end
WHERE m.established_on >= {d(recent)}
GROUP BY m.uscc, m.k, m.established_on"""


def _change_frequency(p: ChangeFrequencyParams, per: Period) -> str:
    start = per.end - dt.timedelta(days=p.window_days - 1)
    counts = ", ".join(f"count_if(item = {q(i)}) AS ev_{i}_changes" for i in p.items)
    return f"""
SELECT uscc, 'window:{per.month}' AS fact, max(changed_on) AS event_on, count(*) AS ev_changes, {counts},
  min(changed_on) AS ev_first_change, max(changed_on) AS ev_last_change,
  {d(start)} AS ev_window_start, {d(per.end)} AS ev_window_end
FROM registration_changes
WHERE item IN {in_list(list(p.items))} AND changed_on BETWEEN {d(start)} AND {d(per.end)}
GROUP BY uscc
HAVING count(*) >= {p.min_changes} AND max(changed_on) >= {d(per.start)}"""


def _surge(p: SurgeParams, per: Period) -> str:
    trail_start = add_months(per.start, -p.trailing_months)
    trail_end = per.start - dt.timedelta(days=1)
    month = f"count_if(received_on BETWEEN {d(per.start)} AND {d(per.end)})"
    trail = f"count_if(received_on BETWEEN {d(trail_start)} AND {d(trail_end)})"
    mean = f"CAST({trail} AS DOUBLE) / {p.trailing_months}"
    extra = " AND substantiated = true" if p.substantiated_only else ""
    return f"""
SELECT uscc, 'month:{per.month}' AS fact, {d(per.end)} AS event_on, {month} AS ev_month_count,
  {mean} AS ev_trailing_mean, {p.trailing_months} AS ev_trailing_months
FROM complaints
WHERE received_on BETWEEN {d(trail_start)} AND {d(per.end)}{extra}
GROUP BY uscc
HAVING {month} >= {p.min_count} AND CAST({month} AS DOUBLE) >= {p.multiplier!r} * {mean}"""


_RANK = "CASE {c} WHEN 'A' THEN 1 WHEN 'B' THEN 2 WHEN 'C' THEN 3 WHEN 'D' THEN 4 END"


def _class_jump(p: ClassJumpParams, per: Period) -> str:
    cm = per.class_month or per.month
    prev = "coalesce(c.previous_class, p.risk_class)"
    return f"""
SELECT c.uscc AS uscc, 'month:{cm}' AS fact, {d(Period.of(cm).end)} AS event_on,
  {prev} AS ev_previous_class, c.risk_class AS ev_risk_class, c.risk_score AS ev_risk_score,
  '{cm}' AS ev_class_month
FROM {CLASSES_TABLE} c LEFT JOIN {PREVIOUS_TABLE} p ON p.uscc = c.uscc
WHERE {_RANK.format(c="c.risk_class")} - {_RANK.format(c=prev)} >= {p.min_steps}"""


def _annual_report_overdue(p: AnnualReportOverdueParams, per: Period) -> str:
    year = report_year_due(per.end, p.deadline)
    deadline = deadline_in(year + 1, p.deadline)
    return f"""
SELECT e.uscc AS uscc, 'year:{year}' AS fact, {d(deadline)} AS event_on, {year} AS ev_report_year,
  {d(deadline)} AS ev_deadline
FROM entities e
LEFT JOIN (SELECT DISTINCT uscc FROM annual_reports
           WHERE year = {year} AND filed_on IS NOT NULL AND filed_on <= {d(per.end)}) r ON r.uscc = e.uscc
WHERE r.uscc IS NULL AND e.status = 'active' AND e.established_on <= {d(dt.date(year, 12, 31))}
  AND e.entity_type IN {in_list(list(p.entity_types))}"""


def _related_to_class(p: RelatedToClassParams, per: Period) -> str:
    rels = list(p.relations)
    legal = (
        "UNION ALL SELECT uscc, legal_rep_id AS party_id, 'legal_rep' AS relation FROM entities "
        "WHERE legal_rep_id IS NOT NULL"
        if "legal_rep" in rels
        else ""
    )
    return f"""
WITH rel AS (
  SELECT DISTINCT uscc, party_id, relation FROM (
    SELECT uscc, party_id, relation FROM relationships
    WHERE relation IN {in_list(rels)} AND (since IS NULL OR since <= {d(per.end)})
      AND (until IS NULL OR until > {d(per.end)})
    {legal})
), bad AS (SELECT uscc, risk_class FROM {CLASSES_TABLE} WHERE risk_class IN {in_list(list(p.classes))}),
pairs AS (
  SELECT a.uscc, b.uscc AS related, a.relation AS via, 'shared_party' AS how
  FROM rel a JOIN rel b ON a.party_id = b.party_id AND a.uscc <> b.uscc JOIN bad ON bad.uscc = b.uscc
  UNION ALL
  SELECT a.uscc, a.party_id AS related, a.relation AS via, 'party_is_entity' AS how
  FROM rel a JOIN bad ON bad.uscc = a.party_id
)
SELECT pairs.uscc AS uscc, 'related:' || pairs.related AS fact, {d(per.end)} AS event_on,
  pairs.related AS ev_related_uscc, min(bad.risk_class) AS ev_related_class,
  array_join(array_sort(array_agg(DISTINCT pairs.via)), ',') AS ev_via,
  array_join(array_sort(array_agg(DISTINCT pairs.how)), ',') AS ev_how
FROM pairs JOIN bad ON bad.uscc = pairs.related
WHERE pairs.uscc NOT IN (SELECT uscc FROM bad)
GROUP BY pairs.uscc, pairs.related"""


def fact_in_period(rule: Rule, period: Period, fact: str, warning_month: str) -> bool:
    """Whether a run of ``period`` evaluates ``fact``: only then may its absence from the run's
    rows change an open warning's state (an event of another month is not looked at; an
    overdue report year other than the one due is not either)."""
    if rule.lifecycle == "event":
        return warning_month == period.month
    if rule.kind == "annual_report_overdue":
        p = rule.typed_params()
        return fact == f"year:{report_year_due(period.end, p.deadline)}"
    return True


def compile_rule(rule: Rule, period: Period, *, scoped: bool = False) -> str:
    """The Athena (Trino) statement of one rule for one period; ``scoped`` adds the upload filter."""
    p = rule.typed_params()
    builders = {
        "new_record": _new_record,
        "cluster": _cluster,
        "change_frequency": _change_frequency,
        "surge": _surge,
        "class_jump": _class_jump,
        "annual_report_overdue": _annual_report_overdue,
        "related_to_class": _related_to_class,
    }
    body: str = builders[rule.kind](p, period)  # type: ignore[operator]
    if scoped:
        body = f"SELECT * FROM ({body}) w WHERE w.uscc IN (SELECT uscc FROM {SCOPE_TABLE})"
    return body.strip()


def to_duckdb(sql: str) -> str:
    """The same statement in DuckDB's dialect (sqlglot, Trino → DuckDB)."""
    out: list[str] = sqlglot.transpile(sql, read="trino", write="duckdb")
    return out[0]
