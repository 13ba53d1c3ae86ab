"""The month's risk picture for a province, written beside the results: one dataset per table
(``results/analysis_<kind>/``, schemas/analysis.py) and JSON documents in ``results/analysis/``.

Every figure is an aggregate computed on the engine (DuckDB over the lake locally, Athena in
AWS: :mod:`functions.analysis.engine`, ADR 0109); Python only shapes a few thousand counts.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from functions import layout
from functions.analysis import engine as eng
from functions.analysis import names, regional, trends
from functions.errors import NotFound
from functions.layout import validate_scope
from functions.months import previous_month
from schemas.results import RISK_CLASSES

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)
TREND_LEVELS = (("city", 4), ("county", 6))


def flag_test(settings: Settings | None) -> regional.FlagTest:
    if settings is None:
        return regional.FlagTest()
    return regional.FlagTest(
        settings.analysis_min_entities, settings.analysis_share_ratio, settings.analysis_z
    )


def _month_counts(table: pa.Table, month: str) -> regional.Counts:
    t = table.filter(pc.equal(table["month"], month))
    out: regional.Counts = {}
    for code, c, n in zip(
        t["code"].to_pylist(), t["risk_class"].to_pylist(), t["entities"].to_pylist(), strict=True
    ):
        by = out.setdefault(code, {})
        by[c] = by.get(c, 0) + int(n)
    return out


def _total(counts: regional.Counts) -> dict[str, int]:
    out = dict.fromkeys(RISK_CLASSES, 0)
    for by in counts.values():
        for c, n in by.items():
            out[c] = out.get(c, 0) + n
    return out


def _prefix(n: int) -> trends.Key:
    return lambda code: None if code is None else code[:n]


def analyse(
    lake: Lake,
    *,
    month: str,
    province: str,
    settings: Settings | None = None,
    write: bool = True,
    engine: str | None = None,
    athena_runner: Any = None,
    boto3_session: Any = None,
) -> dict[str, Any]:
    """Counts per class, by region level and industry, flags, migration, trends; 404 without results."""
    validate_scope(month, province)
    prev_month = previous_month(month)
    months = trends.month_range(month, settings.analysis_trend_months if settings is not None else 24)
    source = eng.open_engine(
        lake,
        province,
        settings=settings,
        engine=engine,
        athena_runner=athena_runner,
        boto3_session=boto3_session,
    )
    try:
        by_region = source.query(eng.region_counts_sql(province, months[0], month), label="region counts")
        if not by_region.num_rows or not pc.any(pc.equal(by_region["month"], month)).as_py():
            raise NotFound(
                f"no published classification for province {province}, month {month}", field="month"
            )
        by_section = source.query(eng.section_counts_sql(province, months[0], month), label="section counts")
        moves = source.query(eng.migration_sql(province, month, prev_month), label="migration")
        provenance = source.query(eng.provenance_sql(province, month), label="provenance").to_pylist()
    finally:
        source.close()
    test = flag_test(settings)
    now, before = _month_counts(by_region, month), _month_counts(by_region, prev_month)
    regions = regional.regions_from_counts(now, before or None, test)
    industries = regional.industries_from_counts(
        _month_counts(by_section, month), _month_counts(by_section, prev_month) or None, test
    )
    grid: dict[tuple[str, str], int] = {}
    for f, t, n in zip(
        moves["from_class"].to_pylist(),
        moves["to_class"].to_pylist(),
        moves["entities"].to_pylist(),
        strict=True,
    ):
        grid[(f, t)] = grid.get((f, t), 0) + int(n)
    migration = regional.migration_from_counts(grid)
    counts, prev_counts = _total(now), _total(before)
    n, n_prev = sum(counts.values()), sum(prev_counts.values())
    split = trends.decompose(moves, lambda _: "all", "county").get("all")
    provenance.sort(key=lambda r: -int(r["entities"]))
    summary: dict[str, Any] = {
        "month": month,
        "province": province,
        "province_name": layout.PROVINCES.get(province, province),
        "entities": n,
        "class_counts": counts,
        "cd_share": (counts["C"] + counts["D"]) / n if n else None,
        "previous_month": prev_month,
        "previous_entities": n_prev or None,
        "previous_class_counts": prev_counts if n_prev else None,
        "run_id": str(provenance[0]["run_id"]) if provenance else None,
        "model": str(provenance[0]["model"]) if provenance else None,
        "flag_test": {
            "min_entities": test.min_entities,
            "share_ratio": test.share_ratio,
            "z": test.z,
            "alpha": test.alpha,
            "correction": "benjamini-hochberg",
            "text": test.describe(),
        },
        "flagged_regions": regions.filter(regions["flagged"]).num_rows,
        "flagged_industries": industries.filter(industries["flagged"]).num_rows,
        "names_source": names.source(),
        "change_split": split if n_prev else None,
        "change_text": trends.describe(split) if split and n_prev else [],
    }
    trend = {
        "months": months,
        "regions": {
            level: trends.trend_rows(by_region, months, _prefix(k), names.region_name)
            for level, k in TREND_LEVELS
        },
        "industries": trends.trend_rows(by_section, months, _prefix(1), names.section_name),
        "split_regions": _splits(moves, "county", 6, names.region_name) if n_prev else [],
        "split_industries": _splits(moves, "section", 1, names.section_name) if n_prev else [],
    }
    keys: dict[str, str] = {}
    if write:
        for name, table in (("regions", regions), ("industries", industries), ("migration", migration)):
            keys[name] = layout.analysis_table_key(name, month, province)
            lake.write_parquet(keys[name], table)
        keys["trends"] = layout.analysis_key(month, province, "trends.json")
        lake.write_json(keys["trends"], trend)
        keys["summary"] = layout.analysis_key(month, province, "summary.json")
        lake.write_json(keys["summary"], summary)
    return {
        **summary,
        "regions": regions.to_pylist(),
        "industries": industries.to_pylist(),
        "migration": migration.to_pylist(),
        "trends": trend,
        "keys": keys,
    }


def _splits(moves: pa.Table, column: str, digits: int, label: trends.Key | Any) -> list[dict[str, Any]]:
    """Per group: the change split of each class and its sentences (largest change first)."""
    found = [(k, s) for k, s in trends.decompose(moves, _prefix(digits), column).items() if k is not None]
    found.sort(key=lambda p: (-sum(abs(c["net"]) for c in p[1].values()), str(p[0])))
    return [{"code": k, "name": label(k), "split": s, "text": trends.describe(s)} for k, s in found]
