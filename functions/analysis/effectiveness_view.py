"""The read side of the monthly effectiveness figures for the REST API (docs/adr/0134).

The route returns what the monthly run stored (``results/analysis/.../effectiveness.json``),
never recomputes: no province's data is pulled into the API function, and an answer costs one
small object per month. Only the ``figures`` (each with ``n`` and its interval) are returned,
not the bare ratios the report keeps for its own arithmetic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from functions import layout
from functions.analysis.backtest import month_range

if TYPE_CHECKING:
    from functions.lake import Lake
    from schemas.api import EffectivenessQuery


def stored_figures(lake: Lake, query: EffectivenessQuery) -> dict[str, Any]:
    months, missing = [], []
    for month in month_range(query.first, query.last):
        key = layout.analysis_key(month, query.province, "effectiveness.json")
        if not lake.exists(key):
            missing.append(month)
            continue
        eff = lake.read_json(key)
        months.append(
            {
                "month": month,
                "inspections": int(eff.get("inspections") or 0),
                "problems": int(eff.get("problems") or 0),
                "figures": eff.get("figures") or {},
            }
        )
    return {
        "province": query.province,
        "from": query.first,
        "to": query.last,
        "months": months,
        "missing_months": missing,
    }
