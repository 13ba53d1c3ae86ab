"""The four field systems on small hand-made data, through the real compiled SQL on DuckDB:
who is in each field's population, their field class and reasons, the sampling class by the
combination rule, and the combined view (docs/adr/0117, 0118)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from functions import layout
from functions.classify.fields import COMBINED_MAX, combined, combined_sql, field_result_key, stricter
from functions.classify.load import load_system, parse_system
from functions.classify.run import RunResult, classify_month
from functions.errors import ConfigError, InvalidInput
from functions.lake import Lake
from functions.sampling.lookup import field_rows
from functions.settings import Settings
from schemas.fields import FIELDS
from tests.classify_data import code, entity, write_curated

D = dt.date
MONTH = "2026-06"
FIELD_NAMES = ("food", "drug", "special_equipment", "industrial_product")


def pen(n: int, i: int, domain: str, kind: str = "fine", **over: Any) -> dict[str, Any]:
    return {
        "decision_no": f"P{n}-{i}",
        "uscc": code(n),
        "decided_on": D(2026, 3, 1),
        "authority": "市场监管局",
        "domain": domain,
        "kind": kind,
        **over,
    }


def lic(n: int, i: int, licence_type: str, **over: Any) -> dict[str, Any]:
    return {
        "licence_no": f"L{n}-{i}",
        "uscc": code(n),
        "licence_type": licence_type,
        "valid_from": D(2022, 1, 1),
        "valid_to": D(2027, 1, 1),
        **over,
    }


def chk(n: int, i: int, domain: str, result: str) -> dict[str, Any]:
    return {
        "check_id": f"K{n}-{i}",
        "uscc": code(n),
        "checked_on": D(2026, 2, 1),
        "domain": domain,
        "product": "样品",
        "result": result,
    }


def equip(n: int, i: int, due: dt.date | None, status: str = "in_use") -> dict[str, Any]:
    return {
        "equipment_id": f"E{n}-{i}",
        "uscc": code(n),
        "kind": "boiler",
        "registered_on": D(2020, 1, 1),
        "next_inspection_due": due,
        "status": status,
    }


def comp(n: int, i: int, domain: str | None, substantiated: bool = False) -> dict[str, Any]:
    return {
        "complaint_id": f"C{n}-{i}",
        "uscc": code(n),
        "received_on": D(2026, 5, 1),
        "kind": "complaint",
        "substantiated": substantiated,
        "domain": domain,
    }


# 1 licensed food business, clean · 2 licensed food business with two food penalties, a failed
# food sample test and a substantiated food complaint · 3 no food licence but a severe food
# penalty (in the population by its record; rule → at least C) · 4 drug licence expired, a
# failed drug test · 5 boilers, two past their periodic inspection · 6 industrial-product
# licence revoked · 7 no field at all (general only) · 8 food licence and a revoked business
# licence (→ D in the field) · 9 only a complaint with no domain (not in any field)
ENTITIES = [entity(n) for n in range(1, 10)]
ENTITIES[7] = entity(8, status="revoked", status_changed_on=D(2026, 1, 10))
DATA: dict[str, list[dict[str, Any]]] = {
    "licences": [
        lic(1, 1, "food_business"),
        lic(2, 1, "food_production"),
        lic(4, 1, "drug_business", valid_to=D(2026, 1, 31)),
        lic(6, 1, "industrial_product", revoked_on=D(2026, 4, 1)),
        lic(8, 1, "food_business"),
    ],
    "penalties": [
        pen(2, 1, "food"),
        pen(2, 2, "food", decided_on=D(2025, 12, 1)),
        pen(3, 1, "food", "order_suspension"),
        pen(7, 1, "price"),
    ],
    "product_checks": [chk(2, 1, "food", "fail"), chk(4, 1, "drug", "fail"), chk(1, 1, "food", "pass")],
    "equipment": [equip(5, 1, D(2026, 3, 1)), equip(5, 2, D(2025, 11, 1)), equip(5, 3, D(2027, 1, 1))],
    "complaints": [comp(2, 1, "food", substantiated=True), comp(9, 1, None)],
}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, RunResult]:
    lake = Lake.from_uri(str(tmp_path_factory.mktemp("fields") / "lake"))
    write_curated(lake, "entities", ENTITIES)
    for dataset, rows in DATA.items():
        write_curated(lake, dataset, rows)
    settings = Settings(lake_uri=lake.uri)
    result = classify_month(
        lake,
        month=MONTH,
        province="13",
        settings=settings,
        cutoff=dt.datetime(2026, 7, 1, tzinfo=dt.UTC),
        fields=FIELD_NAMES,
    )
    return lake, result


def _rows(lake: Lake, field: str) -> dict[str, dict[str, Any]]:
    table = lake.read_parquet(layout.field_classification_key(field, MONTH, "13"))
    return {r["uscc"]: r for r in table.to_pylist()}


def test_each_field_classifies_its_population_only(published: tuple[Lake, RunResult]) -> None:
    lake, result = published
    assert set(result.fields) == set(FIELD_NAMES)
    members = {f: set(_rows(lake, f)) for f in FIELD_NAMES}
    assert members["food"] == {code(1), code(2), code(3), code(8)}
    assert members["drug"] == {code(4)}
    assert members["special_equipment"] == {code(5)}
    assert members["industrial_product"] == {code(6)}
    # food@1.1's cut-offs (D ≥ 25, docs/adr/0146): 2 and 3 score past 25, 8 is D by rule
    assert result.fields["food"]["counts"] == {"A": 1, "B": 0, "C": 0, "D": 3}


def test_field_classes_and_reasons(published: tuple[Lake, RunResult]) -> None:
    lake, _ = published
    food = _rows(lake, "food")
    assert food[code(1)]["risk_class"] == "A" and food[code(1)]["reasons"] == []
    two = food[code(2)]
    assert two["risk_class"] == "D" and two["model"] == "food@1.1"
    # weighted points: 2 penalties 80 × 0.55 × 0.3, 1 substantiated 50 × 0.25 × 0.5, 1 failed
    # test 50 × 0.55 × 0.2, 1 complaint 40 × 0.25 × 0.5; score 29.95 ≥ 25 → D (C under 1.0)
    assert [(r["code"], r["points"]) for r in two["reasons"]] == [
        ("FIELD_PENALTIES_24M", pytest.approx(13.2)),
        ("FIELD_SUBSTANTIATED_12M", pytest.approx(6.25)),
        ("FIELD_CHECK_FAILS_24M", pytest.approx(5.5)),
        ("FIELD_COMPLAINTS_12M", pytest.approx(5.0)),
    ]
    assert two["risk_score"] == pytest.approx(29.95)
    three = food[code(3)]  # unlicensed, a severe food penalty: 10 + 11 + 8.25 ≥ 25 → D, rule → C
    assert three["risk_class"] == "D" and three["rules"] == ["C_FIELD_SEVERE"]
    assert {r["code"] for r in three["reasons"]} >= {"FIELD_LICENCE_VALID", "FIELD_SEVERE_36M"}
    assert food[code(8)]["risk_class"] == "D" and "D_LICENCE_REVOKED" in food[code(8)]["rules"]
    drug = _rows(lake, "drug")[code(4)]  # licence expired before the period end, a failed test
    assert {r["code"] for r in drug["reasons"]} >= {"FIELD_LICENCE_VALID", "FIELD_CHECK_FAILS_24M"}
    se = _rows(lake, "special_equipment")[code(5)]
    overdue = next(r for r in se["reasons"] if r["code"] == "EQUIPMENT_OVERDUE")
    assert overdue["points"] == pytest.approx(0.55 * 0.2 * 100)  # two overdue: 2 × 50 points, capped
    ip = _rows(lake, "industrial_product")[code(6)]
    assert ip["rules"] == ["C_FIELD_LICENCE_REVOKED"] and ip["risk_class"] == "C"


def test_sampling_frame_takes_the_stricter_class(published: tuple[Lake, RunResult]) -> None:
    lake, result = published
    general = {
        r["uscc"]: r["risk_class"]
        for r in lake.read_parquet(layout.classification_key(MONTH, "13")).to_pylist()
    }
    run_id = result.fields["food"]["run_id"]
    frame = pq.read_table(lake.path(layout.run_classifications_key(run_id))).to_pylist()
    field = {r["uscc"]: r for r in pq.read_table(lake.path(field_result_key(run_id))).to_pylist()}
    assert [r["uscc"] for r in frame] == sorted(field)
    for r in frame:
        assert r["risk_class"] == stricter(general[r["uscc"]], field[r["uscc"]]["risk_class"])
    assert general[code(1)] == "A" and {r["uscc"]: r["risk_class"] for r in frame}[code(1)] == "A"
    pointer = lake.read_json(layout.field_classification_pointer_key("food", MONTH, "13"))
    assert pointer["run_id"] == run_id and pointer["general_run_id"] == result.run_id
    assert lake.exists(layout.sampling_cells_key(MONTH, "13", run_id))


def test_combined_view_and_field_rows(published: tuple[Lake, RunResult]) -> None:
    lake, _ = published
    rows = {r["uscc"]: r for r in combined(lake, MONTH, "13").to_pylist()}
    assert rows[code(7)]["food_class"] is None and rows[code(7)]["general_class"] is not None
    assert rows[code(2)]["food_class"] == "D" and rows[code(2)]["drug_class"] is None
    assert rows[code(2)]["food_sampling_class"] == stricter(rows[code(2)]["general_class"], "D")
    assert code(9) in rows and all(rows[code(9)][f"{f}_class"] is None for f in FIELD_NAMES)
    assert set(field_rows(lake, MONTH, "13", code(2))) == {"food"}


def test_combined_view_pages_and_answers_only_what_is_asked(published: tuple[Lake, RunResult]) -> None:
    """One engine statement per page (ADR 0143): paging by uscc gives the whole view exactly
    once, in order; asking for entities gives only those; nothing more than a page comes back."""
    lake, _ = published
    whole = combined(lake, MONTH, "13").to_pylist()
    pages: list[list[dict[str, Any]]] = []
    after = None
    while True:
        page = combined(lake, MONTH, "13", after=after, limit=7).to_pylist()
        if not page:
            break
        assert len(page) <= 7
        pages.append(page)
        after = page[-1]["uscc"]
    assert [r for p in pages for r in p] == whole and len(pages) == -(-len(whole) // 7)
    asked = combined(lake, MONTH, "13", uscc=[code(2), code(7), "91130000000000999X"]).to_pylist()
    assert [r["uscc"] for r in asked] == sorted([code(2), code(7)])
    assert asked == [r for r in whole if r["uscc"] in (code(2), code(7))]
    for bad in ({"limit": 0}, {"limit": COMBINED_MAX + 1}, {"after": "x' OR '1'='1"}, {"uscc": ["9'1"]}):
        with pytest.raises(InvalidInput):
            combined(lake, MONTH, "13", **bad)


def test_combined_sql_is_one_trino_statement_over_the_tables_of_both_engines() -> None:
    """The same text Athena runs: Trino, over ``classifications`` and ``field_classifications``,
    cut to the month and province and to the page's uscc range on every side."""
    import sqlglot
    from sqlglot import exp

    sql = combined_sql(MONTH, "13", after="91130000", limit=100)
    tree = sqlglot.parse_one(sql, read="trino")
    assert {t.name for t in tree.find_all(exp.Table)} == {"classifications", "field_classifications", "page"}
    assert sql.count("month = '2026-06' AND province = '13'") == 1 + len(FIELDS)
    assert sql.count("uscc > '91130000'") == 1 + len(FIELDS) and "LIMIT 100" in sql
    assert sql.count("uscc <= (SELECT max(uscc) FROM page)") == len(FIELDS)


