"""Rolling backtest (回测) of a classification against the inspections that followed it.

For each classification month ``M`` in the window, the inspections dated in ``M + 1`` take the
class and score their entity had in ``M`` (the classification in force when that month's plans
were drawn). Everything heavy is one of a few aggregate statements on the engine (DuckDB over
the lake, the same Trino SQL on Athena): counts per class, per score value, per inspection date,
and the Chicago-style replay pairs. Only those aggregates come back to Python, where
:mod:`functions.analysis.stats` turns them into figures with ``n`` and 95 % intervals
(docs/analysis.md "Backtest", ADR 0106). Inspections whose entity had no class are counted and
shown, never dropped silently.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.analysis import stats
from functions.errors import InvalidInput, NotFound
from functions.months import add_months, month_end, previous_month
from functions.warnings.query import QuerySource, Scope, open_source
from schemas.results import RISK_CLASSES

if TYPE_CHECKING:
    from functions.classify.system import System
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)

# Outcomes that count as "a problem was found": a corrected-on-the-spot problem is still a
# problem, and an entity not at its address or refusing inspection is itself a violation.
PROBLEM_RESULTS = ("problem_found", "corrected", "not_at_address", "refused")
MAX_MONTHS = 36
TOP_SHARES = (0.05, 0.10, 0.20)
NO_CLASS = "-"


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Classes:
    """The classifications a backtest reads: a table, and the literal ``key = 'value'``
    predicates every scan of it carries in the WHERE of the SELECT that reads it (the table's
    injected projection keys: Athena computes the partitions from them, docs/adr/0150)."""

    table: str
    fixed: tuple[tuple[str, str], ...] = ()
    domains: tuple[str, ...] = ()  # a field's classes meet only the field's own inspections
    field: str | None = None

    def where(self, condition: str) -> str:
        """``condition`` with the fixed predicates first, for the scan's own WHERE."""
        return " AND ".join([*(f"{k} = {_q(v)}" for k, v in self.fixed), condition])


PUBLISHED = Classes("classifications")  # the published results (a DuckDB view / the Glue table)


def field_results(field: str) -> Classes:
    """A field's published results (one partition of ``field_classifications``), backtested on
    the field's own inspections: its classes say nothing about the other domains (docs/adr/0154)."""
    from schemas.fields import FIELDS

    if field not in FIELDS:
        raise InvalidInput(f"unknown field {field!r}: {', '.join(FIELDS)}", field="system")
    return Classes("field_classifications", (("field", field),), tuple(FIELDS[field].domains), field)


def next_month(month: str) -> str:
    d = add_months(dt.date(int(month[:4]), int(month[5:7]), 1), 1)
    return f"{d.year:04d}-{d.month:02d}"


def month_range(first: str, last: str) -> list[str]:
    """Classification months ``first``..``last`` (inclusive); a clear 4xx-style error otherwise."""
    for name, m in (("from", first), ("to", last)):
        if not layout.MONTH_RE.match(m or ""):
            raise InvalidInput(f"--{name} must be YYYY-MM, got {m!r}", field=name)
    if last < first:
        raise InvalidInput(f"--to {last} is before --from {first}", field="to")
    out = [first]
    while out[-1] < last:
        out.append(next_month(out[-1]))
    if len(out) > MAX_MONTHS:
        raise InvalidInput(f"at most {MAX_MONTHS} months per backtest, got {len(out)}", field="to")
    return out


def inspection_span(months: Sequence[str]) -> tuple[dt.date, dt.date]:
    """First and last day of the inspections evaluated (the months after the first and last)."""
    start = month_end(months[0]) + dt.timedelta(days=1)
    return start, month_end(next_month(months[-1]))


