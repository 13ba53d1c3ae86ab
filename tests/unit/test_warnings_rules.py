"""Each shipped warning rule on a hand-built province: what must fire fires, what must not doesn't."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from functions.lake import Lake
from functions.settings import Settings
from functions.warnings import run_warnings
from functions.warnings.config import load_rules
from functions.warnings.store import load_warnings
from tests.warnings_data import code, entity, publish_classification, write_curated

P, M = "42", "2026-10"
NOW = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
D = dt.date


def build(lake: Lake) -> None:
    addr = [
        "武汉市洪山区珞喻路１号",
        "武汉市 洪山区珞喻路1号",
        "武汉市洪山区珞喻路1号。",
        "武汉市洪山区 珞喻路 1 号",
        "武汉市洪山区珞喻路1号",
    ]
    ents = [entity(i + 1, established=D(2026, 10, 1 + 4 * i), address=a) for i, a in enumerate(addr)]
    ents += [
        entity(10 + i, established=D(2026, 10, 1 + i), address="襄阳市樊城区人民路2号") for i in range(4)
    ]
    ents += [
        entity(15, established=D(2026, 10, 2), legal_rep_id="P-777"),
        entity(16, established=D(2026, 10, 15), legal_rep_id="P-777"),
        entity(17, established=D(2026, 10, 31), legal_rep_id="P-777"),
        entity(18, established=D(2026, 8, 1), legal_rep_id="P-888"),
        entity(19, established=D(2026, 9, 15), legal_rep_id="P-888"),
        entity(23, established=D(2026, 10, 20), legal_rep_id="P-888"),
    ]
    ents += [
        entity(70),
        entity(71),
        entity(72, established=D(2026, 2, 1)),
        entity(73, status="cancelled"),
        entity(80, legal_rep_id="P-900"),
        entity(81, legal_rep_id="P-901"),
        entity(82),
        entity(83),
    ]
    write_curated(lake, "entities", P, ents)
    write_curated(
        lake,
        "annual_reports",
        P,
        [
            {"uscc": code(71), "year": 2025, "filed_on": D(2026, 5, 1)},
            {"uscc": code(70), "year": 2024, "filed_on": D(2025, 5, 1)},
        ],
    )
    write_curated(
        lake,
        "registration_changes",
        P,
        [
            {"change_id": "c1", "uscc": code(20), "changed_on": D(2026, 8, 10), "item": "legal_rep"},
            {"change_id": "c2", "uscc": code(20), "changed_on": D(2026, 9, 5), "item": "address"},
            {"change_id": "c3", "uscc": code(20), "changed_on": D(2026, 10, 3), "item": "legal_rep"},
            {"change_id": "c4", "uscc": code(21), "changed_on": D(2026, 10, 3), "item": "name"},
            {"change_id": "c5", "uscc": code(21), "changed_on": D(2026, 10, 4), "item": "name"},
            {"change_id": "c6", "uscc": code(21), "changed_on": D(2026, 10, 5), "item": "legal_rep"},
            {"change_id": "c7", "uscc": code(22), "changed_on": D(2026, 7, 1), "item": "address"},
            {"change_id": "c8", "uscc": code(22), "changed_on": D(2026, 7, 2), "item": "address"},
            {"change_id": "c9", "uscc": code(22), "changed_on": D(2026, 7, 3), "item": "address"},
        ],
    )
    comp = []

    def c(n: int, day: D, k: int) -> None:
        comp.append(
            {"complaint_id": f"q{n}-{day}-{k}", "uscc": code(n), "received_on": day, "kind": "complaint"}
        )

    for k in range(6):
        c(30, D(2026, 10, 5 + k), k)
    c(30, D(2026, 8, 1), 0)
    for k in range(5):
        c(31, D(2026, 10, 5 + k), k)
    for k in range(6):
        c(31, D(2026, 9, 5 + k), k)
    for k in range(4):
        c(32, D(2026, 10, 5 + k), k)
    write_curated(lake, "complaints", P, comp)
    write_curated(
        lake,
        "serious_dishonesty_list",
        P,
        [
            {"record_id": "s40", "uscc": code(40), "listed_on": D(2026, 10, 12), "reason": "提供虚假材料"},
            {
                "record_id": "s41",
                "uscc": code(41),
                "listed_on": D(2026, 10, 5),
                "reason": "x",
                "removed_on": D(2026, 10, 20),
            },
            {"record_id": "s42", "uscc": code(42), "listed_on": D(2026, 9, 30), "reason": "x"},
        ],
    )
    write_curated(
        lake,
        "abnormal_list",
        P,
        [
            {"record_id": "a43", "uscc": code(43), "listed_on": D(2026, 10, 1), "reason": "no_annual_report"},
        ],
    )
    write_curated(
        lake,
        "penalties",
        P,
        [
            {
                "decision_no": "p60",
                "uscc": code(60),
                "decided_on": D(2026, 10, 10),
                "authority": "局",
                "domain": "food",
                "kind": "fine",
                "amount": 5000.0,
            },
            {
                "decision_no": "p61",
                "uscc": code(61),
                "decided_on": D(2026, 10, 10),
                "authority": "局",
                "domain": "drug",
                "kind": "fine",
                "withdrawn": True,
            },
            {
                "decision_no": "p62",
                "uscc": code(62),
                "decided_on": D(2026, 10, 10),
                "authority": "局",
                "domain": "price",
                "kind": "fine",
            },
            {
                "decision_no": "p90",
                "uscc": code(90),
                "decided_on": D(2026, 10, 11),
                "authority": "局",
                "domain": "price",
                "kind": "order_closure",
            },
        ],
    )
    write_curated(
        lake,
        "inspections",
        P,
        [
            {
                "inspection_id": "i91",
                "uscc": code(91),
                "inspected_on": D(2026, 10, 15),
                "domain": "food",
                "result": "problem_found",
            },
            {
                "inspection_id": "i92",
                "uscc": code(92),
                "inspected_on": D(2026, 10, 15),
                "domain": "food",
                "result": "no_problem",
            },
        ],
    )
    write_curated(
        lake,
        "other_dishonesty",
        P,
        [
            {
                "record_id": "o93",
                "uscc": code(93),
                "recorded_on": D(2026, 10, 2),
                "category": "court_enforcement",
                "severity": "serious",
                "source": "法院",
            },
            {
                "record_id": "o94",
                "uscc": code(94),
                "recorded_on": D(2026, 10, 2),
                "category": "tax_arrears",
                "severity": "general",
                "source": "税务",
            },
        ],
    )
    write_curated(
        lake,
        "relationships",
        P,
        [
            {"uscc": code(81), "party_id": "P-900", "relation": "legal_rep"},
            {"uscc": code(82), "party_id": code(80), "relation": "shareholder", "since": D(2020, 1, 1)},
            {"uscc": code(83), "party_id": "P-900", "relation": "shareholder", "until": D(2026, 9, 1)},
        ],
    )
    publish_classification(
        lake, "2026-09", P, [{"uscc": code(51), "risk_class": "B"}, {"uscc": code(80), "risk_class": "D"}]
    )
    publish_classification(
        lake,
        M,
        P,
        [
            {"uscc": code(50), "risk_class": "C", "previous_class": "A"},
            {"uscc": code(51), "risk_class": "D"},
            {"uscc": code(52), "risk_class": "B", "previous_class": "A"},
            {"uscc": code(80), "risk_class": "D", "previous_class": "D"},
        ],
    )


@pytest.fixture(scope="module")
def fired(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    root = Path(tmp_path_factory.mktemp("w")) / "lake"
    lake = Lake.from_uri(str(root))
    build(lake)
    res = run_warnings(
        lake, month=M, province=P, trigger="monthly", now=NOW, settings=Settings(lake_uri=str(root))
    )
    assert res.raised > 0 and res.duplicates == 0
    t = load_warnings(lake, M, P)
    out: dict[str, set[str]] = {}
    for r in t.to_pylist():
        out.setdefault(r["rule_id"], set()).add(r["uscc"])
        json.loads(r["evidence"])
    out["_evidence"] = {r["evidence"] for r in t.to_pylist()}
    return out


def test_at_least_ten_rules_ship_with_rationale() -> None:
    rs = load_rules()
    assert len(rs.rules) >= 10
    assert {r.id for r in rs.rules} >= {
        "cluster_address",
        "cluster_legal_rep",
        "frequent_changes",
        "complaint_surge",
        "new_serious_dishonesty",
        "new_abnormal_listing",
        "class_jump",
        "high_risk_field_penalty",
        "annual_report_overdue",
        "related_to_d_class",
    }


def test_cluster_address_normalises_and_counts(fired: dict[str, set[str]]) -> None:
    assert fired["cluster_address"] == {code(i) for i in range(1, 6)}


def test_cluster_legal_rep_needs_one_window(fired: dict[str, set[str]]) -> None:
    assert fired["cluster_legal_rep"] == {code(15), code(16), code(17)}


def test_frequent_changes_counts_only_listed_items_in_window(fired: dict[str, set[str]]) -> None:
    assert fired["frequent_changes"] == {code(20)}


def test_complaint_surge(fired: dict[str, set[str]]) -> None:
    assert fired["complaint_surge"] == {code(30)}


def test_new_listings(fired: dict[str, set[str]]) -> None:
    assert fired["new_serious_dishonesty"] == {code(40)}
    assert fired["new_abnormal_listing"] == {code(43)}


def test_class_jump_uses_previous_class_or_previous_month(fired: dict[str, set[str]]) -> None:
    assert fired["class_jump"] == {code(50), code(51)}


def test_penalties(fired: dict[str, set[str]]) -> None:
    assert fired["high_risk_field_penalty"] == {code(60)}
    assert fired["severe_penalty"] == {code(90)}


def test_annual_report_overdue(fired: dict[str, set[str]]) -> None:
    got = fired["annual_report_overdue"]
    assert code(70) in got
    assert not got & {code(71), code(72), code(73)}


def test_related_to_d_class(fired: dict[str, set[str]]) -> None:
    assert fired["related_to_d_class"] == {code(81), code(82)}


def test_inspection_and_other_dishonesty(fired: dict[str, set[str]]) -> None:
    assert fired["inspection_problem"] == {code(91)}
    assert fired["serious_other_dishonesty"] == {code(93)}
