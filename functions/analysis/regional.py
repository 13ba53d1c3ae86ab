"""Regional and industry risk (区域性、行业性风险研判) and the class migration matrix.

Pure transforms over classification tables (DuckDB SQL on Arrow, no I/O). A region or industry
is flagged high-risk when its C+D share is both materially and significantly above the
province's: ``n >= min_entities`` and ``share >= ratio x province share`` and the one-sided
binomial z statistic ``(share - p0) / sqrt(p0 (1 - p0) / n) >= z`` (docs/analysis.md, ADR 0065).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from schemas.results import RISK_CLASSES

LEVELS = (("province", 2), ("city", 4), ("county", 6))
SECTIONS: dict[str, str] = {
    "A": "农、林、牧、渔业",
    "B": "采矿业",
    "C": "制造业",
    "D": "电力、热力、燃气及水生产和供应业",
    "E": "建筑业",
    "F": "批发和零售业",
    "G": "交通运输、仓储和邮政业",
    "H": "住宿和餐饮业",
    "I": "信息传输、软件和信息技术服务业",
    "J": "金融业",
    "K": "房地产业",
    "L": "租赁和商务服务业",
    "M": "科学研究和技术服务业",
    "N": "水利、环境和公共设施管理业",
    "O": "居民服务、修理和其他服务业",
    "P": "教育",
    "Q": "卫生和社会工作",
    "R": "文化、体育和娱乐业",
    "S": "公共管理、社会保障和社会组织",
    "T": "国际组织",
}
GROUP_FIELDS = [
    pa.field("entities", pa.int64()),
    *[pa.field(c.lower(), pa.int64()) for c in RISK_CLASSES],
    pa.field("cd_share", pa.float64()),
    pa.field("prev_entities", pa.int64()),
    pa.field("prev_cd_share", pa.float64()),
    pa.field("cd_share_change", pa.float64()),
    pa.field("ratio_to_province", pa.float64()),
    pa.field("z", pa.float64()),
    pa.field("flagged", pa.bool_()),
]
REGION_SCHEMA = pa.schema([pa.field("level", pa.string()), pa.field("code", pa.string()), *GROUP_FIELDS])
INDUSTRY_SCHEMA = pa.schema([pa.field("section", pa.string()), pa.field("name", pa.string()), *GROUP_FIELDS])
MIGRATION_SCHEMA = pa.schema(
    [pa.field("from_class", pa.string()), pa.field("to_class", pa.string()), pa.field("entities", pa.int64())]
)
NEW, EXITED = "new", "exited"


@dataclass(frozen=True)
class FlagTest:
    min_entities: int = 30
    share_ratio: float = 1.5
    z: float = 2.326

    def describe(self) -> str:
        return (
            f"n ≥ {self.min_entities} and C+D share ≥ {self.share_ratio:g} × province share "
            f"and one-sided binomial z ≥ {self.z:g}"
        )


def _con(current: pa.Table, previous: pa.Table | None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:", config={"threads": 2})
    cols = ["uscc", "region_code", "industry_code", "risk_class"]
    con.register("cur", current.select(cols))
    con.register("prev", (previous if previous is not None else current.schema.empty_table()).select(cols))
    return con


def _groups(key_sql: str, extra: str = "") -> str:
    counts = ", ".join(f"count_if(risk_class = '{c}') AS {c.lower()}" for c in RISK_CLASSES)
    return f"""
WITH g AS ({key_sql}),
cur_g AS (SELECT {extra} k, count(*) AS entities, {counts} FROM g WHERE src = 'cur' GROUP BY ALL),
prev_g AS (SELECT {extra} k, count(*) AS n, count_if(risk_class IN ('C', 'D')) AS cd FROM g
           WHERE src = 'prev' GROUP BY ALL),
p0 AS (SELECT CAST(count_if(risk_class IN ('C', 'D')) AS DOUBLE) / nullif(count(*), 0) AS p0 FROM cur)
SELECT cur_g.*, CAST(c + d AS DOUBLE) / entities AS cd_share, prev_g.n AS prev_entities,
  CAST(prev_g.cd AS DOUBLE) / nullif(prev_g.n, 0) AS prev_cd_share, p0.p0
FROM cur_g CROSS JOIN p0 LEFT JOIN prev_g USING ({extra} k)"""


def _finish(t: pa.Table, test: FlagTest) -> list[dict[str, object]]:
    rows = []
    for r in t.to_pylist():
        p0, share, n = r.pop("p0"), r["cd_share"], r["entities"]
        r["cd_share_change"] = None if r["prev_cd_share"] is None else share - r["prev_cd_share"]
        r["ratio_to_province"] = share / p0 if p0 else None
        r["z"] = (share - p0) / ((p0 * (1 - p0) / n) ** 0.5) if p0 and 0 < p0 < 1 else None
        r["flagged"] = bool(
            n >= test.min_entities
            and p0 is not None
            and share >= test.share_ratio * p0
            and r["z"] is not None
            and r["z"] >= test.z
        )
        rows.append(r)
    return rows


def regions(current: pa.Table, previous: pa.Table | None, test: FlagTest) -> pa.Table:
    """Counts, C+D share, change and flag per province, city (4 digits) and county (6 digits)."""
    con = _con(current, previous)
    union = " UNION ALL ".join(
        f"SELECT '{lvl}' AS level, substr(region_code, 1, {n}) AS k, risk_class, '{src}' AS src FROM {src}"
        for lvl, n in LEVELS
        for src in ("cur", "prev")
    )
    t = con.sql(_groups(union, "level,") + " ORDER BY level, k").to_arrow_table()
    rows = _finish(t.rename_columns(["code" if c == "k" else c for c in t.column_names]), test)
    order = {lvl: i for i, (lvl, _) in enumerate(LEVELS)}
    rows.sort(key=lambda r: (order[str(r["level"])], str(r["code"])))
    return pa.Table.from_pylist(rows, schema=REGION_SCHEMA)


def industries(current: pa.Table, previous: pa.Table | None, test: FlagTest) -> pa.Table:
    """The same per GB/T 4754 section letter."""
    con = _con(current, previous)
    union = " UNION ALL ".join(
        f"SELECT substr(industry_code, 1, 1) AS k, risk_class, '{src}' AS src FROM {src}"
        for src in ("cur", "prev")
    )
    t = con.sql(_groups(union) + " ORDER BY k").to_arrow_table()
    rows = _finish(t, test)
    for r in rows:
        r["section"] = r.pop("k")
        r["name"] = SECTIONS.get(str(r["section"]), "")
    return pa.Table.from_pylist(rows, schema=INDUSTRY_SCHEMA)


def migration(current: pa.Table, previous: pa.Table | None) -> pa.Table:
    """Entities moving from last month's class (or ``new``) to this month's (or ``exited``).

    Every cell of the 5 × 5 grid is present (zeros included) so readers need no special cases.
    """
    con = _con(current, previous)
    t = con.sql(
        f"""SELECT coalesce(p.risk_class, '{NEW}') AS from_class,
               coalesce(c.risk_class, '{EXITED}') AS to_class, count(*) AS entities
            FROM cur c FULL OUTER JOIN prev p ON p.uscc = c.uscc GROUP BY ALL"""
    ).to_arrow_table()
    got = {(r["from_class"], r["to_class"]): r["entities"] for r in t.to_pylist()}
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
