"""The county action list: who is on it, the suggested field and measure, ranking, CSV, pages."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pyarrow as pa
import pytest

from functions import layout
from functions.analysis.actions import action_lists, load_config, rank, suggest, task_reasons, top_reasons
from functions.errors import InvalidInput, NotFound
from functions.lake import Lake
from functions.report.county import CSV_COLUMNS, render, to_csv, write_county_pages
from functions.warnings.store import TASK_SCHEMA, WARNING_SCHEMA
from tests.warnings_data import code, publish_classification

P, M = "42", "2026-10"
NOW = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
UNFILED = {"code": "UNFILED_REPORTS", "label": "未按时年报 / unfiled annual reports", "points": 8.0}
PENALTY = {"code": "PENALTIES_24M", "label": "行政处罚 / penalties (24 months)", "points": 12.0}
COMPLAINT = {"code": "COMPLAINTS_12M", "label": "投诉举报 / complaints", "points": 12.0}


def fill(schema: pa.Schema, **values: Any) -> dict[str, Any]:
    """A row of ``schema`` with ``values`` and neutral defaults elsewhere (schema changes safe)."""
    row: dict[str, Any] = {}
    for f in schema:
        if f.name in values:
            row[f.name] = values[f.name]
        elif pa.types.is_boolean(f.type):
            row[f.name] = False
        elif pa.types.is_timestamp(f.type):
            row[f.name] = NOW
        elif pa.types.is_date(f.type):
            row[f.name] = None
        else:
            row[f.name] = f"{f.name}-{values.get('uscc', '')}"
    return row


def warning(uscc: str, rule_id: str, severity: str, name: str = "规则") -> dict[str, Any]:
    return fill(WARNING_SCHEMA, uscc=uscc, rule_id=rule_id, rule=f"{rule_id}@1", rule_name=name,
                severity=severity, warning_key=f"k-{uscc}-{rule_id}", state="open")  # fmt: skip


def task(uscc: str, rule_id: str) -> dict[str, Any]:
    """One task of an entity (one per entity and month, docs/adr/0103) with one reason."""
    reason = {"rule": f"{rule_id}@1", "rule_name": "任务", "severity": "high",
              "warning_key": f"k-{uscc}-{rule_id}", "evidence": "{}"}  # fmt: skip
    return fill(TASK_SCHEMA, uscc=uscc, task_id=f"t-{uscc}", severity="high", risk_class=None,
                risk_score=None, reasons=[reason], status="open")  # fmt: skip


def reasons_of(*tasks: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows ``suggest`` takes: one per (task, reason)."""
    return task_reasons(pa.Table.from_pylist(list(tasks), schema=TASK_SCHEMA)).to_pylist()


def entity(cls: str, reasons: list[dict[str, Any]], score: float = 50.0) -> dict[str, Any]:
    return {"uscc": "X", "name": "某公司", "risk_class": cls, "risk_score": score, "reasons": reasons}


def test_ladder_follows_the_config() -> None:
    cfg = load_config()
    interview = suggest(entity("C", [PENALTY, UNFILED]), [], [], cfg)
    assert interview["measure_code"] == "interview" and interview["measure"] == "约谈 interview"
    assert suggest(entity("D", [UNFILED]), [], [], cfg)["measure_code"] == "interview"
    assert suggest(entity("D", [PENALTY]), [], [], cfg)["measure_code"] == "inspection"
    tasked = suggest(entity("B", [UNFILED]), reasons_of(task("X", "complaint_surge")), [], cfg)
    assert tasked["measure_code"] == "inspection" and tasked["field_code"] == "consumer"
    assert suggest(entity("C", [PENALTY]), [], [], cfg)["measure_code"] == "warning"
    assert (
        suggest(entity("A", []), [], [warning("X", "frequent_changes", "high")], cfg)["measure_code"]
        == "warning"
    )
    low = suggest(entity("B", []), [], [warning("X", "annual_report_overdue", "low")], cfg)
    assert (low["measure_code"], low["field_code"]) == ("reminder", "annual_report")
    critical = suggest(entity("B", []), [], [warning("X", "new_serious_dishonesty", "critical")], cfg)
    assert (critical["measure_code"], critical["field_code"]) == ("inspection", "dishonesty")


def test_top_reasons_as_explain_orders_them() -> None:
    reasons = [UNFILED, PENALTY, COMPLAINT, {"code": "AGE_YEARS", "label": "新设", "points": 1.0}]
    assert [r["code"] for r in top_reasons(reasons)] == ["PENALTIES_24M", "COMPLAINTS_12M", "UNFILED_REPORTS"]
    row = suggest(entity("C", reasons), [], [], load_config())
    assert row["reasons"][0] == "行政处罚 / penalties (24 months) (+12)"
    assert row["field_code"] == "penalty_follow_up"  # the strongest reason decides


def test_rank_puts_strongest_measure_then_tasks_then_class_first() -> None:
    rows = [
        {"uscc": "1", "measure_code": "reminder", "tasks": 0, "risk_class": "A", "risk_score": 5.0},
        {"uscc": "2", "measure_code": "inspection", "tasks": 0, "risk_class": "D", "risk_score": 99.0},
        {"uscc": "3", "measure_code": "inspection", "tasks": 1, "risk_class": "B", "risk_score": 30.0},
        {"uscc": "4", "measure_code": "interview", "tasks": 0, "risk_class": "C", "risk_score": 70.0},
    ]
    assert [r["uscc"] for r in rank(rows)] == ["3", "2", "4", "1"]