def test_stricter_rule() -> None:
    assert stricter("A", "C") == "C" and stricter("D", "B") == "D" and stricter(None, "B") == "B"


def test_the_previous_class_is_the_fields_own(published: tuple[Lake, RunResult]) -> None:
    lake, _ = published
    settings = Settings(lake_uri=lake.uri)
    nxt = classify_month(
        lake, month="2026-07", province="13", settings=settings,
        cutoff=dt.datetime(2026, 8, 1, tzinfo=dt.UTC), fields=("food",),
    )  # fmt: skip
    food = {
        r["uscc"]: r
        for r in lake.read_parquet(layout.field_classification_key("food", "2026-07", "13")).to_pylist()
    }
    assert set(nxt.fields) == {"food"}
    assert food[code(2)]["previous_class"] == "D" and food[code(1)]["previous_class"] == "A"


def test_unknown_field_is_refused(tmp_path: Any) -> None:
    lake = Lake.from_uri(str(tmp_path / "lake"))
    with pytest.raises(InvalidInput, match=r"unknown field.*known: food"):
        classify_month(
            lake, month=MONTH, province="13", settings=Settings(lake_uri=lake.uri), fields=("toys",)
        )


def test_field_block_is_checked() -> None:
    text = load_system("food").model_dump_json(by_alias=True)
    import json

    data = json.loads(text)
    data["field"] = {"name": "drug", "population": [{"dataset": "licences", "where": "colour = 'red'"}]}
    import yaml

    with pytest.raises(ConfigError) as err:
        parse_system(yaml.safe_dump(data, allow_unicode=True), "food.yaml")
    msg = err.value.message
    assert "classified by system drug, not food" in msg and "unknown column of licences 'colour'" in msg


