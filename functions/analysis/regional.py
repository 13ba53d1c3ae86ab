"""Regional and industry risk (区域性、行业性风险研判) and the class migration matrix.

Pure transforms over classification tables (pyarrow compute, no I/O, no SQL engine: the
monthly run in AWS has no DuckDB, docs/adr/0068). A region or industry
is flagged high-risk when its C+D share is both materially and significantly above the
province's: ``n >= min_entities`` and ``share >= ratio x province share`` and the one-sided
binomial z statistic ``(share - p0) / sqrt(p0 (1 - p0) / n) >= z`` (docs/analysis.md, ADR 0065).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

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


_COLS = ["uscc", "region_code", "industry_code", "risk_class"]


def _key_counts(keys: pa.Array, classes: pa.Array) -> dict[object, dict[str, int]]:
    """{key: {class: entities}} (pyarrow group-by: the analysis needs no SQL engine)."""
    t = pa.table({"k": keys, "c": classes}).group_by(["k", "c"]).aggregate([([], "count_all")])
    out: dict[object, dict[str, int]] = {}
    for k, c, n in zip(t["k"].to_pylist(), t["c"].to_pylist(), t["count_all"].to_pylist(), strict=True):
        out.setdefault(k, {})[c] = int(n)
    return out


def _group_rows(
    cur_keys: pa.Array, cur: pa.Table, prev_keys: pa.Array | None, prev: pa.Table | None
) -> list[dict[str, object]]:
    """Per key of the current month: counts per class, C+D share and last month's figures."""
    now = _key_counts(cur_keys, cur["risk_class"].combine_chunks())
    before = (
        _key_counts(prev_keys, prev["risk_class"].combine_chunks())
        if prev is not None and prev_keys is not None
        else {}
    )
    total = cur.num_rows
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
    for r in rows:
        p0 = r.pop("p0")
        share, n = r["cd_share"], r["entities"]
        assert isinstance(share, float) and isinstance(n, int)
        prev_share = r["prev_cd_share"]
        r["cd_share_change"] = None if not isinstance(prev_share, float) else share - prev_share
        r["ratio_to_province"] = share / p0 if isinstance(p0, float) and p0 else None
        z = (share - p0) / ((p0 * (1 - p0) / n) ** 0.5) if isinstance(p0, float) and 0 < p0 < 1 else None
        r["z"] = z
        r["flagged"] = bool(
            n >= test.min_entities
            and isinstance(p0, float)
            and share >= test.share_ratio * p0
            and z is not None
            and z >= test.z
        )
    return rows


def _prefix(table: pa.Table, column: str, n: int) -> pa.Array:
    return pc.utf8_slice_codeunits(table[column].combine_chunks(), 0, n)


def _sort_key(v: object) -> tuple[bool, str]:
    return (v is None, str(v or ""))


def regions(current: pa.Table, previous: pa.Table | None, test: FlagTest) -> pa.Table:
    """Counts, C+D share, change and flag per province, city (4 digits) and county (6 digits)."""
    rows: list[dict[str, object]] = []
    for level, n in LEVELS:
        prev_keys = None if previous is None else _prefix(previous, "region_code", n)
        for r in _finish(_group_rows(_prefix(current, "region_code", n), current, prev_keys, previous), test):
            r["code"] = r.pop("k")
            r["level"] = level
            rows.append(r)
    order = {lvl: i for i, (lvl, _) in enumerate(LEVELS)}
    rows.sort(key=lambda r: (order[str(r["level"])], *_sort_key(r["code"])))
    return pa.Table.from_pylist(rows, schema=REGION_SCHEMA)


def industries(current: pa.Table, previous: pa.Table | None, test: FlagTest) -> pa.Table:
    """The same per GB/T 4754 section letter."""
    prev_keys = None if previous is None else _prefix(previous, "industry_code", 1)
    rows = _finish(_group_rows(_prefix(current, "industry_code", 1), current, prev_keys, previous), test)
    for r in rows:
        r["section"] = r.pop("k")
        r["name"] = SECTIONS.get(str(r["section"]), "")
    rows.sort(key=lambda r: _sort_key(r["section"]))
    return pa.Table.from_pylist(rows, schema=INDUSTRY_SCHEMA)


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
        (f, to): n
        for f, to, n in zip(
            pairs["from_class"].to_pylist(),
            pairs["to_class"].to_pylist(),
            pairs["count_all"].to_pylist(),
            strict=True,
        )
    }
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