# -- the statements (Trino dialect; DuckDB runs them transpiled) ------------------------------
def joined_sql(province: str, months: Sequence[str], table: Classes = PUBLISHED) -> str:
    """``WITH`` clause ending in ``joined``: each inspection of the window with the class and
    score of its entity in the month before (NULL when it had none) and ``problem`` 0/1."""
    case = " ".join(
        f"WHEN inspected_on BETWEEN DATE '{month_end(m) + dt.timedelta(days=1)}' "
        f"AND DATE '{month_end(next_month(m))}' THEN {_q(m)}"
        for m in months
    )
    start, end = inspection_span(months)
    problems = ", ".join(_q(r) for r in PROBLEM_RESULTS)
    in_months = ", ".join(_q(m) for m in months)
    own = f" AND domain IN ({', '.join(_q(d) for d in table.domains)})" if table.domains else ""
    return f"""WITH cls AS (
  SELECT month AS class_month, uscc, risk_class, risk_score FROM {table.table}
  WHERE {table.where(f"province = {_q(province)} AND month IN ({in_months})")}
), insp AS (
  SELECT inspection_id, uscc, inspected_on, CASE {case} END AS class_month,
    CASE WHEN result IN ({problems}) THEN 1 ELSE 0 END AS problem
  FROM inspections WHERE inspected_on BETWEEN DATE '{start}' AND DATE '{end}'{own}
), joined AS (
  SELECT i.inspection_id, i.inspected_on, i.class_month, i.problem, c.risk_class, c.risk_score
  FROM insp i LEFT JOIN cls c ON c.uscc = i.uscc AND c.class_month = i.class_month
)"""


def class_counts_sql(province: str, months: Sequence[str], table: Classes = PUBLISHED) -> str:
    return (
        joined_sql(province, months, table)
        + f"\nSELECT class_month, coalesce(risk_class, {_q(NO_CLASS)}) AS risk_class, "
        "count(*) AS n, sum(problem) AS problems FROM joined GROUP BY 1, 2"
    )


def score_cells_sql(province: str, months: Sequence[str], table: Classes = PUBLISHED) -> str:
    return (
        joined_sql(province, months, table)
        + "\nSELECT class_month, risk_score, count(*) AS n, sum(problem) AS problems FROM joined "
        "WHERE risk_score IS NOT NULL GROUP BY 1, 2"
    )


def date_counts_sql(province: str, months: Sequence[str], table: Classes = PUBLISHED) -> str:
    return (
        joined_sql(province, months, table)
        + "\nSELECT class_month, inspected_on, count(*) AS n, sum(problem) AS problems FROM joined "
        "WHERE risk_score IS NOT NULL GROUP BY 1, 2"
    )


def replay_pairs_sql(province: str, months: Sequence[str], table: Classes = PUBLISHED) -> str:
    """Problems per (actual date, date in risk-score order): the k-th inspection by score takes
    the k-th actual date (ties by actual date, then id: no gain inside a tie)."""
    return (
        joined_sql(province, months, table)
        + """, ranked AS (
  SELECT class_month, inspected_on, problem,
    row_number() OVER (
      PARTITION BY class_month ORDER BY risk_score DESC, inspected_on, inspection_id) AS by_score,
    row_number() OVER (PARTITION BY class_month ORDER BY inspected_on, inspection_id) AS by_date
  FROM joined WHERE risk_score IS NOT NULL
)
SELECT s.class_month, s.inspected_on AS actual_on, d.inspected_on AS replay_on, sum(s.problem) AS problems
FROM ranked s JOIN ranked d ON d.class_month = s.class_month AND d.by_date = s.by_score
WHERE s.problem = 1 GROUP BY 1, 2, 3"""
    )


def band_case(system: System | None) -> str:
    """The class cut-offs' bands of the score (the class itself when the system has none)."""
    cut = system.classes.cutoffs if system is not None and system.classes.method == "cutoffs" else None
    if not cut:
        return "risk_class"
    return (
        f"CASE WHEN risk_score >= {cut['D']!r} THEN 'D' WHEN risk_score >= {cut['C']!r} THEN 'C' "
        f"WHEN risk_score >= {cut['B']!r} THEN 'B' ELSE 'A' END"
    )


def band_counts_sql(
    province: str, months: Sequence[str], system: System | None, table: Classes = PUBLISHED
) -> str:
    in_months = ", ".join(_q(m) for m in months)
    return (
        f"SELECT month, {band_case(system)} AS band, count(*) AS n FROM {table.table} "
        f"WHERE {table.where(f'province = {_q(province)} AND month IN ({in_months})')} GROUP BY 1, 2"
    )


def models_sql(province: str, table: Classes = PUBLISHED) -> str:
    return (
        f"SELECT month, model, count(*) AS n FROM {table.table} "
        f"WHERE {table.where(f'province = {_q(province)}')} GROUP BY 1, 2"
    )


