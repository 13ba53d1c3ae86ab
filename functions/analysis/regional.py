"""Regional and industry risk (区域性、行业性风险研判) and the class migration matrix.

Pure transforms over per-group class counts (the engine computes them, ADR 0109; the
``regions``/``industries``/``migration`` helpers over in-memory tables serve tests). A region or
industry is flagged high-risk when its C+D share is both materially and significantly above the
province's: ``n >= min_entities`` and ``share >= ratio x province share``, and the one-sided
binomial z statistic ``(share - p0) / sqrt(p0 (1 - p0) / n)`` stays significant after the
Benjamini–Hochberg correction over every material group of the level (docs/analysis.md,
ADR 0065, ADR 0110).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from functions.analysis import names
from schemas.analysis import INDUSTRY_SCHEMA, MIGRATION_SCHEMA, REGION_SCHEMA
from schemas.results import RISK_CLASSES

LEVELS = (("province", 2), ("city", 4), ("county", 6))
SECTIONS = names.SECTIONS
NEW, EXITED = "new", "exited"


@dataclass(frozen=True)
class FlagTest:
    min_entities: int = 30
    share_ratio: float = 1.5
    z: float = 2.326

    @property
    def alpha(self) -> float:
        """The false-discovery rate the z threshold stands for (2.326 → 1 %)."""
        return upper_tail(self.z)

    def describe(self) -> str:
        return (
            f"n ≥ {self.min_entities} and C+D share ≥ {self.share_ratio:g} × province share "
            f"and one-sided binomial test significant after Benjamini–Hochberg correction "
            f"(q ≤ {self.alpha:.3g}, i.e. z ≥ {self.z:g} for a single test)"
        )


Counts = dict[str | None, dict[str, int]]


def upper_tail(z: float) -> float:
    """P(Z ≥ z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def benjamini_hochberg(p_values: list[float | None]) -> list[float | None]:
    """BH-adjusted q-values (``None`` stays ``None`` and is not counted as a test)."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(tested)
    out: list[float | None] = [None] * len(p_values)
    running = 1.0
    for rank in range(m, 0, -1):
        p, i = tested[rank - 1]
        running = min(running, p * m / rank)
        out[i] = min(running, 1.0)
    return out


_COLS = ["uscc", "region_code", "industry_code", "risk_class"]


def _key_counts(keys: pa.Array, classes: pa.Array) -> Counts:
    """{key: {class: entities}} (pyarrow group-by: the analysis needs no SQL engine)."""
    t = pa.table({"k": keys, "c": classes}).group_by(["k", "c"]).aggregate([([], "count_all")])
    out: Counts = {}
    for k, c, n in zip(t["k"].to_pylist(), t["c"].to_pylist(), t["count_all"].to_pylist(), strict=True):
        out.setdefault(k, {})[c] = int(n)
    return out


def _group_rows(now: Counts, before: Counts) -> list[dict[str, object]]:
    """Per key of the current month: counts per class, C+D share and last month's figures."""
    total = sum(sum(by.values()) for by in now.values())
    cd_all = sum(by.get("C", 0) + by.get("D", 0) for by in now.values())
    p0 = cd_all / total if total else None
    rows: list[dict[str, object]] = []
    for k, by in now.items():
        entities = sum(by.values())
        row: dict[str, object] = {"k": k, "entities": entities}
        row.update({c.lower(): by.get(c, 0) for c in RISK_CLASSES})
        row["cd_share"] = (by.get("C", 0) + by.get("D", 0)) / entities
        old = before.get(k)
        n_old = sum(old.values()) if old else None
        row["prev_entities"] = n_old
        row["prev_cd_share"] = (old.get("C", 0) + old.get("D", 0)) / n_old if old and n_old else None
        row["p0"] = p0
        rows.append(row)
    return rows


def _finish(rows: list[dict[str, object]], test: FlagTest) -> list[dict[str, object]]:
    """z, one-sided p and the BH q-value over ``rows`` (one family of tests), then the flag."""
    for r in rows:
        p0 = r.pop("p0")
        share, n = r["cd_share"], r["entities"]
        assert isinstance(share, float) and isinstance(n, int)
        prev_share = r["prev_cd_share"]
        r["cd_share_change"] = None if not isinstance(prev_share, float) else share - prev_share
        r["ratio_to_province"] = share / p0 if isinstance(p0, float) and p0 else None
        z = (share - p0) / ((p0 * (1 - p0) / n) ** 0.5) if isinstance(p0, float) and 0 < p0 < 1 else None
        r["z"] = z
        r["p_value"] = None if z is None else upper_tail(z)
        r["material"] = bool(
            n >= test.min_entities and isinstance(p0, float) and share >= test.share_ratio * p0
        )
    # The family is every group of the level with a test: testing 100 counties at 1 % each flags
    # about one by chance alone, so the q-value (false-discovery rate) decides (ADR 0110).
    qs = benjamini_hochberg([p if isinstance(p, float) else None for p in (r["p_value"] for r in rows)])
    for r, qv in zip(rows, qs, strict=True):
        r["q_value"] = qv
        r["flagged"] = bool(r.pop("material")) and isinstance(qv, float) and qv <= test.alpha
    return rows


def _prefix(table: pa.Table, column: str, n: int) -> pa.Array:
    return pc.utf8_slice_codeunits(table[column].combine_chunks(), 0, n)


def _sort_key(v: object) -> tuple[bool, str]:
    return (v is None, str(v or ""))


def county_counts(table: pa.Table) -> Counts:
    """{6-digit region prefix: {class: entities}} of a classification table."""
    return _key_counts(_prefix(table, "region_code", 6), table["risk_class"].combine_chunks())


def section_counts(table: pa.Table) -> Counts:
    return _key_counts(_prefix(table, "industry_code", 1), table["risk_class"].combine_chunks())


def roll_up(counts: Counts, n: int) -> Counts:
    """County counts summed to the ``n``-digit prefix (city 4, province 2)."""
    out: Counts = {}
    for k, by in counts.items():
        key = None if k is None else k[:n]
        acc = out.setdefault(key, {})
        for c, v in by.items():
            acc[c] = acc.get(c, 0) + v
    return out


def regions_from_counts(now: Counts, before: Counts | None, test: FlagTest) -> pa.Table:
    """Counts, C+D share, change, z, BH q-value, flag and name per province, city and county,
    from county counts (what the engine returns, :mod:`functions.analysis.engine`)."""
    rows: list[dict[str, object]] = []
    for level, n in LEVELS:
        for r in _finish(_group_rows(roll_up(now, n), roll_up(before or {}, n)), test):
            r["code"] = r.pop("k")
            r["level"] = level
            r["name"] = names.region_name(str(r["code"])) if r["code"] else ""
            rows.append(r)
    order = {lvl: i for i, (lvl, _) in enumerate(LEVELS)}
    rows.sort(key=lambda r: (order[str(r["level"])], *_sort_key(r["code"])))
    return pa.Table.from_pylist(rows, schema=REGION_SCHEMA)


def industries_from_counts(now: Counts, before: Counts | None, test: FlagTest) -> pa.Table:
    """The same per GB/T 4754 section letter."""
    rows = _finish(_group_rows(now, before or {}), test)
    for r in rows:
        r["section"] = r.pop("k")
        r["name"] = SECTIONS.get(str(r["section"]), "")
    rows.sort(key=lambda r: _sort_key(r["section"]))
    return pa.Table.from_pylist(rows, schema=INDUSTRY_SCHEMA)


def regions(current: pa.Table, previous: pa.Table | None, test: FlagTest) -> pa.Table:
    """:func:`regions_from_counts` of in-memory tables (tests, small provinces)."""
    return regions_from_counts(
        county_counts(current), None if previous is None else county_counts(previous), test
    )


def industries(current: pa.Table, previous: pa.Table | None, test: FlagTest) -> pa.Table:
    return industries_from_counts(
        section_counts(current), None if previous is None else section_counts(previous), test
    )


def migration(current: pa.Table, previous: pa.Table | None) -> pa.Table:
    """Entities moving from last month's class (or ``new``) to this month's (or ``exited``).

    Every cell of the 5 × 5 grid is present (zeros included) so readers need no special cases.
    """
    cur = current.select(["uscc", "risk_class"]).rename_columns(["uscc", "to_class"])
    prev = (previous if previous is not None else current.schema.empty_table()).select(["uscc", "risk_class"])
    joined = cur.join(prev.rename_columns(["uscc", "from_class"]), "uscc", join_type="full outer")
    pairs = (
        pa.table(
            {
                "from_class": pc.fill_null(joined["from_class"], NEW),
                "to_class": pc.fill_null(joined["to_class"], EXITED),
            }
        )
        .group_by(["from_class", "to_class"])
        .aggregate([([], "count_all")])
    )
    got = {
        (f, to): int(n)
        for f, to, n in zip(
            pairs["from_class"].to_pylist(),
            pairs["to_class"].to_pylist(),
            pairs["count_all"].to_pylist(),
            strict=True,
        )
    }
    return migration_from_counts(got)


def migration_from_counts(got: dict[tuple[str, str], int]) -> pa.Table:
    """The full grid from {(from, to): entities} (missing cells are zeros)."""
    rows = [
        {"from_class": f, "to_class": to, "entities": int(got.get((f, to), 0))}
        for f in (*RISK_CLASSES, NEW)
        for to in (*RISK_CLASSES, EXITED)
        if not (f == NEW and to == EXITED)
    ]
    return pa.Table.from_pylist(rows, schema=MIGRATION_SCHEMA)


def class_counts(table: pa.Table | None) -> dict[str, int]:
    counts = dict.fromkeys(RISK_CLASSES, 0)
    if table is not None:
        for c in table["risk_class"].to_pylist():
            counts[c] = counts.get(c, 0) + 1
    return counts
