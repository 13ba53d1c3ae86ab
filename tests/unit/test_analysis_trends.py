"""Trends, the change split, BH q-values, names and the engine aggregates (against pyarrow)."""

from __future__ import annotations

import pyarrow as pa
import pytest
import sqlglot

from functions.analysis import engine, names, trends
from functions.analysis.analyse import analyse
from functions.analysis.regional import FlagTest, benjamini_hochberg, industries, migration, regions
from functions.lake import Lake
from tests.warnings_data import code, publish_classification


def test_month_range() -> None:
    assert trends.month_range("2026-02", 4) == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert len(trends.month_range("2026-10", 24)) == 24


def test_benjamini_hochberg_matches_the_textbook_example() -> None:
    # p = (0.01, 0.04, 0.03, 0.005): sorted 0.005, 0.01, 0.03, 0.04 → q = 0.02, 0.02, 0.04, 0.04
    q = benjamini_hochberg([0.01, 0.04, 0.03, None, 0.005])
    assert q[3] is None
    assert q == pytest.approx([0.02, 0.04, 0.04, None, 0.02])  # type: ignore[arg-type]


def test_bh_unflags_what_one_test_alone_would_flag() -> None:
    # 40 counties of 225: one at 15.6 % C+D (z ≈ 2.8, p ≈ 0.002 < 1 %), 39 at 9.8 %.
    spec = []
    for c in range(40):
        n_cd = 35 if c == 0 else 22
        spec += [(f"4201{c + 10:02d}", "D")] * n_cd + [(f"4201{c + 10:02d}", "A")] * (225 - n_cd)
    t = pa.table(
        {
            "uscc": [code(i) for i in range(len(spec))],
            "region_code": [r for r, _ in spec],
            "industry_code": ["C13"] * len(spec),
            "risk_class": [c for _, c in spec],
        }
    )
    rows = {r["code"]: r for r in regions(t, None, FlagTest(30, 1.5, 2.326)).to_pylist()}
    hot = rows["420110"]
    assert hot["z"] > 2.326 and hot["p_value"] < 0.01  # significant alone …
    assert hot["q_value"] > 0.01 and not hot["flagged"]  # … not among 40 tests


def test_names() -> None:
    assert names.region_name("420106") == "武昌区" and names.region_name("4201") == "武汉市"
    assert names.region_name("421000") == "荆州市" and names.region_name("42") == "湖北省"
    assert names.region_path("420106") == "武汉市 武昌区" and names.region_path("110101") == "东城区"
    assert names.region_name("429999") == "" and names.region_name(None) == ""
    assert names.section_name("H") == "住宿和餐饮业" and "as of" in names.source()


MIG = pa.table(
    {
        "from_class": ["new", "new", "A", "A", "B", "C"],
        "to_class": ["B", "B", "B", "A", "exited", "B"],
        "county": ["420102", "420111", "420102", "420102", "420102", "420111"],
        "entities": [90, 10, 5, 100, 3, 2],
    }
)


def test_decompose_and_describe() -> None:
    split = trends.decompose(MIG, lambda _: "all", "county")["all"]
    assert split["B"] == {"new": 100, "exits": 3, "moved_in": 7, "moved_out": 0, "net": 104}
    assert split["A"] == {"new": 0, "exits": 0, "moved_in": 0, "moved_out": 5, "net": -5}
    text = trends.describe(split)
    assert any(t.startswith("B 类 +104") and "mostly new firms" in t for t in text)
    by_county = trends.decompose(MIG, lambda c: c, "county")
    assert by_county["420111"]["C"]["moved_out"] == 2 and by_county["420102"]["B"]["new"] == 90


def rows_for(month: str, n: int, shift: int = 0) -> list[dict[str, object]]:
    out = []
    for i in range(n):
        region = ("420102", "420106", "420502")[i % 3]
        out.append(
            {
                "uscc": code(i + shift, region),
                "region_code": region,
                "industry_code": "CFH"[i % 3] + "13",
                "risk_class": "ABCD"[(i * 7 + len(month)) % 4 if i % 5 else 3],
                "risk_score": float((i * 13) % 100),
            }
        )
    return out


def test_engine_aggregates_equal_the_in_memory_figures(local_lake: Lake) -> None:
    prev = publish_classification(local_lake, "2026-09", "42", rows_for("2026-09", 300))
    cur = publish_classification(local_lake, "2026-10", "42", rows_for("2026-10", 330, shift=20))
    publish_classification(local_lake, "2026-10", "13", rows_for("2026-10", 50))  # another province
    out = analyse(local_lake, month="2026-10", province="42")
    test = FlagTest()
    assert out["regions"] == regions(cur, prev, test).to_pylist()
    assert out["industries"] == industries(cur, prev, test).to_pylist()
    assert out["migration"] == migration(cur, prev).to_pylist()
    assert out["entities"] == 330 and out["previous_entities"] == 300
    split = out["change_split"]
    for c in "ABCD":
        now = cur["risk_class"].to_pylist().count(c)
        before = prev["risk_class"].to_pylist().count(c)
        assert split[c]["net"] == now - before
    t = out["trends"]
    assert t["months"][-1] == "2026-10" and len(t["months"]) == 24
    county = {r["code"]: r for r in t["regions"]["county"]}
    assert county["420106"]["name"] == "武昌区" and county["420106"]["months_with_data"] == 2
    assert county["420106"]["entities"] == sum(1 for r in cur["region_code"].to_pylist() if r == "420106")


def test_statements_are_athena_sql() -> None:
    for sql in (
        engine.region_counts_sql("42", "2024-11", "2026-10"),
        engine.section_counts_sql("42", "2024-11", "2026-10"),
        engine.migration_sql("42", "2026-10", "2026-09"),
        engine.histogram_sql("42", ("2026-10", "2026-09")),
        engine.provenance_sql("42", "2026-10"),
    ):
        tree = sqlglot.parse_one(sql, read="trino")
        assert {t.name for t in tree.find_all(sqlglot.exp.Table)} == {"classifications"}
        assert "province = '42'" in sql
