"""The month's risk picture for a province, written beside the results (``results/analysis/``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.analysis import regional
from functions.errors import NotFound
from functions.months import previous_month
from functions.warnings import sources
from functions.warnings.engine import validate_scope

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)


def flag_test(settings: Settings | None) -> regional.FlagTest:
    if settings is None:
        return regional.FlagTest()
    return regional.FlagTest(
        settings.analysis_min_entities, settings.analysis_share_ratio, settings.analysis_z
    )


def analyse(
    lake: Lake,
    *,
    month: str,
    province: str,
    settings: Settings | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Counts per class, by region level and industry, flags and migration; 404 without results."""
    validate_scope(month, province)
    current = sources.read_classification(lake, month, province)
    if current is None:
        raise NotFound(f"no published classification for province {province}, month {month}", field="month")
    prev_month = previous_month(month)
    previous = sources.read_classification(lake, prev_month, province)
    test = flag_test(settings)
    regions = regional.regions(current, previous, test)
    industries = regional.industries(current, previous, test)
    migration = regional.migration(current, previous)
    counts = regional.class_counts(current)
    n = current.num_rows
    summary: dict[str, Any] = {
        "month": month,
        "province": province,
        "province_name": layout.PROVINCES.get(province, province),
        "entities": n,
        "class_counts": counts,
        "cd_share": (counts["C"] + counts["D"]) / n if n else None,
        "previous_month": prev_month,
        "previous_entities": None if previous is None else previous.num_rows,
        "previous_class_counts": None if previous is None else regional.class_counts(previous),
        "run_id": str(current["run_id"][0].as_py()) if n else None,
        "model": str(current["model"][0].as_py()) if n else None,
        "flag_test": {
            "min_entities": test.min_entities,
            "share_ratio": test.share_ratio,
            "z": test.z,
            "text": test.describe(),
        },
        "flagged_regions": regions.filter(regions["flagged"]).num_rows,
        "flagged_industries": industries.filter(industries["flagged"]).num_rows,
    }
    keys: dict[str, str] = {}
    if write:
        for name, table in (("regions", regions), ("industries", industries), ("migration", migration)):
            keys[name] = layout.analysis_key(month, province, f"{name}.parquet")
            lake.write_parquet(keys[name], table)
        keys["summary"] = layout.analysis_key(month, province, "summary.json")
        lake.write_json(keys["summary"], summary)
    return {
        **summary,
        "regions": regions.to_pylist(),
        "industries": industries.to_pylist(),
        "migration": migration.to_pylist(),
        "keys": keys,
    }
