"""Champion / challenger: the same backtest for two indicator systems over the same history.

A system that did not publish the window's months (a new version, new cut-offs) re-classifies
each month into a scratch area of the lake (``backtests/classifications/job=<job>/``, never the
published results), with the cut-off time the published run used, so both systems see exactly
the same data. Both backtests then run the same engine statements
(:mod:`functions.analysis.backtest`) and the class changes between the two are counted per month
(docs/analysis.md, ADR 0108). On Athena the re-classification is the monthly run's CTAS (no
``external_location``: the workgroup enforces its own), copied into the scratch, and the
statements read every job's scratch through one Glue table, ``backtest_classifications``, whose
``job`` partition each statement names (injected projection, docs/adr/0139); DuckDB registers
the same table over the same files, so both engines run the same SQL.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from functions import layout
from functions.analysis import backtest as bt
from functions.analysis import stats
from functions.errors import InvalidInput, NotFound
from functions.months import previous_month
from functions.warnings.query import DuckDBSource, QuerySource
from schemas.results import RISK_CLASSES

if TYPE_CHECKING:
    from functions.classify.system import System
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)
SCRATCH = layout.BACKTESTS_PREFIX
SCRATCH_TABLE = "backtest_classifications"  # schemas/tables.py: the Glue and query table
SCRATCH_PARTITIONS = pa.schema([("job", pa.string()), ("month", pa.string()), ("province", pa.string())])


def scratch_prefix(job: str) -> str:
    """Where one comparison keeps its re-classified months (``month=…/province=…`` below)."""
    return f"{layout.BACKTEST_CLASSIFICATIONS}/job={job}"


def scratch_table(job: str) -> bt.Classes:
    """What the backtest statements read for one job's re-classified months: the one table, with
    ``job = '<job>'`` in the WHERE of every SELECT that scans it (Athena projects only that
    partition; no table per run, no wrapping subquery: docs/adr/0150)."""
    return bt.Classes(SCRATCH_TABLE, (("job", job),))


def prune_scratch(lake: Lake, now: dt.datetime, keep_days: int = layout.BACKTESTS_KEEP_DAYS) -> list[str]:
    """Delete the scratch files of comparisons older than ``keep_days`` (by modification time);
    returns the deleted keys. Each comparison writes under its own job, never over another's, so
    without this the scratch area would only grow; in AWS the bucket's lifecycle rule on
    ``backtests/`` does the same (infra/platform.py)."""
    limit = (now - dt.timedelta(days=keep_days)).timestamp() * 1e9
    old = [f.key for f in lake.list_files(SCRATCH) if f.mtime_ns is not None and f.mtime_ns < limit]
    for key in old:
        lake.delete(key)
    if old:
        logger.info("pruned %d backtest scratch files older than %d days", len(old), keep_days)
    return old


def published_cutoff(lake: Lake, month: str, province: str) -> dt.datetime | None:
    """The cut-off time of the published run of ``month`` (what the re-run must see)."""
    key = layout.classification_pointer_key(month, province)
    if not lake.exists(key):
        return None
    raw = lake.read_json(key).get("cutoff")
    return dt.datetime.fromisoformat(str(raw)) if raw else None


def reclassify(
    lake: Lake,
    system: System,
    *,
    months: Sequence[str],
    province: str,
    job: str,
    settings: Settings,
    cutoff: dt.datetime,
    engine: str = "duckdb",
    athena_runner: Any = None,
    boto3_session: Any = None,
) -> dict[str, dict[str, int]]:
    """Classify ``months`` with ``system`` into the scratch prefix on ``engine`` (as the monthly
    run does: DuckDB, or Athena's CTAS copied into the scratch); month → counts per class."""
    from functions.classify.compile import compile_by_type, datasets_read
    from functions.classify.engine_athena import run_athena
    from functions.classify.engine_duckdb import run_duckdb_to_lake
    from functions.classify.run import assign_systems, ingest_plan, input_files

    assignments = assign_systems(system, settings.class_systems)
    datasets = tuple(sorted({d for s, _ in assignments for d in datasets_read(s)}))
    inputs = input_files(lake, province, datasets)
    out: dict[str, dict[str, int]] = {}
    for month in months:
        cut = published_cutoff(lake, month, province) or cutoff
        compiled = compile_by_type(
            assignments,
            month=month,
            province=province,
            cutoff=cut,
            run_id=f"{job}-{month}",
            ingests=ingest_plan(inputs, datasets, cut),
        )
        key = layout.backtest_classification_key(job, month, province)
        if engine == "athena":
            counts, _ = run_athena(
                lake, compiled, settings=settings, boto3_session=boto3_session, runner=athena_runner, key=key
            )
        else:
            counts = run_duckdb_to_lake(lake, compiled, key, settings=settings).counts
        out[month] = dict(counts)
        logger.info("challenger %s classified %s/%s: %s", system.model_ref, province, month, counts)
    return out


def register_scratch(source: QuerySource, lake: Lake) -> None:
    """Expose the scratch table on a DuckDB source (on Athena it is the Glue table)."""
    from functions.classify.engine_duckdb import _register
    from schemas.results import CLASSIFICATION_SCHEMA

    if isinstance(source, DuckDBSource):
        base = layout.BACKTEST_CLASSIFICATIONS
        _register(source.con, SCRATCH_TABLE, lake, base, base, CLASSIFICATION_SCHEMA, SCRATCH_PARTITIONS)


def changes_sql(province: str, months: Sequence[str], champion: bt.Classes, challenger: bt.Classes) -> str:
    """Entities per (month, champion class, challenger class); a missing side is ``-``."""
    in_months = ", ".join(bt._q(m) for m in months)
    where = f"province = {bt._q(province)} AND month IN ({in_months})"
    return f"""WITH a AS (SELECT month, uscc, risk_class FROM {champion.table} WHERE {champion.where(where)}),
b AS (SELECT month, uscc, risk_class FROM {challenger.table} WHERE {challenger.where(where)})
SELECT coalesce(a.month, b.month) AS month, coalesce(a.risk_class, '-') AS champion,
  coalesce(b.risk_class, '-') AS challenger, count(*) AS n
FROM a FULL OUTER JOIN b ON a.uscc = b.uscc AND a.month = b.month GROUP BY 1, 2, 3"""


def summarise_changes(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Transition matrix pooled over months and changed entities per month."""
    matrix: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_month: dict[str, int] = defaultdict(int)
    for r in rows:
        matrix[r["champion"]][r["challenger"]] += int(r["n"])
        if r["champion"] != r["challenger"]:
            per_month[str(r["month"])] += int(r["n"])
    labels = [*RISK_CLASSES, "-"]
    return {
        "matrix": {a: {b: matrix[a][b] for b in labels} for a in labels},
        "changed_per_month": dict(sorted(per_month.items())),
        "changed": sum(per_month.values()),
        "up": sum(matrix[a][b] for a in RISK_CLASSES for b in RISK_CLASSES if b > a),
        "down": sum(matrix[a][b] for a in RISK_CLASSES for b in RISK_CLASSES if b < a),
    }


def compare(
    lake: Lake,
    *,
    first: str,
    last: str,
    province: str,
    champion: System,
    challenger: System,
    settings: Settings,
    reference: str | None = None,
    cutoff: dt.datetime | None = None,
    seed: int = stats.DEFAULT_SEED,
    replicates: int = stats.BOOTSTRAP_REPLICATES,
    engine: str | None = None,
    athena_runner: Any = None,
    boto3_session: Any = None,
) -> dict[str, Any]:
    """Both backtests side by side and the class changes between them, on ``engine`` (default
    ``settings.engine``: Athena in AWS, like the monthly classification)."""
    if champion.content_hash() == challenger.content_hash():
        raise InvalidInput("champion and challenger are the same system", field="challenger")
    months = bt.month_range(first, last)
    cut = (cutoff or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    job = f"{province}-{first}-{last}-{cut.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"
    if lake.is_local:  # in AWS the bucket's lifecycle rule expires backtests/ (no role deletes)
        prune_scratch(lake, dt.datetime.now(dt.UTC))
    # the month before the window too, so the first month's PSI has its previous month
    class_months = [previous_month(months[0]), *months]
    engine = engine or settings.engine
    if engine not in ("duckdb", "athena"):
        raise InvalidInput(f"engine must be duckdb or athena, got {engine!r}", field="engine")
    on = {"athena_runner": athena_runner, "boto3_session": boto3_session}
    source = bt.open_backtest_source(lake, province, months, cut, settings=settings, engine=engine, **on)
    try:
        stored = bt.stored_models(source, province, class_months)
        if not stored:
            raise NotFound(
                f"no published classification of province {province} in {first}..{last}", field="from"
            )
        tables: dict[str, bt.Classes] = {}
        reclassified: dict[str, Any] = {}
        for role, system in (("champion", champion), ("challenger", challenger)):
            published = all(
                set(stored.get(m, {})) == {system.model_ref} for m in months
            ) and bt.published_with(lake, province, months, system)
            if published:
                tables[role] = bt.PUBLISHED
                continue
            sub = f"{job}-{role}"
            reclassified[role] = {
                "scratch": lake.display(scratch_prefix(sub)),
                "counts": reclassify(
                    lake,
                    system,
                    months=class_months,
                    province=province,
                    job=sub,
                    settings=settings,
                    cutoff=cut,
                    engine=engine,
                    **on,
                ),
            }
            tables[role] = scratch_table(sub)
        if reclassified:
            register_scratch(source, lake)
        ref = reference or months[0]  # present on both sides, published or re-classified
        sides = {
            role: bt.evaluate_source(
                source,
                province=province,
                months=months,
                system=system,
                table=tables[role],
                reference=ref,
                seed=seed,
                replicates=replicates,
            )
            for role, system in (("champion", champion), ("challenger", challenger))
        }
        changes = source.query(
            changes_sql(province, months, tables["champion"], tables["challenger"]), label="class changes"
        ).to_pylist()
    finally:
        source.close()
    return {
        "province": province,
        "first": first,
        "last": last,
        "cutoff": cut.isoformat(),
        "job": job,
        "reference": ref,
        "champion": sides["champion"],
        "challenger": sides["challenger"],
        "reclassified": reclassified,
        "class_changes": summarise_changes(changes),
    }


def _rows(side: dict[str, Any]) -> list[tuple[str, str]]:
    fmt = bt.fmt_figure
    rp = side["replay"]
    rnd = rp["random_order"]
    last = side["psi"]["months"][-1] if side["psi"]["months"] else {}
    out = [
        ("model", str(side.get("model"))),
        ("inspections (without a class)", f"{side['inspections']} ({side['unclassified']['inspections']})"),
    ]
    out += [(f"rate {c} [95% Wilson]", fmt(side["per_class"][c])) for c in RISK_CLASSES]
    out += [
        ("rates rise A<B<C<D", "yes" if side["calibration"]["monotone"] else "no"),
        ("lift D/A", fmt(side["lift_d_over_a"], "ratio")),
        ("AUC [bootstrap]", fmt(side["auc"], "ratio")),
        ("precision top 10%", fmt(side["precision_top"]["10%"])),
        ("days earlier", fmt(rp["days_earlier"], "ratio")),
        ("random order", "—" if rnd is None else f"{rnd['low']:.2f}–{rnd['high']:.2f}"),
        ("PSI last month vs reference", bt.fmt_psi(last.get("psi_reference"))),
    ]
    out += [
        (f"share {c} (last month)", f"{(last.get('shares') or {}).get(c) or 0:.1%}") for c in RISK_CLASSES
    ]
    return out


def render_text(result: dict[str, Any]) -> str:
    """Both backtests side by side, then the class changes between them."""
    a, b = _rows(result["champion"]), _rows(result["challenger"])
    width = max(len(v) for _, v in a) + 2
    lines = [
        f"champion / challenger {result['province']} {result['first']}..{result['last']} "
        f"(PSI reference {result['reference']})",
        f"{'':<32}{'champion':<{width}}challenger",
        *(f"{label:<32}{va:<{width}}{vb}" for (label, va), (_, vb) in zip(a, b, strict=True)),
    ]
    ch = result["class_changes"]
    labels = [*RISK_CLASSES, "-"]
    lines += [
        "",
        "class changes (rows: champion, columns: challenger; '-' = not classified)",
        "      " + "".join(f"{x:>8}" for x in labels),
        *(f"{r:<6}" + "".join(f"{ch['matrix'][r][c]:>8}" for c in labels) for r in labels),
        f"changed: {ch['changed']} entity-months ({ch['up']} to a higher class, {ch['down']} to a lower); "
        "per month: " + (", ".join(f"{m} {n}" for m, n in ch["changed_per_month"].items()) or "none"),
    ]
    for role, info in result["reclassified"].items():
        lines.append(f"{role} re-classified into {info['scratch']} (not published)")
    return "\n".join(lines)