def world(lake: Lake) -> dict[str, str]:
    """County 420102: two D, one C with a warning, one A with a task, one quiet B; 420111: one D."""
    u = {k: code(i, "420102") for i, k in enumerate(("d1", "d2", "c_warn", "a_task", "b_quiet"), 1)}
    u["other_d"] = code(9, "420111")
    u["unclassified"] = code(10, "420102")
    long_name = "湖北省武汉市武昌区" + "超长名称测试" * 12 + "有限责任公司"
    publish_classification(lake, M, P, [
        {"uscc": u["d1"], "risk_class": "D", "risk_score": 95.0, "reasons": [PENALTY], "name": long_name},
        {"uscc": u["d2"], "risk_class": "D", "risk_score": 80.0, "reasons": [UNFILED], "name": "乙公司"},
        {"uscc": u["c_warn"], "risk_class": "C", "risk_score": 60.0, "reasons": [COMPLAINT],
         "name": "丙公司"},
        {"uscc": u["a_task"], "risk_class": "A", "risk_score": 5.0, "name": "丁公司"},
        {"uscc": u["b_quiet"], "risk_class": "B", "risk_score": 30.0, "name": "戊公司"},
        {"uscc": u["other_d"], "risk_class": "D", "risk_score": 90.0, "name": "己公司",
         "region_code": "420111"},
    ])  # fmt: skip
    warnings = [
        warning(u["c_warn"], "complaint_surge", "high", "投诉激增"),
        warning(u["unclassified"], "x", "low"),
    ]
    lake.write_parquet(layout.warnings_key(M, P, "r1"), pa.Table.from_pylist(warnings, schema=WARNING_SCHEMA))
    lake.write_parquet(
        layout.tasks_key(M, P, "r1"),
        pa.Table.from_pylist([task(u["a_task"], "cluster_address")], schema=TASK_SCHEMA),
    )
    return u


def test_action_list_of_a_county(local_lake: Lake) -> None:
    u = world(local_lake)
    [page] = action_lists(local_lake, month=M, province=P, counties=["420102"])
    assert page["county_name"] == "武汉市 江岸区"
    got = {r["uscc"]: (r["measure_code"], r["risk_class"]) for r in page["rows"]}
    assert got == {
        u["a_task"]: ("inspection", "A"),
        u["d1"]: ("inspection", "D"),
        u["d2"]: ("interview", "D"),
        u["c_warn"]: ("warning", "C"),
    }  # the quiet B entity is not listed, the other county's D neither
    assert [r["uscc"] for r in page["rows"]] == [u["a_task"], u["d1"], u["d2"], u["c_warn"]]
    assert page["class_counts"] == {"A": 1, "B": 1, "C": 1, "D": 2}
    assert (page["d_class"], page["with_task"], page["with_warning"], page["unclassified_signals"]) == (
        2,
        1,
        1,
        1,
    )
    c_row = next(r for r in page["rows"] if r["uscc"] == u["c_warn"])
    assert (
        c_row["warnings"] == ["投诉激增"] and c_row["field_code"] == "consumer" and c_row["name"] == "丙公司"
    )


def test_county_pages_are_written_with_csv(local_lake: Lake) -> None:
    u = world(local_lake)
    written = write_county_pages(local_lake, month=M, province=P, now=NOW)
    assert [w["county"] for w in written] == ["420102", "420111"]
    text = local_lake.read_bytes(written[0]["csv"]).decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["uscc"] for r in rows] == [u["a_task"], u["d1"], u["d2"], u["c_warn"]]
    assert (
        rows[2]["measure"] == "约谈 interview"
        and rows[2]["reasons"] == "未按时年报 / unfiled annual reports (+8)"
    )
    html = local_lake.read_bytes(written[0]["html"]).decode("utf-8")
    assert "武汉市 江岸区（420102）" in html and "超长名称测试" in html and "<script" not in html


def test_bad_county_and_missing_month(local_lake: Lake) -> None:
    world(local_lake)
    with pytest.raises(InvalidInput):
        action_lists(local_lake, month=M, province=P, counties=["4201"])
    with pytest.raises(InvalidInput):
        action_lists(local_lake, month=M, province=P, counties=["230102"])
    with pytest.raises(NotFound):
        action_lists(local_lake, month=M, province=P, counties=["420199"])
    with pytest.raises(NotFound):
        action_lists(local_lake, month="2026-09", province=P)


def test_render_is_pure_and_escapes() -> None:
    page = {
        "month": M, "province": P, "province_name": "湖北省", "county": "420102",
        "county_name": "武汉市 江岸区",
        "class_counts": {"A": 1, "B": 0, "C": 0, "D": 0}, "d_class": 0, "with_task": 0, "with_warning": 0,
        "unclassified_signals": 0, "names_source": "src",
        "rows": [suggest({**entity("D", []), "name": "<b>坏</b>"}, [], [], load_config())],
    }  # fmt: skip
    assert render(page, NOW) == render(page, NOW)
    assert "&lt;b&gt;坏&lt;/b&gt;" in render(page, NOW)
    assert to_csv(page).count("\r\n") == 2
