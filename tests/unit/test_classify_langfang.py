"""Oracle tests: the Langfang rules at every boundary, through the real compiled SQL on DuckDB.

Month 2026-06: the period is 2025-07-01 … 2026-06-30 (12 months ending on the month's last day).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from functions import layout
from functions.classify.run import classify_month
from functions.lake import Lake
from functions.settings import Settings
from tests.classify_data import code, entity, write_curated

D = dt.date
MONTH = "2026-06"
END = D(2026, 6, 30)
SYSTEM = "langfang-public-credit"


def pen(n: int, i: int, decided: dt.date, kind: str = "fine", **over: Any) -> dict[str, Any]:
    row = {
        "decision_no": f"P{n}-{i}",
        "uscc": code(n),
        "decided_on": decided,
        "authority": "廊坊市市场监管局",
        "domain": "food",
        "kind": kind,
    }
    row.update(over)
    return row


def abn(n: int, i: int, listed: dt.date, **over: Any) -> dict[str, Any]:
    return {"record_id": f"A{n}-{i}", "uscc": code(n), "listed_on": listed, "reason": "unreachable", **over}


def sdl(n: int, i: int, listed: dt.date, **over: Any) -> dict[str, Any]:
    return {"record_id": f"S{n}-{i}", "uscc": code(n), "listed_on": listed, "reason": "严重违法", **over}


def oth(n: int, i: int, recorded: dt.date, severity: str = "general", **over: Any) -> dict[str, Any]:
    return {
        "record_id": f"O{n}-{i}",
        "uscc": code(n),
        "recorded_on": recorded,
        "category": "tax_arrears",
        "severity": severity,
        "source": "税务",
        **over,
    }


IN = D(2026, 3, 15)
# n: (expected class or None = not classified, entity overrides, {dataset: rows})
CASES: dict[int, tuple[str | None, dict[str, Any], dict[str, list[dict[str, Any]]]]] = {
    1: ("A", {}, {}),
    2: ("B", {}, {"penalties": [pen(2, i, IN) for i in range(5)]}),
    3: ("C", {}, {"penalties": [pen(3, i, IN) for i in range(6)]}),
    4: (
        "B",
        {},
        {
            "penalties": [pen(4, i, IN) for i in range(2)],
            "abnormal_list": [abn(4, i, IN) for i in range(2)],
            "other_dishonesty": [oth(4, 0, IN)],
        },
    ),
    5: (
        "C",
        {},
        {
            "penalties": [pen(5, i, IN) for i in range(2)],
            "abnormal_list": [abn(5, i, IN) for i in range(2)],
            "other_dishonesty": [oth(5, 0, IN), oth(5, 1, IN)],
        },
    ),
    # window edges: (start, end] = (2025-06-30, 2026-06-30]
    6: ("A", {}, {"penalties": [pen(6, 0, D(2025, 6, 30))]}),
    7: ("B", {}, {"penalties": [pen(7, 0, D(2025, 7, 1))]}),
    8: ("B", {}, {"penalties": [pen(8, 0, END)]}),
    9: ("A", {}, {"penalties": [pen(9, 0, D(2026, 7, 1))]}),
    # withdrawn, repaired on / after period end
    10: ("A", {}, {"penalties": [pen(10, 0, IN, withdrawn=True)]}),
    11: ("A", {}, {"penalties": [pen(11, 0, IN, repaired_on=END)]}),
    12: ("B", {}, {"penalties": [pen(12, 0, IN, repaired_on=D(2026, 7, 1))]}),
    13: ("A", {}, {"penalties": [pen(13, 0, IN, repaired_on=D(2026, 6, 29))]}),
    # serious-dishonesty list: listed long ago, removed the day before / on / after period end
    14: ("C", {}, {"serious_dishonesty_list": [sdl(14, 0, D(2020, 1, 1))]}),
    15: ("A", {}, {"serious_dishonesty_list": [sdl(15, 0, D(2020, 1, 1), removed_on=D(2026, 6, 29))]}),
    16: ("A", {}, {"serious_dishonesty_list": [sdl(16, 0, D(2020, 1, 1), removed_on=END)]}),
    17: ("C", {}, {"serious_dishonesty_list": [sdl(17, 0, D(2020, 1, 1), removed_on=D(2026, 7, 1))]}),
    18: ("A", {}, {"serious_dishonesty_list": [sdl(18, 0, D(2026, 7, 1))]}),
    # severe penalty kinds; the business-licence revocation is not a penalty record (status shows it)
    19: ("C", {}, {"penalties": [pen(19, 0, IN, kind="suspend_license")]}),
    20: ("C", {}, {"penalties": [pen(20, 0, IN, kind="restrict_employment")]}),
    21: ("A", {}, {"penalties": [pen(21, 0, IN, kind="revoke_business_license")]}),
    22: ("A", {}, {"penalties": [pen(22, 0, IN, kind="order_closure", withdrawn=True)]}),
    23: ("B", {}, {"penalties": [pen(23, 0, D(2025, 1, 1), kind="order_closure"), pen(23, 1, IN)]}),
    # other dishonesty: general/serious, removed on / after period end
    24: ("A", {}, {"other_dishonesty": [oth(24, 0, IN, removed_on=END)]}),
    25: ("B", {}, {"other_dishonesty": [oth(25, 0, IN, removed_on=D(2026, 7, 1))]}),
    26: ("C", {}, {"other_dishonesty": [oth(26, 0, IN, severity="serious")]}),
    27: ("A", {}, {"other_dishonesty": [oth(27, 0, IN, severity="serious", removed_on=D(2026, 5, 1))]}),
    # abnormal list: listed in the period counts even if removed since
    28: ("B", {}, {"abnormal_list": [abn(28, 0, IN, removed_on=D(2026, 4, 1))]}),
    29: ("A", {}, {"abnormal_list": [abn(29, 0, D(2025, 6, 30))]}),
    # revoked: at period end → D (overrides everything); revoked after period end → not yet
    30: ("D", {"status": "revoked", "status_changed_on": END}, {}),
    31: ("A", {"status": "revoked", "status_changed_on": D(2026, 7, 1)}, {}),
    32: (
        "D",
        {"status": "revoked", "status_changed_on": D(2025, 1, 1)},
        {"serious_dishonesty_list": [sdl(32, 0, D(2020, 1, 1))]},
    ),
    # cancelled / moved out by period end: not classified; after period end: classified
    33: (None, {"status": "cancelled", "status_changed_on": END}, {}),
    34: ("B", {"status": "cancelled", "status_changed_on": D(2026, 7, 1)}, {"penalties": [pen(34, 0, IN)]}),
    35: (None, {"status": "moved_out", "status_changed_on": D(2026, 1, 1)}, {}),
    36: (None, {"established_on": D(2026, 7, 1)}, {}),
    37: ("A", {"established_on": END}, {}),
}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("langfang")
    lake = Lake.from_uri(str(root))
    rows: dict[str, list[dict[str, Any]]] = {}
    entities = []
    for n, (_, over, data) in CASES.items():
        entities.append(entity(n, **over))
        for ds, recs in data.items():
            rows.setdefault(ds, []).extend(recs)
    write_curated(lake, "entities", entities)
    for ds, recs in rows.items():
        write_curated(lake, ds, recs)
    classify_month(
        lake,
        month=MONTH,
        province="13",
        system_id=SYSTEM,
        settings=Settings(lake_uri=str(root)),
        cutoff=dt.datetime(2026, 7, 5, tzinfo=dt.UTC),
    )
    table = lake.read_parquet(layout.classification_key(MONTH, "13"))
    return {r["uscc"]: r for r in table.to_pylist()}


@pytest.mark.parametrize("n", sorted(CASES))
def test_langfang_oracle(published: dict[str, dict[str, Any]], n: int) -> None:
    expected = CASES[n][0]
    row = published.get(code(n))
    if expected is None:
        assert row is None, f"case {n} must not be classified"
    else:
        assert row is not None, f"case {n} missing"
        assert row["risk_class"] == expected, (n, row["rules"], row["reasons"])


def test_rules_and_reasons_name_the_cause(published: dict[str, dict[str, Any]]) -> None:
    assert published[code(3)]["rules"] == ["C_GENERAL_OVER_5"]
    assert published[code(2)]["rules"] == ["B_GENERAL_1_5"]
    assert published[code(32)]["rules"] == ["D_LICENCE_REVOKED", "C_SERIOUS"]
    assert [r["code"] for r in published[code(3)]["reasons"]] == ["PEN_GENERAL"]
    assert published[code(1)]["reasons"] == [] and published[code(1)]["risk_score"] == 0


def test_only_published_ordered_by_uscc(published: dict[str, dict[str, Any]]) -> None:
    keys = list(published)
    assert keys == sorted(keys)
    assert {r["model"] for r in published.values()} == {"langfang-public-credit@1.0"}


def test_correction_ingested_before_cutoff_supersedes(tmp_path: Any) -> None:
    """A later ingest of the same decision (now withdrawn) wins only if ingested before the cutoff."""
    lake = Lake.from_uri(str(tmp_path))
    settings = Settings(lake_uri=str(tmp_path))
    t1 = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    t2 = dt.datetime(2026, 7, 3, tzinfo=dt.UTC)
    write_curated(lake, "entities", [entity(1)], ingested_at=t1, ingest_id="i1")
    write_curated(lake, "penalties", [pen(1, 0, IN)], ingested_at=t1, ingest_id="i1")
    write_curated(lake, "penalties", [pen(1, 0, IN, withdrawn=True)], ingested_at=t2, ingest_id="i2")

    def cls(cutoff: dt.datetime) -> str:
        classify_month(lake, month=MONTH, province="13", system_id=SYSTEM, settings=settings, cutoff=cutoff)
        return str(lake.read_parquet(layout.classification_key(MONTH, "13")).column("risk_class")[0])

    assert cls(dt.datetime(2026, 7, 2, tzinfo=dt.UTC)) == "B"
    assert cls(t2) == "A"
