"""Compile an indicator system into one Trino (Athena) ``SELECT`` (ADR 0032).

Indicators, points, scores, hard rules, classes, reasons and the previous class all happen in
SQL, so in production the data never leaves Athena; DuckDB runs the same text through sqlglot,
except the reasons' last decode from ranked keys to (code, label, points), which it leaves to
Arrow (``Compiled.keyed_sql``, ADR 0069).
Dialect traps are avoided by construction: window bounds are DATE literals computed here (no
``date_add``/``date_diff`` in generated SQL), every value is cast to DOUBLE before arithmetic, and
sums use DECIMAL so the result does not depend on the summation order (determinism).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from functions.classify.curated_views import FIELD_RESULTS_TABLE, RESULTS_TABLE, as_of_ctes, date_literal
from functions.classify.system import CLASS_INDEX, Indicator, System
from functions.errors import ConfigError
from functions.months import month_end, previous_month, window_start
from schemas.datasets import DATASETS
from schemas.results import DIMENSIONS, RISK_CLASSES

# Built at import (Lambda's init phase, once per container): a dialect's tokenizer and parser
# tables take ~60 ms to build on first use, which would otherwise fall on a run.
TRINO, DUCKDB = Dialect.get_or_raise("trino"), Dialect.get_or_raise("duckdb")
MAX_REASONS = 5
RANK_BASE = 1000  # more than the leaves of any system
EXCLUDED_STATUSES = ("cancelled", "moved_out")


@dataclass(frozen=True)
class Compiled:
    """The compiled run: one Trino statement plus what it was compiled for."""

    system: System
    month: str
    province: str
    cutoff: dt.datetime
    run_id: str
    period_end: dt.date
    sql: str
    # The same statement with ``reasons`` left as the ranked BIGINT keys the full statement
    # decodes, and the (code, label) of each rank (rank r at r − 1): DuckDB runs this one and
    # the engine attaches codes and labels as Arrow dictionaries (ADR 0069).
    keyed_sql: str
    reason_labels: tuple[tuple[str, str], ...]
    datasets: tuple[str, ...]
    # entity type -> model (id@version) when a run classifies types with different systems
    models: tuple[tuple[str, str], ...] = ()

    @property
    def statements(self) -> list[str]:
        return [self.sql]


def reason_ranks(systems: list[System]) -> dict[tuple[str, str], int]:
    """Rank (from 1) of every scored leaf's (code, label) across ``systems``, in code order: the
    reasons' sort key breaks ties of points by this rank, and one table decodes every system of
    a run (ADR 0037, 0069)."""
    pairs = sorted({(ind.code, ind.label) for s in systems for ind, _, _ in s.leaves()})
    if len(pairs) >= RANK_BASE:
        names = ", ".join(s.model_ref for s in systems)
        raise ConfigError(
            f"{names}: {len(pairs)} scored indicators; at most {RANK_BASE - 1} fit the reasons' sort key",
            field="indicators",
        )
    return {pair: n for n, pair in enumerate(pairs, 1)}


def _vcol(code: str) -> str:
    return f"v_{code.lower()}"


def _pcol(code: str) -> str:
    return f"p_{code.lower()}"


def _sql_text(text: str, replace: dict[str, str]) -> str:
    """Rewrite a user expression: placeholders → DATE literals, names → compiled columns."""
    tree = sqlglot.parse_one(text, read="trino")

    def swap(node: Any) -> Any:
        if isinstance(node, exp.Column) and not node.table:
            key = node.name.lower()
            if key in replace:
                return sqlglot.parse_one(replace[key], read="trino")
        return node

    def as_double(node: Any) -> Any:
        if isinstance(node, exp.Div) and not isinstance(node.this, exp.Cast):
            # Trino divides integers as integers, DuckDB does not: make every division DOUBLE.
            return exp.Div(this=exp.cast(node.this, "DOUBLE"), expression=node.expression)
        return node

    return str(tree.transform(swap).transform(as_double).sql(dialect="trino"))


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _clamp(value: str, low: str, high: str) -> str:
    """``value`` limited to [low, high] (NULL stays NULL). Written as a CASE, not
    ``LEAST(high, GREATEST(low, value))``: Trino's LEAST/GREATEST return NULL for any NULL
    argument and DuckDB's skip NULLs, so sqlglot wraps each in NULL checks that repeat ``value``
    (the score's sum of every leaf three times over)."""
    return f"CASE WHEN {value} < {low} THEN {low} WHEN {value} > {high} THEN {high} ELSE {value} END"


def _points_sql(ind: Indicator, value: str) -> str:
    assert ind.scoring is not None
    s = ind.scoring
    if s.linear is not None:
        lin = s.linear
        raw = f"({value} - CAST({lin.offset!r} AS DOUBLE)) * CAST({lin.slope!r} AS DOUBLE)"
        return _clamp(raw, "CAST(0 AS DOUBLE)", f"CAST({lin.cap!r} AS DOUBLE)")
    assert s.bins is not None
    whens = []
    for b in s.bins:
        cond = f"{value} >= {b.min!r}" + (f" AND {value} < {b.max!r}" if b.max is not None else "")
        whens.append(f"WHEN {cond} THEN CAST({b.points!r} AS DOUBLE)")
    return f"CASE {' '.join(whens)} ELSE CAST(0 AS DOUBLE) END"


def _window(ind: Indicator, period_end: dt.date) -> tuple[str, dt.date] | None:
    """The indicator's look-back as (date column, exclusive start), or None without one: the one
    definition both its aggregate and the dataset's pre-filter (``_window_filter``) use."""
    d = ind.definition
    if d is None or d.window_months is None:
        return None
    return d.date_column or DATASETS[d.dataset].event_date, window_start(period_end, d.window_months)


def _condition(ind: Indicator, placeholders: dict[str, str], period_end: dt.date) -> str | None:
    """The rows the indicator's aggregate takes (its ``where``, inside its window), or None when
    it takes every row."""
    d = ind.definition
    assert d is not None
    conds: list[str] = []
    if d.where:
        conds.append(f"({_sql_text(d.where, placeholders)})")
    window = _window(ind, period_end)
    if window is not None:
        column, start = window
        conds.append(f"{column} > {date_literal(start)} AND {column} <= {date_literal(period_end)}")
    elif d.date_column is not None:
        conds.append(f"{d.date_column} <= {date_literal(period_end)}")
    return " AND ".join(conds) or None


def _aggregate_sql(ind: Indicator, placeholders: dict[str, str], period_end: dt.date) -> str:
    d = ind.definition
    assert d is not None
    cond = _condition(ind, placeholders, period_end) or "TRUE"
    expr = _sql_text(d.expression, placeholders) if d.expression else "1"
    if d.aggregate == "count":
        return f"CAST(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS DOUBLE)"
    if d.aggregate == "sum":
        return f"CAST(SUM(CASE WHEN {cond} THEN CAST({expr} AS DECIMAL(38, 4)) END) AS DOUBLE)"
    if d.aggregate == "count_distinct":
        return f"CAST(COUNT(DISTINCT CASE WHEN {cond} THEN {expr} END) AS DOUBLE)"
    return f"CAST({d.aggregate.upper()}(CASE WHEN {cond} THEN CAST({expr} AS DOUBLE) END) AS DOUBLE)"


def _window_filter(members: list[Indicator], period_end: dt.date) -> str | None:
    """The span of the indicators' windows over a dataset (rows outside it count for none of
    them: years of history otherwise flow through every aggregation), or None when some
    indicator reads the whole history. Part of ``_row_filter``."""
    starts: dict[str, dt.date] = {}
    for ind in members:
        window = _window(ind, period_end)
        if window is None:
            return None
        column, start = window
        starts[column] = min(start, starts.get(column, start))
    return " OR ".join(
        f"({column} > {date_literal(start)} AND {column} <= {date_literal(period_end)})"
        for column, start in sorted(starts.items())
    )


def _row_filter(members: list[Indicator], placeholders: dict[str, str], period_end: dt.date) -> str | None:
    """The rows of a dataset that some indicator over it takes, or None for all of them.

    Every aggregate is ``AGG(CASE WHEN <condition> …)``, so a row no indicator's condition takes
    adds nothing to any of them, and an entity left with no rows gets the same value (0) through
    the join's COALESCE: such rows are dropped before the group-by, which then builds groups only
    for the entities that have something to count (ADR 0030). The windows' span comes first, as a
    plain date range the Parquet scan can use; the indicators' own conditions follow when each
    has one (otherwise they would not narrow it). The filter applies to the as-of rows, after
    the latest-per-key dedup, so a correction that moves a date or withdraws a record counts as
    corrected."""
    parts = []
    window = _window_filter(members, period_end)
    if window:
        parts.append(window)
    if all(ind.definition and ind.definition.where for ind in members):
        conds = dict.fromkeys(_condition(ind, placeholders, period_end) for ind in members)
        parts.append(" OR ".join(f"({c})" for c in conds))
    if len(parts) == 1:
        return parts[0]
    return " AND ".join(f"({p})" for p in parts) or None


ENTITY_COLUMNS = (
    "uscc",
    "name",
    "entity_type",
    "region_code",
    "industry_code",
    "status",
    "status_changed_on",
    "established_on",
)


def population_members(system: System) -> list[Indicator]:
    """A field system's population definitions as count indicators (docs/adr/0118): the same
    conditions, windows and columns as an indicator's, so one code path compiles both."""
    if system.field is None:
        return []
    return [
        Indicator(code=f"POPULATION_{n}", label_zh="-", label_en="-", weight=1, definition=d)
        for n, d in enumerate(system.field.population)
    ]


def used_columns(system: System, datasets: list[str]) -> dict[str, tuple[str, ...]]:
    """Per dataset, the columns the system's indicators read (the as-of views project only these)."""
    out: dict[str, set[str]] = {name: {"uscc"} for name in datasets}
    out["entities"] |= set(ENTITY_COLUMNS)
    for ind in [i for i, _, _ in system.leaves()] + population_members(system):
        d = ind.definition
        if d is None:
            continue
        spec = DATASETS[d.dataset]
        cols = out[d.dataset]
        cols.add(d.date_column or spec.event_date)
        for text in (d.expression, d.where):
            if text:
                cols |= {c.name for c in sqlglot.parse_one(text, read="trino").find_all(exp.Column)}
        out[d.dataset] = cols & set(spec.columns)
    return {name: tuple(sorted(cols)) for name, cols in out.items()}


def datasets_read(system: System) -> tuple[str, ...]:
    """The curated datasets a run of ``system`` reads (entities always)."""
    leaves = [ind for ind, _, _ in system.leaves()] + population_members(system)
    return tuple(sorted({"entities"} | {ind.definition.dataset for ind in leaves if ind.definition}))


def compile_system(
    system: System,
    *,
    month: str,
    province: str,
    cutoff: dt.datetime,
    run_id: str,
    single_ingest: frozenset[str] = frozenset(),
    ingests: dict[str, tuple[str, ...]] | None = None,
    entity_types: tuple[str, ...] | None = None,
    ordered: bool = True,
    ranks: dict[tuple[str, str], int] | None = None,
    gated: frozenset[str] = frozenset(),
) -> Compiled:
    """``entity_types``: classify only these types (within the system's own ``entity_types``).
    ``gated``: indicator codes held back for missing inputs (``gating.gate``): nothing of them is
    computed; they score no points and give no reason, and hard rules see 0 (no records), so a
    gated indicator never makes a rule fire while the rule's other terms still count.
    ``ordered``: rows in uscc order (``compile_by_type`` orders the union instead).
    ``ranks``: the reasons' code ranks (``reason_ranks``), shared by the systems of one run.
    ``single_ingest``: datasets with exactly one curated file for the province (no dedup).
    ``ingests``: per dataset, its ingest ids oldest first (``run.ingest_plan``): the latest
    version per key is then found without a window (ADR 0036)."""
    period_end = month_end(month)
    leaves = system.leaves()
    datasets = list(datasets_read(system))
    placeholders = {
        "period_end": date_literal(period_end),
        "period_start": date_literal(window_start(period_end, 12)),
    }
    ctes = as_of_ctes(
        used_columns(system, datasets),
        province=province,
        cutoff=cutoff,
        period_end=period_end,
        single_ingest=single_ingest,
        ingests=ingests,
    )

    # base: the entities classified this month, with their per-entity values.
    statuses = ", ".join(_quote(s) for s in EXCLUDED_STATUSES)
    wanted_types = [t for t in system.entity_types if entity_types is None or t in entity_types]
    types = ", ".join(_quote(t) for t in wanted_types) or "NULL"
    entity_values = [
        f"CAST({_sql_text(ind.definition.expression or '0', placeholders)} AS DOUBLE) AS {_vcol(ind.code)}"
        for ind, _, _ in leaves
        if ind.definition and ind.definition.aggregate == "value"
    ]
    base_cols = ", ".join(["uscc", "name", "entity_type", "region_code", "industry_code", *entity_values])
    # a field system classifies its field's population only (docs/adr/0118)
    population = [
        f"SELECT uscc FROM {ind.definition.dataset} WHERE "
        f"{_condition(ind, placeholders, period_end) or 'TRUE'}"
        for ind in population_members(system)
        if ind.definition
    ]
    in_field = ""
    if population:
        ctes.append(("population", " UNION ".join(population)))
        in_field = " AND uscc IN (SELECT uscc FROM population)"
    ctes.append(
        (
            "base",
            f"SELECT {base_cols} FROM entities "
            f"WHERE entity_type IN ({types}) AND NOT (status IN ({statuses}) AND "
            f"(status_changed_on IS NULL OR status_changed_on <= {date_literal(period_end)})){in_field}",
        )
    )
    # one aggregate per dataset read by record indicators (one group-by over the union of all
    # datasets was measured slower and larger: every row then updates every indicator's state),
    # over the rows inside the indicators' windows only
    joins: list[str] = []
    value_cols: list[str] = []
    for ds in datasets:
        members = [
            ind
            for ind, _, _ in leaves
            if ind.definition
            and ind.definition.dataset == ds
            and ind.definition.aggregate != "value"
            and ind.code not in gated
        ]
        if not members:
            continue
        aggs = ", ".join(
            f"{_aggregate_sql(ind, placeholders, period_end)} AS {_vcol(ind.code)}" for ind in members
        )
        rows = _row_filter(members, placeholders, period_end)
        where = f" WHERE {rows}" if rows else ""
        ctes.append((f"agg_{ds}", f"SELECT uscc, {aggs} FROM {ds}{where} GROUP BY uscc"))
        joins.append(f"LEFT JOIN agg_{ds} ON agg_{ds}.uscc = base.uscc")
        value_cols += [
            f"COALESCE(agg_{ds}.{_vcol(ind.code)}, CAST(0 AS DOUBLE)) AS {_vcol(ind.code)}" for ind in members
        ]
    value_cols += [f"CAST(0 AS DOUBLE) AS {_vcol(ind.code)}" for ind, _, _ in leaves if ind.code in gated]
    entity_value_cols = [
        f"COALESCE(base.{_vcol(ind.code)}, CAST(0 AS DOUBLE)) AS {_vcol(ind.code)}"
        for ind, _, _ in leaves
        if ind.definition and ind.definition.aggregate == "value"
    ]
    ident = "base.uscc, base.name, base.entity_type, base.region_code, base.industry_code"
    ctes.append(
        ("vals", f"SELECT {', '.join([ident, *entity_value_cols, *value_cols])} FROM base {' '.join(joins)}")
    )

    # points (weighted) per leaf, per dimension, and the score
    points = [
        f"CAST(0 AS DOUBLE) AS {_pcol(ind.code)}"
        if ind.code in gated
        else f"CAST({weight!r} AS DOUBLE) * {_points_sql(ind, _vcol(ind.code))} AS {_pcol(ind.code)}"
        for ind, weight, _ in leaves
    ]
    ctes.append(("pts", f"SELECT vals.*, {', '.join(points)} FROM vals"))
    dims = []
    for dim in DIMENSIONS:
        in_dim = [_pcol(ind.code) for ind, _, d in leaves if d == dim]
        dims.append(f"{' + '.join(in_dim) if in_dim else 'CAST(0 AS DOUBLE)'} AS d_{dim}")
    score = " + ".join(_pcol(ind.code) for ind, _, _ in leaves)
    rule_names = {ind.code.lower(): _vcol(ind.code) for ind, _, _ in leaves}
    flags = [
        f"COALESCE(({_sql_text(r.when, rule_names)}), FALSE) AS r_{r.code.lower()}" for r in system.rules
    ]
    ctes.append(
        (
            "scored",
            f"SELECT pts.*, {', '.join(dims + flags)}, "
            f"{_clamp(score, 'CAST(0 AS DOUBLE)', 'CAST(100 AS DOUBLE)')} AS risk_score FROM pts",
        )
    )

    # class: score class, raised by at-least rules, overridden by set rules
    m = system.classes
    if m.method == "cutoffs":
        assert m.cutoffs is not None
        score_idx = (
            f"CASE WHEN risk_score >= {m.cutoffs['D']!r} THEN 3 WHEN risk_score >= {m.cutoffs['C']!r} THEN 2 "
            f"WHEN risk_score >= {m.cutoffs['B']!r} THEN 1 ELSE 0 END"
        )
    elif m.method == "shares":
        assert m.shares is not None
        acc, parts = 0.0, []
        shares = {str(k): v for k, v in m.shares.items()}
        for cls in RISK_CLASSES[:-1]:
            acc += shares[cls]
            parts.append(f"WHEN cume_dist() OVER (ORDER BY risk_score) <= {acc!r} THEN {CLASS_INDEX[cls]}")
        score_idx = f"CASE {' '.join(parts)} ELSE 3 END"
    else:
        score_idx = "0"
    set_terms = [
        f"CASE WHEN r_{r.code.lower()} THEN {CLASS_INDEX[r.risk_class]} ELSE -1 END"
        for r in system.rules
        if r.mode == "set"
    ]
    least_terms = [
        f"CASE WHEN r_{r.code.lower()} THEN {CLASS_INDEX[r.risk_class]} ELSE 0 END"
        for r in system.rules
        if r.mode == "at_least"
    ]
    set_idx = f"GREATEST({', '.join(['-1', '-1', *set_terms])})"
    least_idx = f"GREATEST({', '.join(['score_idx', '0', *least_terms])})"
    ctes.append(("score_classed", f"SELECT scored.*, {score_idx} AS score_idx FROM scored"))
    ctes.append(
        (
            "classed",
            f"SELECT score_classed.*, "
            f"CASE WHEN {set_idx} >= 0 THEN {set_idx} ELSE {least_idx} END AS class_idx "
            "FROM score_classed",
        )
    )
    prev = previous_month(month)
    # a field's previous class is the field's own (its partition, docs/adr/0117)
    prev_from = (
        f"{FIELD_RESULTS_TABLE} WHERE field = {_quote(system.field.name)} AND"
        if system.field
        else f"{RESULTS_TABLE} WHERE"
    )
    ctes.append(
        ("prev", f"SELECT uscc, risk_class FROM {prev_from} month = '{prev}' AND province = '{province}'")
    )

    # Reasons: each leaf becomes one BIGINT sort key, -(points × 10^4 × 1000 + (1000 − code rank)),
    # so an ascending sort puts the most points first and breaks ties by code; keep the top ones,
    # and only then decode points and rank and look up code and label. Sorting plain integers is
    # far cheaper than sorting rows, and building every leaf's label per row was the costliest
    # step once. Decoding takes the rank with an integer ``mod`` and divides only DOUBLEs (an
    # integer ``/`` truncates on Trino, not on DuckDB): (-x - rank part) is an exact multiple of
    # 1000, so dividing it by 10^7 gives the same double as (points × 10^4) / 10^4.
    ranks = ranks or reason_ranks([system])
    by_leaf = {ind.code: ranks[(ind.code, ind.label)] for ind, _, _ in leaves}
    table = sorted(ranks, key=ranks.__getitem__)
    keys = ", ".join(
        f"-(CAST(round({_pcol(ind.code)} * 10000) AS BIGINT) * {RANK_BASE} + {RANK_BASE - by_leaf[ind.code]})"
        for ind, _, _ in leaves
    )
    codes = ", ".join(_quote(code) for code, _ in table)
    labels = ", ".join(_quote(label) for _, label in table)
    rest = f"mod(-x, {RANK_BASE})"
    rank = f"CAST({RANK_BASE} - {rest} AS INTEGER)"
    reason_points = f"CAST(-x - {rest} AS DOUBLE) / CAST({RANK_BASE * 10000} AS DOUBLE)"
    reason_keys = f"slice(array_sort(filter(ARRAY[{keys}], x -> x <= -{RANK_BASE})), 1, {MAX_REASONS})"
    reasons = (
        f"transform({reason_keys}, "
        f"x -> CAST(ROW(element_at(ARRAY[{codes}], {rank}), element_at(ARRAY[{labels}], {rank}), "
        f"{reason_points}) AS ROW(code VARCHAR, label VARCHAR, points DOUBLE)))"
    )
    if system.rules:
        fired = ", ".join(f"IF(r_{r.code.lower()}, {_quote(r.code)})" for r in system.rules)
        rules = f"filter(ARRAY[{fired}], x -> x IS NOT NULL)"
    else:
        rules = "CAST(ARRAY[] AS ARRAY(VARCHAR))"
    dim_row = ", ".join(f"round(d_{d}, 4)" for d in DIMENSIONS)
    dim_type = ", ".join(f"{d} DOUBLE" for d in DIMENSIONS)
    class_case = (
        "CASE class_idx " + " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(RISK_CLASSES)) + " END"
    )
    # The rows are put in uscc order before the reasons, dimensions and labels are built, so the
    # sort moves a few numbers per entity rather than its labelled reasons (ADR 0039). The order
    # is the subquery's: DuckDB keeps it through the projection (``preserve_insertion_order``,
    # checked batch by batch as the result is written); Trino ignores it, as it would a final
    # ORDER BY in the CTAS.
    joined = (
        "SELECT classed.*, prev.risk_class AS prev_class FROM classed "
        "LEFT JOIN prev ON prev.uscc = classed.uscc"
    )

    with_ctes = "WITH " + ",\n".join(f"{name} AS ({body})" for name, body in ctes) + "\n"
    columns = (
        "SELECT c.uscc AS uscc, c.name AS name, c.entity_type AS entity_type, "
        "c.region_code AS region_code, c.industry_code AS industry_code, "
        f"round(c.risk_score, 4) AS risk_score, {class_case} AS risk_class, c.prev_class AS previous_class, "
        f"CAST(ROW({dim_row}) AS ROW({dim_type})) AS dimension_scores, "
    )
    rest_of_row = (
        f" AS reasons, {rules} AS rules, {_quote(system.model_ref)} AS model, {_quote(run_id)} AS run_id "
        f"FROM ({joined}{' ORDER BY classed.uscc' if ordered else ''}) AS c"
    )

    def final(reasons: str) -> str:
        return with_ctes + columns + reasons + rest_of_row

    return Compiled(
        system,
        month,
        province,
        cutoff,
        run_id,
        period_end,
        final(reasons),
        final(reason_keys),
        tuple(table),
        tuple(datasets),
    )


def compile_by_type(
    assignments: list[tuple[System, tuple[str, ...]]],
    *,
    month: str,
    province: str,
    cutoff: dt.datetime,
    run_id: str,
    ingests: dict[str, tuple[str, ...]] | None = None,
    gated: dict[str, frozenset[str]] | None = None,
) -> Compiled:
    """``gated``: per system (``model_ref``), the indicator codes held back (``gating.gate``).

    One statement classifying each group of entity types with its own system (ADR 0037): the
    union of each system's SELECT restricted to its types, ordered by uscc. Each row's ``model``
    names the system that classified it. The first assignment is the run's main system."""
    part = functools.partial(
        compile_system, month=month, province=province, cutoff=cutoff, run_id=run_id, ingests=ingests
    )
    if len(assignments) == 1:
        system, types = assignments[0]
        one = part(system, entity_types=types, gated=(gated or {}).get(system.model_ref, frozenset()))
        return dataclasses.replace(one, models=tuple((t, system.model_ref) for t in types))
    ranks = reason_ranks([system for system, _ in assignments])
    parts = [
        part(
            system,
            entity_types=types,
            ordered=False,
            ranks=ranks,
            gated=(gated or {}).get(system.model_ref, frozenset()),
        )
        for system, types in assignments
    ]

    def union(sqls: list[str]) -> str:
        body = " UNION ALL ".join(f"SELECT * FROM ({sql}) AS part_{n}" for n, sql in enumerate(sqls))
        return f"SELECT * FROM ({body}) AS by_type ORDER BY uscc"

    return Compiled(
        assignments[0][0],
        month,
        province,
        cutoff,
        run_id,
        month_end(month),
        union([p.sql for p in parts]),
        union([p.keyed_sql for p in parts]),
        parts[0].reason_labels,
        tuple(sorted({d for p in parts for d in p.datasets})),
        tuple((t, system.model_ref) for system, types in assignments for t in types),
    )


def to_duckdb(sql: str) -> str:
    """The Trino text as DuckDB runs it."""
    return str(sqlglot.transpile(sql, read=TRINO, write=DUCKDB)[0])