# -- aggregates → figures (pure) --------------------------------------------------------------
@dataclass(frozen=True)
class Aggregates:
    """What the engine returns for one backtest (rows as dicts)."""

    months: tuple[str, ...]
    class_counts: list[dict[str, Any]]
    score_cells: list[dict[str, Any]]
    date_counts: list[dict[str, Any]]
    replay_pairs: list[dict[str, Any]]


def _day(v: Any) -> dt.date:
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return v
    return dt.date.fromisoformat(str(v)[:10])


def per_class(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pooled discovery rate per class (Wilson), the unclassified inspections, lift D/A."""
    n: dict[str, int] = defaultdict(int)
    k: dict[str, int] = defaultdict(int)
    for r in rows:
        n[r["risk_class"]] += int(r["n"])
        k[r["risk_class"]] += int(r["problems"] or 0)
    classes = {c: stats.rate(k[c], n[c]) for c in RISK_CLASSES}
    total = sum(n.values())
    return {
        "inspections": total,
        "problems": sum(k.values()),
        "classified": total - n[NO_CLASS],
        "unclassified": {
            "inspections": n[NO_CLASS],
            "problems": k[NO_CLASS],
            "share": n[NO_CLASS] / total if total else None,
            "rate": stats.rate(k[NO_CLASS], n[NO_CLASS]),
        },
        "per_class": classes,
        "lift_d_over_a": stats.rate_ratio(k["D"], n["D"], k["A"], n["A"]),
    }


def calibration(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Class vs. observed finding rate: pooled rates must rise A < B < C < D; per month too."""
    pooled = per_class(rows)["per_class"]
    rates = [pooled[c]["estimate"] for c in RISK_CLASSES]
    known = [r for r in rates if r is not None]
    monthly: dict[str, dict[str, Any]] = defaultdict(dict)
    for r in rows:
        if r["risk_class"] != NO_CLASS:
            monthly[str(r["class_month"])][r["risk_class"]] = {
                "n": int(r["n"]),
                "problems": int(r["problems"] or 0),
                "rate": int(r["problems"] or 0) / int(r["n"]) if r["n"] else None,
            }
    # non-overlapping intervals between neighbours: the ordering is not a sampling accident
    separated = [
        pooled[a]["high"] is not None
        and pooled[b]["low"] is not None
        and pooled[a]["high"] < pooled[b]["low"]
        for a, b in itertools.pairwise(RISK_CLASSES)
    ]
    return {
        "rates": {c: pooled[c] for c in RISK_CLASSES},
        "monotone": len(known) == len(rates) and all(x <= y for x, y in itertools.pairwise(known)),
        "separated_neighbours": dict(
            zip([f"{a}<{b}" for a, b in itertools.pairwise(RISK_CLASSES)], separated, strict=True),
        ),
        "per_month": dict(sorted(monthly.items())),
    }


def _cells(rows: Sequence[dict[str, Any]], month: str | None = None) -> list[tuple[float, int, int]]:
    acc: dict[float, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        if month is None or str(r["class_month"]) == month:
            cell = acc[float(r["risk_score"])]
            cell[0] += int(r["n"])
            cell[1] += int(r["problems"] or 0)
    return [(s, n, p) for s, (n, p) in sorted(acc.items())]


def ranking(rows: Sequence[dict[str, Any]], *, seed: int, replicates: int) -> dict[str, Any]:
    """Pooled AUC (bootstrap interval) and precision in the top k % of inspections by score."""
    cells = _cells(rows)
    return {
        "auc": stats.auc(
            [p for _, _, p in cells], [n - p for _, n, p in cells], seed=seed, replicates=replicates
        ),
        "precision_top": {f"{s:.0%}": stats.precision_at(cells, s) for s in TOP_SHARES},
    }


def replay(agg: Aggregates, *, seed: int, replicates: int) -> dict[str, Any]:
    """ "Found N days earlier" against a random order: the model's mean gain per problem (with a
    normal interval over problems) and the random-order mean with its 2.5–97.5 % range."""
    gain_sum = gain_sq = 0.0
    problems = 0
    for r in agg.replay_pairs:
        g = (_day(r["actual_on"]) - _day(r["replay_on"])).days
        p = int(r["problems"])
        gain_sum += p * g
        gain_sq += p * g * g
        problems += p
    months: list[tuple[list[int], int, float]] = []
    first_half: list[float] = []
    inspections = 0
    by_month: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in agg.date_counts:
        by_month[str(r["class_month"])].append(r)
    for m in agg.months:
        rows = by_month.get(m, [])
        if not rows:
            continue
        start = month_end(m) + dt.timedelta(days=1)
        end = month_end(next_month(m))
        counts = [0] * ((end - start).days + 1)
        actual = 0.0
        month_problems = 0
        for r in rows:
            off = (_day(r["inspected_on"]) - start).days
            counts[off] += int(r["n"])
            actual += off * int(r["problems"] or 0)
            month_problems += int(r["problems"] or 0)
        months.append((counts, month_problems, actual))
        n = sum(counts)
        inspections += n
        cells = _cells(agg.score_cells, m)
        if month_problems:
            first_half.append(stats.expected_in_top(cells, (n + 1) // 2))
    mean = gain_sum / problems if problems else None
    low = high = None
    if problems > 1 and mean is not None:
        var = max(0.0, (gain_sq - problems * mean * mean) / (problems - 1))
        half = stats.Z95 * (var / problems) ** 0.5
        low, high = mean - half, mean + half
    rnd = stats.replay_random(months, seed=seed, replicates=replicates) if problems else None
    fig = stats.figure(
        mean,
        problems,
        low,
        high,
        minimum=stats.MIN_REPLAY_PROBLEMS,
        basis=f"{problems} problems, at least {stats.MIN_REPLAY_PROBLEMS} needed",
        inspections=inspections,
    )
    beyond = None
    if rnd is not None and mean is not None:
        beyond = mean > rnd[2] or mean < rnd[1]
    return {
        "days_earlier": fig,
        "random_order": None
        if rnd is None
        else {"mean": rnd[0], "low": rnd[1], "high": rnd[2], "replicates": replicates, "seed": seed},
        "beyond_random": beyond,
        "share_first_half_by_score": sum(first_half) / problems if problems else None,
    }


def psi_table(rows: Sequence[dict[str, Any]], months: Sequence[str], reference: str | None) -> dict[str, Any]:
    """PSI of each month's cut-off bands against the month before and the reference month."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for r in rows:
        counts[str(r["month"])][str(r["band"])] = int(r["n"])
    ref = counts.get(reference or "", {})
    out = []
    for m in months:
        cur = counts.get(m, {})
        prev = counts.get(previous_month(m), {})
        total = sum(cur.values())
        p_prev = stats.psi(prev, cur, RISK_CLASSES)
        p_ref = stats.psi(ref, cur, RISK_CLASSES) if m != reference else None
        out.append(
            {
                "month": m,
                "entities": total,
                "shares": {b: cur.get(b, 0) / total if total else None for b in RISK_CLASSES},
                "psi_previous": p_prev,
                "psi_previous_band": stats.psi_band(p_prev),
                "psi_reference": p_ref,
                "psi_reference_band": stats.psi_band(p_ref),
            }
        )
    return {"bands": "class cut-offs", "reference": reference, "months": out}


def summarise(
    agg: Aggregates, *, seed: int = stats.DEFAULT_SEED, replicates: int = stats.BOOTSTRAP_REPLICATES
) -> dict[str, Any]:
    """All backtest figures from the engine's aggregates (pure, deterministic for a seed)."""
    out = per_class(agg.class_counts)
    out["calibration"] = calibration(agg.class_counts)
    out.update(ranking(agg.score_cells, seed=seed, replicates=replicates))
    out["replay"] = replay(agg, seed=seed, replicates=replicates)
    out["months"] = list(agg.months)
    return out


def aggregates_from_rows(rows: Sequence[dict[str, Any]], month: str) -> Aggregates:
    """The same aggregates from one month's class-annotated inspections already in memory
    (the monthly report's effectiveness): ``risk_class``/``risk_score`` may be None,
    ``problem`` is a bool; the class month is the month before ``month``."""
    cm = previous_month(month)
    classes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    cells: dict[float, list[int]] = defaultdict(lambda: [0, 0])
    dates: dict[dt.date, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        c = classes[r["risk_class"] or NO_CLASS]
        c[0], c[1] = c[0] + 1, c[1] + int(bool(r["problem"]))
    scored = [r for r in rows if r["risk_score"] is not None]
    for r in scored:
        cell, day = cells[float(r["risk_score"])], dates[_day(r["inspected_on"])]
        cell[0], cell[1] = cell[0] + 1, cell[1] + int(bool(r["problem"]))
        day[0], day[1] = day[0] + 1, day[1] + int(bool(r["problem"]))
    by_date = sorted(scored, key=lambda r: (_day(r["inspected_on"]), str(r["inspection_id"])))
    by_score = sorted(
        scored, key=lambda r: (-float(r["risk_score"]), _day(r["inspected_on"]), str(r["inspection_id"]))
    )
    pairs: dict[tuple[dt.date, dt.date], int] = defaultdict(int)
    for k, r in enumerate(by_score):
        if r["problem"]:
            pairs[(_day(r["inspected_on"]), _day(by_date[k]["inspected_on"]))] += 1
    return Aggregates(
        (cm,),
        [{"class_month": cm, "risk_class": c, "n": n, "problems": k} for c, (n, k) in classes.items()],
        [{"class_month": cm, "risk_score": s, "n": n, "problems": k} for s, (n, k) in cells.items()],
        [{"class_month": cm, "inspected_on": d, "n": n, "problems": k} for d, (n, k) in dates.items()],
        [{"class_month": cm, "actual_on": a, "replay_on": b, "problems": p} for (a, b), p in pairs.items()],
    )


def month_figures(
    rows: Sequence[dict[str, Any]],
    month: str,
    *,
    seed: int = stats.DEFAULT_SEED,
    replicates: int = stats.BOOTSTRAP_REPLICATES,
) -> dict[str, Any]:
    """Every effectiveness figure of one month with ``n`` and its interval (the report's)."""
    return summarise(aggregates_from_rows(rows, month), seed=seed, replicates=replicates)


# -- running it --------------------------------------------------------------------------------
def query_aggregates(source: QuerySource, province: str, months: Sequence[str], table: Classes) -> Aggregates:
    def run(sql: str, label: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = source.query(sql, label=label).to_pylist()
        return rows

    return Aggregates(
        tuple(months),
        run(class_counts_sql(province, months, table), "backtest class counts"),
        run(score_cells_sql(province, months, table), "backtest score cells"),
        run(date_counts_sql(province, months, table), "backtest date counts"),
        run(replay_pairs_sql(province, months, table), "backtest replay"),
    )


def open_backtest_source(
    lake: Lake,
    province: str,
    months: Sequence[str],
    cutoff: dt.datetime,
    *,
    settings: Settings | None,
    engine: str | None,
    athena_runner: Any = None,
    boto3_session: Any = None,
) -> QuerySource:
    _, end = inspection_span(months)
    return open_source(
        lake,
        Scope(province, cutoff, end),
        settings=settings,
        engine=engine,
        job=f"backtest-{province}-{months[0]}-{secrets.token_hex(4)}",
        datasets=("inspections",),
        athena_runner=athena_runner,
        boto3_session=boto3_session,
    )


def stored_models(
    source: QuerySource, province: str, months: Sequence[str], table: Classes = PUBLISHED
) -> dict[str, dict[str, int]]:
    """month → {model: rows} of the published classifications in ``months``."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for r in source.query(models_sql(province, table), label="backtest models").to_pylist():
        if r["month"] in months:
            out[str(r["month"])][str(r["model"])] = int(r["n"])
    return dict(out)


def reference_month(
    source: QuerySource, province: str, model: str | None, table: Classes = PUBLISHED
) -> str | None:
    """The first published month classified with ``model`` (the fixed PSI reference)."""
    rows = source.query(models_sql(province, table), label="backtest models").to_pylist()
    months = sorted(str(r["month"]) for r in rows if model is None or r["model"] == model)
    return months[0] if months else None


def evaluate_source(
    source: QuerySource,
    *,
    province: str,
    months: Sequence[str],
    system: System | None,
    table: Classes = PUBLISHED,
    reference: str | None,
    seed: int,
    replicates: int,
    keep_cells: bool = False,
) -> dict[str, Any]:
    """The backtest of the classifications in ``table`` (published, or a challenger's);
    ``keep_cells`` adds the pooled (score, inspections, problems) cells (cut-off suggestions)."""
    agg = query_aggregates(source, province, months, table)
    out = summarise(agg, seed=seed, replicates=replicates)
    psi_months = sorted(set(months) | {previous_month(months[0])} | ({reference} if reference else set()))
    bands = source.query(
        band_counts_sql(province, psi_months, system, table), label="backtest bands"
    ).to_pylist()
    out["psi"] = psi_table(bands, list(months), reference)
    out["model"] = system.model_ref if system is not None else None
    if keep_cells:
        out["score_cells"] = [list(c) for c in _cells(agg.score_cells)]
    return out


def backtest(
    lake: Lake,
    *,
    first: str,
    last: str,
    province: str,
    system: System | None = None,
    reference: str | None = None,
    cutoff: dt.datetime | None = None,
    settings: Settings | None = None,
    engine: str | None = None,
    seed: int = stats.DEFAULT_SEED,
    replicates: int = stats.BOOTSTRAP_REPLICATES,
    keep_cells: bool = False,
    athena_runner: Any = None,
    boto3_session: Any = None,
    field: str | None = None,
) -> dict[str, Any]:
    """Backtest of the published classifications ``first``..``last`` of ``province`` (with
    ``field``, that field's results against its own inspections).

    ``system`` (optional) must be the model every month was published with; the champion /
    challenger comparison re-classifies otherwise (:mod:`functions.analysis.challenger`)."""
    if not layout.PROVINCE_RE.match(province or "") or province not in layout.PROVINCES:
        raise InvalidInput(f"province must be a GB/T 2260 province code, got {province!r}", field="province")
    months = month_range(first, last)
    table = field_results(field) if field is not None else PUBLISHED
    cut = (cutoff or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    source = open_backtest_source(
        lake, province, months, cut, settings=settings, engine=engine,
        athena_runner=athena_runner, boto3_session=boto3_session,
    )  # fmt: skip
    try:
        models = stored_models(source, province, months, table)
        if not models:
            what = f"field {field} classification" if field else "classification"
            raise NotFound(f"no published {what} of province {province} in {first}..{last}", field="from")
        if system is not None:
            other = sorted({m for per in models.values() for m in per} - {system.model_ref})
            if not other and not published_with(lake, province, months, system, field=field):
                other = [f"another {system.model_ref} (a different content hash)"]
            if other:
                hint = (
                    f"backtest the field with --system {system.id}"
                    if field
                    else f"compare them with --challenger {system.model_ref}"
                )
                raise InvalidInput(
                    f"the published months were classified with {', '.join(other)}, not "
                    f"{system.model_ref}; {hint}",
                    field="system",
                )
        model = system.model_ref if system is not None else _main_model(models)
        if system is None and model is not None:
            system = _load_quietly(model)
        ref = reference or reference_month(source, province, model, table)
        out = evaluate_source(
            source, province=province, months=months, system=system, table=table, reference=ref,
            seed=seed, replicates=replicates, keep_cells=keep_cells,
        )  # fmt: skip
    finally:
        source.close()
    out.update(
        province=province,
        first=first,
        last=last,
        cutoff=cut.isoformat(),
        models=models,
        missing_months=[m for m in months if m not in models],
        problem_results=list(PROBLEM_RESULTS),
        field=field,
        inspection_domains=list(table.domains) or None,
    )
    return out


def band_psi(
    lake: Lake,
    *,
    month: str,
    province: str,
    cutoff: dt.datetime,
    settings: Settings | None = None,
    engine: str | None = None,
    athena_runner: Any = None,
    boto3_session: Any = None,
) -> dict[str, Any] | None:
    """PSI of ``month``'s cut-off bands against the month before and against the first month
    published with the same model (the fixed reference), counted on the engine; None when the
    month is not published."""
    source = open_backtest_source(
        lake, province, [month], cutoff, settings=settings, engine=engine,
        athena_runner=athena_runner, boto3_session=boto3_session,
    )  # fmt: skip
    try:
        rows = source.query(models_sql(province), label="psi models").to_pylist()
        models = [str(r["model"]) for r in rows if r["month"] == month]
        if not models:
            return None
        model = max(models)
        system = _load_quietly(model)
        ref = min(str(r["month"]) for r in rows if r["model"] == model)
        wanted = sorted({previous_month(month), month, ref})
        bands = source.query(band_counts_sql(province, wanted, system), label="psi bands").to_pylist()
    finally:
        source.close()
    table = psi_table(bands, [month], ref)
    return {**table["months"][0], "reference": ref, "model": model, "bands": table["bands"]}


def published_with(
    lake: Lake, province: str, months: Sequence[str], system: System, *, field: str | None = None
) -> bool:
    """Whether every month's published run used exactly ``system`` (same content hash: a file
    that reuses a version number with other content is not the published system)."""
    for m in months:
        key = (
            layout.field_classification_pointer_key(field, m, province)
            if field
            else layout.classification_pointer_key(m, province)
        )
        pointer = lake.read_json(key) if lake.exists(key) else {}
        if pointer.get("model") == system.model_ref and pointer.get("model_hash") != system.content_hash():
            return False
    return True


def _main_model(models: dict[str, dict[str, int]]) -> str | None:
    totals: dict[str, int] = defaultdict(int)
    for per in models.values():
        for m, n in per.items():
            totals[m] += n
    return max(totals, key=lambda m: (totals[m], m)) if totals else None


def _load_quietly(model: str) -> System | None:
    from functions.classify.load import load_system
    from functions.errors import ConfigError

    try:
        return load_system(model)
    except ConfigError:
        logger.warning("model %s is not shipped: PSI bands fall back to the classes", model)
        return None


# -- text output ---------------------------------------------------------------------------------
def fmt_figure(f: dict[str, Any] | None, kind: str = "pct") -> str:
    """``12.3% [9.1–16.2] n=240`` or ``insufficient data (n=3)``."""
    if f is None:
        return "—"

    def one(v: float | None) -> str:
        if v is None:
            return "?"
        return f"{v:.1%}" if kind == "pct" else f"{v:.2f}"

    if not f["sufficient"]:
        return f"insufficient data (n={f['n']})"
    return f"{one(f['value'])} [{one(f['low'])}–{one(f['high'])}] n={f['n']}"


def render_text(result: dict[str, Any], title: str | None = None) -> str:
    """A readable table of one backtest (the CLI prints this)."""
    scope = f" field {result['field']}" if result.get("field") else ""
    window = f"{result['first']}..{result['last']}"
    lines = [
        title or f"backtest {result['province']}{scope} {window} ({result.get('model')})",
        f"inspections {result['inspections']} (problems {result['problems']}); "
        f"without a class: {result['unclassified']['inspections']} "
        f"({(result['unclassified']['share'] or 0):.1%}, problems {result['unclassified']['problems']})",
        "",
        f"{'class':<6}{'inspections':>12}{'problems':>10}  discovery rate [95% Wilson]",
    ]
    for c in RISK_CLASSES:
        f = result["per_class"][c]
        lines.append(f"{c:<6}{f['n']:>12}{f['problems']:>10}  {fmt_figure(f)}")
    cal = result["calibration"]
    lines += [
        f"calibration: rates rise A<B<C<D: {'yes' if cal['monotone'] else 'NO'}; intervals apart: "
        + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cal["separated_neighbours"].items()),
        f"lift D/A: {fmt_figure(result['lift_d_over_a'], 'ratio')}",
        f"AUC: {fmt_figure(result['auc'], 'ratio')} (bootstrap {result['auc']['replicates']}, "
        f"seed {result['auc']['seed']})",
    ]
    for share, f in result["precision_top"].items():
        lift = f.get("lift")
        lines.append(
            f"precision in top {share}: {fmt_figure(f)}"
            + (f" (×{lift:.2f} the overall rate)" if lift and f["sufficient"] else "")
        )
    rp = result["replay"]
    rnd = rp["random_order"]
    lines.append(
        f"days earlier (score order vs actual): {fmt_figure(rp['days_earlier'], 'ratio')}; "
        + (
            f"random order {rnd['mean']:.2f} [{rnd['low']:.2f}–{rnd['high']:.2f}]"
            + (" — beyond random" if rp["beyond_random"] else " — within what random order gives")
            if rnd
            else "random order —"
        )
    )
    psi = result["psi"]
    lines.append(f"PSI on the cut-off bands (reference {psi['reference'] or '—'}):")
    for m in psi["months"]:
        shares = " ".join(f"{b} {v:.1%}" if v is not None else f"{b} —" for b, v in m["shares"].items())
        lines.append(
            f"  {m['month']}  n={m['entities']:<9} {shares}  vs previous {fmt_psi(m['psi_previous'])}"
            f"  vs reference {fmt_psi(m['psi_reference'])}"
        )
    if result.get("missing_months"):
        lines.append(f"months without a published classification: {', '.join(result['missing_months'])}")
    return "\n".join(lines)


def fmt_psi(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f} ({stats.psi_band(v)})"