@pytest.mark.parametrize("field", FIELD_NAMES)
def test_shipped_field_systems_name_their_field(field: str) -> None:
    system = load_system(FIELDS[field].system)
    assert system.field is not None and system.field.name == field
    domains = set(FIELDS[field].domains)
    for ind, _, _ in system.leaves():  # every record indicator reads its own field's domain
        d = ind.definition
        assert d is not None
        if d.dataset in ("penalties", "inspections", "complaints", "product_checks"):
            assert any(f"domain = '{x}'" in (d.where or "") for x in domains), ind.code


def test_explain_shows_general_and_field_reasons_side_by_side(published: tuple[Lake, RunResult]) -> None:
    from functions.classify.explain import explain, render
    from functions.sampling.lookup import lookup

    lake, _ = published
    info = explain(lake, code(2), MONTH)
    food = info["fields"]["food"]
    assert set(info["fields"]) == {"food"} and food["risk_class"] == "D" and food["model"] == "food@1.1"
    assert food["sampling_class"] == stricter(info["risk_class"], "D")
    assert food["reasons"][0]["code"] == "FIELD_PENALTIES_24M"
    text = render(info)
    head = next(line for line in text.splitlines() if line.strip().startswith("general:"))
    assert f"general: {info['risk_class']}" in head and "food: D (sampling " in head
    row = text.splitlines()[text.splitlines().index(head) + 1]
    assert "FIELD_PENALTIES_24M 13.20" in row  # the food reason beside the general one
    assert "not in any field" in render(explain(lake, code(7), MONTH))
    api = lookup(lake, code(2), MONTH)
    assert api["fields"]["food"]["risk_class"] == "D" and api["fields"]["food"]["reasons"] == food["reasons"]
    assert lookup(lake, code(7), MONTH)["fields"] == {}


