"""Regional and industry risk tables, the flag test and the migration matrix on hand-built data."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from functions.analysis.analyse import analyse
from functions.analysis.regional import FlagTest, industries, migration, regions
from functions.errors import NotFound
from functions.lake import Lake
from tests.warnings_data import classification_rows, code, publish_classification


def rows(spec: list[tuple[str, str, str]], start: int = 0) -> list[dict[str, object]]:
    """(region, industry, class) triples → classification rows with distinct codes."""
    return [
        {"uscc": code(start + i, region), "region_code": region, "industry_code": ind, "risk_class": cls}
        for i, (region, ind, cls) in enumerate(spec)
    ]


# County 420102 (city 4201): 40 entities, 20 C/D. County 420501 (city 4205): 60 entities, 6 C/D.
HOT = [("420102", "H61", "D")] * 10 + [("420102", "H61", "C")] * 10 + [("420102", "C13", "A")] * 20
COLD = [("420501", "C13", "D")] * 3 + [("420501", "C13", "C")] * 3 + [("420501", "F51", "A")] * 54


def current() -> pa.Table:
    return classification_rows(rows(HOT + COLD))


def test_region_levels_counts_and_flags() -> None:
    t = {(r["level"], r["code"]): r for r in regions(current(), None, FlagTest(30, 1.5, 2.326)).to_pylist()}
    assert set(t) == {
        ("province", "42"),
        ("city", "4201"),
        ("city", "4205"),
        ("county", "420102"),
        ("county", "420501"),
    }
    prov = t[("province", "42")]
    assert (prov["entities"], prov["a"], prov["b"], prov["c"], prov["d"]) == (100, 74, 0, 13, 13)
    assert prov["cd_share"] == pytest.approx(0.26) and not prov["flagged"]
    hot = t[("county", "420102")]
    p0 = 0.26
    assert hot["cd_share"] == pytest.approx(0.5)
    assert hot["z"] == pytest.approx((0.5 - p0) / math.sqrt(p0 * (1 - p0) / 40))
    assert hot["ratio_to_province"] == pytest.approx(0.5 / p0)
    assert hot["flagged"] and t[("city", "4201")]["flagged"]
    assert not t[("county", "420501")]["flagged"]
    assert hot["prev_entities"] is None and hot["cd_share_change"] is None


def test_flag_test_is_configurable() -> None:
    t = {(r["level"], r["code"]): r for r in regions(current(), None, FlagTest(41, 1.5, 2.326)).to_pylist()}
    assert not t[("county", "420102")]["flagged"]  # too small under min_entities=41
    t = {(r["level"], r["code"]): r for r in regions(current(), None, FlagTest(30, 2.0, 0.0)).to_pylist()}
    assert not t[("county", "420102")]["flagged"]  # 0.5 < 2 × 0.26


def test_industries_and_change_against_previous_month() -> None:
    prev = classification_rows(rows([("420102", "H61", "A")] * 40 + COLD))
    t = {r["section"]: r for r in industries(current(), prev, FlagTest(10, 1.5, 2.0)).to_pylist()}
    assert t["H"]["name"] == "住宿和餐饮业"
    assert (t["H"]["entities"], t["H"]["cd_share"], t["H"]["prev_cd_share"]) == (20, 1.0, 0.0)
    assert t["H"]["cd_share_change"] == pytest.approx(1.0) and t["H"]["flagged"]
    assert t["F"]["cd_share"] == 0.0 and not t["F"]["flagged"]


def test_migration_matrix() -> None:
    prev = classification_rows(
        [
            {"uscc": code(1), "risk_class": "A"},
            {"uscc": code(2), "risk_class": "A"},
            {"uscc": code(3), "risk_class": "B"},
            {"uscc": code(4), "risk_class": "D"},
        ]
    )
    cur = classification_rows(
        [
            {"uscc": code(1), "risk_class": "A"},
            {"uscc": code(2), "risk_class": "C"},
            {"uscc": code(3), "risk_class": "B"},
            {"uscc": code(5), "risk_class": "D"},
        ]
    )
    m = {(r["from_class"], r["to_class"]): r["entities"] for r in migration(cur, prev).to_pylist()}
    assert len(m) == 24 and sum(m.values()) == 5
    assert m[("A", "A")] == 1 and m[("A", "C")] == 1 and m[("B", "B")] == 1
    assert m[("D", "exited")] == 1 and m[("new", "D")] == 1 and m[("C", "C")] == 0


def test_analyse_writes_partitions(local_lake: Lake) -> None:
    publish_classification(local_lake, "2026-10", "42", rows(HOT + COLD))
    out = analyse(local_lake, month="2026-10", province="42")
    assert out["entities"] == 100 and out["class_counts"] == {"A": 74, "B": 0, "C": 13, "D": 13}
    assert out["flagged_regions"] == 2 and out["previous_entities"] is None
    back = local_lake.read_parquet(out["keys"]["regions"])
    assert back.to_pylist() == out["regions"]
    assert local_lake.read_json(out["keys"]["summary"])["cd_share"] == pytest.approx(0.26)
    with pytest.raises(NotFound):
        analyse(local_lake, month="2026-11", province="42")
