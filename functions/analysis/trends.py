"""Class-share trends over 12–24 months and the month's change split into new entrants, exits
and movement of existing entities (pure transforms over engine aggregates, ADR 0109).

Inputs are the small tables :mod:`functions.analysis.engine` returns: counts per month × group
× class, and the migration grid per county and section. Nothing here sees an entity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from functions.analysis.regional import EXITED, NEW
from schemas.results import RISK_CLASSES

Key = Callable[[str | None], str | None]


def month_range(last: str, count: int) -> list[str]:
    """``count`` months ending with ``last``, oldest first."""
    y, m = int(last[:4]), int(last[5:7])
    out: list[str] = []
    for _ in range(count):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


def counts_by(table: pa.Table, key: Key) -> dict[str | None, dict[str, dict[str, int]]]:
    """{group: {month: {class: entities}}} from (month, code, risk_class, entities) rows."""
    out: dict[str | None, dict[str, dict[str, int]]] = {}
    for m, code, c, n in zip(
        table["month"].to_pylist(),
        table["code"].to_pylist(),
        table["risk_class"].to_pylist(),
        table["entities"].to_pylist(),
        strict=True,
    ):
        by = out.setdefault(key(code), {}).setdefault(str(m), {})
        by[c] = by.get(c, 0) + int(n)
    return out


def series(counts: dict[str, dict[str, int]], months: list[str]) -> list[dict[str, Any]]:
    """One point per month: entities and the share of each class (``None`` shares without data)."""
    points = []
    for m in months:
        by = counts.get(m, {})
        n = sum(by.values())
        shares = {c: (by.get(c, 0) / n if n else None) for c in RISK_CLASSES}
        points.append({"month": m, "entities": n, **{f"share_{c.lower()}": shares[c] for c in RISK_CLASSES}})
    return points


def trend_rows(
    table: pa.Table, months: list[str], key: Key, label: Callable[[str], str]
) -> list[dict[str, Any]]:
    """Per group (largest first): its monthly class shares and the C+D share then and now."""
    rows = []
    for k, counts in counts_by(table, key).items():
        if k is None:
            continue
        pts = series(counts, months)
        with_data = [p for p in pts if p["entities"]]
        first, last = (with_data[0], with_data[-1]) if with_data else (None, None)

        def cd(p: dict[str, Any] | None) -> float | None:
            return None if p is None else float(p["share_c"] or 0.0) + float(p["share_d"] or 0.0)

        rows.append(
            {
                "code": k,
                "name": label(k),
                "entities": pts[-1]["entities"],
                "months_with_data": len(with_data),
                "first_month": None if first is None else first["month"],
                "cd_share_first": cd(first),
                "cd_share_last": cd(last),
                "points": pts,
            }
        )
    rows.sort(key=lambda r: (-int(r["entities"]), str(r["code"])))
    return rows


def decompose(migration: pa.Table, key: Key, column: str) -> dict[str | None, dict[str, dict[str, int]]]:
    """{group: {class: {new, exits, moved_in, moved_out, net}}} from the migration grid.

    ``net`` = new − exits + moved_in − moved_out = this month's count − last month's."""
    out: dict[str | None, dict[str, dict[str, int]]] = {}
    for f, t, g, n in zip(
        migration["from_class"].to_pylist(),
        migration["to_class"].to_pylist(),
        migration[column].to_pylist(),
        migration["entities"].to_pylist(),
        strict=True,
    ):
        grp = out.setdefault(
            key(g),
            {c: dict.fromkeys(("new", "exits", "moved_in", "moved_out", "net"), 0) for c in RISK_CLASSES},
        )
        n = int(n)
        if f == NEW and t in grp:
            grp[t]["new"] += n
            grp[t]["net"] += n
        elif t == EXITED and f in grp:
            grp[f]["exits"] += n
            grp[f]["net"] -= n
        elif f != t and f in grp and t in grp:
            grp[t]["moved_in"] += n
            grp[t]["net"] += n
            grp[f]["moved_out"] += n
            grp[f]["net"] -= n
    return out


def describe(split: dict[str, dict[str, int]]) -> list[str]:
    """Plain sentences for each class whose count changed: where the change came from."""
    lines = []
    for c in RISK_CLASSES:
        s = split[c]
        if s["net"] == 0:
            continue
        movement = s["moved_in"] - s["moved_out"]
        text = (
            f"{c} 类 {s['net']:+,}: 新设 new entrants +{s['new']:,}, 退出 exits −{s['exits']:,}, "
            f"存量迁移 movement of existing entities {movement:+,} (+{s['moved_in']:,} / −{s['moved_out']:,})"
        )
        if s["net"] > 0 and s["new"] > 0.5 * (s["new"] + max(s["moved_in"], 0)) and s["new"] >= movement:
            text += " — 增长主要来自新设主体 the growth is mostly new firms"
        elif s["net"] > 0 and movement > s["new"]:
            text += " — 增长主要来自存量主体迁入 the growth is mostly existing entities moving in"
        elif s["net"] < 0 and s["exits"] > abs(movement):
            text += " — 减少主要来自主体退出 the fall is mostly exits"
        lines.append(text + ".")
    return lines
