"""Files shaped like the real national exports load with the right values (issue 13).

The fixtures under tests/fixtures/national/ are hand-written in the layouts of the 双公示
administrative-penalty standard (2021 headers, its CF_ short codes, the 2016 layout), the
publicity system's abnormal and serious-dishonesty lists and a registration export."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from functions.ingest.normalise import amount_yuan, capital_wan, iso_date
from functions.ingest.pipeline import ingest_bytes
from functions.ingest.readers import ReadResult, read
from functions.lake import Lake
from functions.settings import Settings
from schemas.datasets import DATASETS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "national"
NOW = dt.datetime(2026, 11, 3, 2, 0, tzinfo=dt.UTC)


def _read(name: str, dataset: str, encoding: str = "utf-8") -> ReadResult:
    data = (FIXTURES / name).read_text("utf-8").encode(encoding)
    return read(data, "csv", DATASETS[dataset])


def _rows(rr: ReadResult) -> list[dict[str, Any]]:
    contract = [c for c in rr.table.column_names if not c.startswith("__extra__")]
    return rr.table.select(contract).to_pylist()


@pytest.mark.parametrize("encoding", ["utf-8", "gbk", "gb18030"])
def test_penalties_2021_layout(encoding: str) -> None:
    rr = _read("penalties_2021.csv", "penalties", encoding)
    assert rr.plan is not None
    assert rr.plan.dropped_personal == ("法定代表人证件号码", "证件号码")
    assert not any("420102199003071232" in str(v) for v in rr.table.to_pylist())
    rows = _rows(rr)
    assert [r["decision_no"] for r in rows][:2] == ["武岸市监罚〔2024〕101号", "武阳市监罚〔2024〕102号"]
    assert [r["decided_on"] for r in rows] == ["2024-03-05"] * 5
    # 罚款金额（万元） 3.472365 → 34,723.65 yuan; fine + confiscation add up (1 + 0.25 万元)
    assert [r["amount"] for r in rows] == ["34723.65", "12500", "2000", None, "500"]
    assert [r["kind"] for r in rows] == [
        "fine",
        "confiscation",
        "fine",
        "revoke_business_license",
        "order_suspension",
    ]
    assert [r["kinds"] for r in rows] == [
        "fine",
        "warning;fine;confiscation",
        "fine",
        "revoke_business_license",
        "fine;order_suspension",
    ]
    assert [r["domain"] for r in rows] == ["food", "drug", "registration", "registration", "price"]
    assert rr.out_of_scope is not None
    assert rr.out_of_scope.to_pylist() == [False, False, True, False, False]  # 李某, 自然人
    assert rr.out_of_scope_reason == "natural_person"


def test_penalties_short_codes() -> None:
    rr = _read("penalties_2021_codes.csv", "penalties")
    assert rr.header_mapping["CF_NR_FK"] == "role:fine"
    assert rr.plan is not None and rr.plan.dropped_personal == ("CF_FR_ZJHM", "CF_ZJHM")
    rows = _rows(rr)
    assert rows[0]["amount"] == "26234.56"  # 2.5 + 0.123456 万元, exactly
    assert rows[0]["kind"] == "confiscation" and rows[0]["kinds"] == "fine;confiscation"
    assert [r["domain"] for r in rows] == ["product_quality", "advertising"]
    assert [r["decided_on"] for r in rows] == ["2024-03-05", "2024-03-06"]
    assert rr.out_of_scope is not None and rr.out_of_scope.to_pylist() == [False, True]


def test_penalties_2016_layout_in_gbk() -> None:
    rr = _read("penalties_2016.csv", "penalties", "gbk")
    assert rr.encoding == "gb18030"
    assert rr.plan is not None and rr.plan.dropped_personal == ("行政相对人代码_5(居民身份证号)",)
    rows = _rows(rr)
    assert rows[0]["kind"] == "confiscation"  # 处罚类别1 罚款 + 处罚类别2 没收非法财物
    assert rows[0]["kinds"] == "fine;confiscation"
    assert rows[0]["domain"] == "ip"  # 处罚事由 names 注册商标
    assert [r["decided_on"] for r in rows] == ["2016-11-28", "2016-12-01"]
    # no 行政相对人类别 in 2016: a row with no USCC and a resident ID is about a natural person
    assert rr.out_of_scope is not None and rr.out_of_scope.to_pylist() == [False, True]


def test_abnormal_list_statutory_reasons_and_derived_ids() -> None:
    rr = _read("abnormal_list.csv", "abnormal_list", "gbk")
    rows = _rows(rr)
    assert [r["reason"] for r in rows] == [
        "no_annual_report",
        "unreachable",
        "false_disclosure",
        "no_annual_report",  # the farmer-cooperative wording
        "no_disclosure",
    ]
    assert [r["listed_on"] for r in rows] == ["2023-07-01"] * 5
    assert [r["removed_on"] for r in rows] == ["2024-01-05", None, None, None, None]  # 1900-01-01 → empty
    ids = [r["record_id"] for r in rows]
    assert len(set(ids)) == 5 and all(len(i) == 20 for i in ids)
    assert rr.plan is not None and "record_id" in rr.plan.derived
    # The same listing exported with another date layout gets the same id.
    again = (FIXTURES / "abnormal_list.csv").read_text("utf-8").replace("2023年7月1日", "2023-07-01")
    assert _rows(read(again.encode(), "csv", DATASETS["abnormal_list"]))[0]["record_id"] == ids[0]


def test_serious_dishonesty_list() -> None:
    rows = _rows(_read("serious_dishonesty.csv", "serious_dishonesty_list"))
    assert [r["record_id"] for r in rows] == ["鄂市监严列〔2024〕1号", "鄂市监严列〔2024〕2号"]
    assert [r["listed_on"] for r in rows] == ["2024-03-05", "2024-03-06"]
    assert [r["removed_on"] for r in rows] == [None, "2024-06-30"]
    assert rows[0]["reason"] == "被列入经营异常名录届满3年仍未履行相关义务的"


def test_registration_export() -> None:
    rr = _read("entities.csv", "entities", "gb18030")
    rows = _rows(rr)
    assert [r["status"] for r in rows] == ["active", "revoked", "cancelled", "active", "moved_out"]
    assert [r["registered_capital"] for r in rows] == ["800", "1000", "50", "3", "200"]  # 万元
    assert [r["region_code"] for r in rows] == ["420102", "420106", "420111", "420102", "420115"]
    assert [r["industry_code"] for r in rows] == ["C1431", "F5251", "F5191", "H6210", "A0141"]
    assert [r["entity_type"] for r in rows] == [
        "enterprise",
        "enterprise",
        "enterprise",
        "individual",
        "cooperative",
    ]
    assert [r["established_on"] for r in rows] == [
        "2015-06-01",
        "2016-06-01",
        "2017-06-01",
        "2018-06-01",
        "2019-06-01",
    ]
    assert rows[4]["status_changed_on"] is None  # 1900-01-01 placeholder
    assert rr.plan is not None and rr.plan.dropped_personal == ("法定代表人证件号码",)


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2024年3月5日", "2024-03-05"),
        ("2024年03月05日", "2024-03-05"),
        ("2024/3/5", "2024-03-05"),
        ("2024-3-5", "2024-03-05"),
        ("2024-03-05 00:00:00", "2024-03-05"),
        ("20240305", "2024-03-05"),
        ("2024.3.5", "2024-03-05"),
        ("1900-01-01", None),
        ("1900/1/1", None),
        ("无", None),
        ("暂无", None),
        ("\\N", None),
        ("无处罚期限", None),
        ("2024年13月5日", "2024-13-05"),  # shaped like a date: validation rejects the day
        ("三月五日", "三月五日"),  # not a date: left as written for validation to reject
    ],
)
def test_dates(text: str, iso: str | None) -> None:
    ph = frozenset({"无", "暂无", "\\N", "无处罚期限", "1900-01-01"})
    assert iso_date(text, ph) == iso


def test_amounts_are_exact_decimals() -> None:
    assert amount_yuan("3.472365", "wan") == "34723.65"
    assert Decimal(amount_yuan("0.1", "wan") or "") == Decimal("1000")
    assert amount_yuan("1,234.5", "yuan") == "1234.5"
    assert amount_yuan("12.5万", "yuan") == "12.5万"  # not a number: bad_number downstream
    assert capital_wan("800万人民币", None) == "800"
    assert capital_wan("1,000万元人民币", None) == "1000"
    assert capital_wan("5000000元", None) == "500"
    assert capital_wan("1.5亿元人民币", None) == "15000"
    assert capital_wan("200", "yuan") == "0.02"
    assert capital_wan("100万美元", None) == "100万美元"  # no exchange rate: rejected as bad_number


def test_pipeline_counts_natural_persons_apart(tmp_path: Path) -> None:
    """Out-of-scope rows are neither accepted nor rejected and never count towards the reject
    threshold; identity-number columns are dropped before anything is written."""
    settings = Settings(lake_uri=str(tmp_path), landing_uri=None, max_reject_share=0.1)
    lake = Lake.from_uri(settings.lake_uri)
    data = (FIXTURES / "penalties_2021.csv").read_bytes()
    report = ingest_bytes(lake, "incoming/42/penalties/2024-03.csv", data, settings=settings, now=NOW)
    assert report.status == "accepted", report.file_message
    assert (report.rows_read, report.rows_accepted, report.rows_rejected, report.rows_out_of_scope) == (
        5,
        4,
        0,
        1,
    )
    assert report.out_of_scope_reasons == {"natural_person": 1}
    assert report.profile == "national" and report.profile_version
    assert report.dropped_columns == ["法定代表人证件号码", "证件号码"]
    assert report.derived_columns.keys() == {"domain", "kind", "kinds", "amount"}
    assert report.header_mapping["罚款金额（万元）"] == "role:fine"
    curated = lake.read_parquet(report.curated_key or "")
    by_no = {r["decision_no"]: r for r in curated.to_pylist()}
    assert by_no["武岸市监罚〔2024〕101号"]["amount"] == pytest.approx(34723.65)
    assert by_no["武岸市监罚〔2024〕101号"]["decided_on"] == dt.date(2024, 3, 5)
    assert by_no["武洪市监罚〔2024〕104号"]["kind"] == "revoke_business_license"
    assert "武岸市监罚〔2024〕103号" not in by_no
    assert not any("420102199003071232" in str(v) for r in curated.to_pylist() for v in r.values())


def test_all_rows_out_of_scope_is_an_accepted_empty_file(tmp_path: Path) -> None:
    settings = Settings(lake_uri=str(tmp_path), landing_uri=None)
    lake = Lake.from_uri(settings.lake_uri)
    lines = (FIXTURES / "penalties_2021_codes.csv").read_text("utf-8").splitlines()
    data = "\n".join([lines[0], lines[2]]).encode()
    report = ingest_bytes(lake, "incoming/42/penalties/x.csv", data, settings=settings, now=NOW)
    assert report.status == "accepted"
    assert (report.rows_read, report.rows_accepted, report.rows_rejected, report.rows_out_of_scope) == (
        1,
        0,
        0,
        1,
    )