def test_an_approved_adjustment_sets_the_field_sampling_class_in_explain_and_lookup(
    published: tuple[Lake, RunResult], tmp_path: Path
) -> None:
    """The field draw takes the stricter of the adjusted general class and the field class (ADR
    0145); ``explain`` and ``GET /v1/classifications/{uscc}`` say the same, and show the adjustment."""
    import shutil

    from functions.classify.explain import explain, render
    from functions.objections import adjust
    from functions.sampling.lookup import lookup
    from schemas.objections import Actor

    lake = Lake.from_uri(str(shutil.copytree(published[0].root, tmp_path / "lake")))  # leave the module's
    general = {
        r["uscc"]: r["risk_class"]
        for r in lake.read_parquet(layout.classification_key(MONTH, "13")).to_pylist()
    }
    uscc, food = next(
        (u, r) for u, r in sorted(_rows(lake, "food").items()) if "D" not in (r["risk_class"], general[u])
    )
    assert lookup(lake, uscc, MONTH)["fields"]["food"]["sampling_class"] != "D"
    li, wang = Actor(kind="operator", id="li", name="li"), Actor(kind="operator", id="wang", name="wang")
    made = adjust.propose(lake, uscc, MONTH, "D", "on-site finding", li)
    adjust.decide(lake, MONTH, made.adjustment_id, wang, approve=True)

    api = lookup(lake, uscc, MONTH)
    assert api["risk_class"] == general[uscc]  # the model's class stays visible
    assert api["adjustment"]["adjusted_class"] == "D" and api["adjustment"]["approved_by"] == "wang"
    assert (
        api["fields"]["food"]["risk_class"] == food["risk_class"]
        and api["fields"]["food"]["sampling_class"] == "D"
    )
    info = explain(lake, uscc, MONTH)
    assert info["fields"]["food"]["sampling_class"] == "D"
    assert f"food: {food['risk_class']} (sampling D)" in render(info)
