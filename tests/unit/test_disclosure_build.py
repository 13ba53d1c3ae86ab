"""The public record of a plan: publicity layout, latest result per entity, nothing internal."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from functions.disclosure.build import (
    build,
    plan_ids_in,
    plan_inspections,
    publish,
    published,
    to_csv,
    to_json,
)
from functions.errors import InvalidInput, NotFound
from functions.lake import Lake
from functions.sampling.tasks import create_plan
from schemas.api import PlanRequest
from tests.sampling_data import AUDIT_KEY, inspections, results_table
from tests.sampling_data import publish as publish_results

NOW = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
INTERNAL = (
    "risk_class",
    "risk_score",
    "score",
    "reasons",
    "dimension_scores",
    "inspectors",
    "conflicts",
    "rules",
)


def _plan(lake: Lake, **extra: object) -> dict[str, object]:
    from functions.auth.tokens import Principal

    publish_results(lake, results_table("42", 1500, run_id="run-1"), "2026-10", "42")
    body = {
        "month": "2026-10",
        "province": "42",
        "ratios": {"A": 0.02, "C": 0.2, "D": 0.5},
        "seed": "pub",
        **extra,
    }
    req = PlanRequest.model_validate(body, strict=False)
    _, text = create_plan(lake, req, Principal("t", "platform", frozenset({"42"})), AUDIT_KEY)
    plan: dict[str, object] = json.loads(text)
    return plan


def _row(
    i: int, code: str, plan_id: str | None, result: str, day: str = "2026-11-10", **kw: str
) -> dict[str, str | None]:
    authority = kw.get("authority", "武汉市江岸区市场监督管理局")
    return {"inspection_id": f"I{i}", "uscc": code, "inspected_on": day, "plan_id": plan_id,
            "domain": "other", "result": result, "authority": authority}  # fmt: skip


def test_export_in_the_publicity_layout_without_internal_values(local_lake: Lake) -> None:
    plan = _plan(local_lake)
    pid = str(plan["plan_id"])
    targets = plan["targets"]
    assert isinstance(targets, list)
    codes = [t["uscc"] for t in targets]
    inspections(local_lake, "42", [
        _row(1, codes[0], pid, "no_problem"),
        _row(2, codes[1], pid, "corrected", "2026-11-12"),
        _row(3, codes[2], "42-ffffffffffffffffffff", "refused"),  # another plan
        _row(4, codes[3], pid, "problem_found", "2026-11-01"),
    ], ingested_at=NOW - dt.timedelta(days=1))  # fmt: skip
    inspections(
        local_lake,
        "42",
        [_row(4, codes[3], pid, "not_at_address", "2026-11-02")],
        ingest_id="insp-0002",
        ingested_at=NOW - dt.timedelta(hours=1),
    )  # fmt: skip: a correction
    d = publish(local_lake, pid, now=NOW)
    assert (d.entities, d.pending, d.check_type, d.completed_on) == (
        3,
        len(codes) - 3,
        "不定向抽查",
        "2026-11-12",
    )
    by_code = {r.uscc: r for r in d.rows}
    assert by_code[codes[0]].result == "未发现问题" and by_code[codes[1]].result == "发现问题已责令改正"
    assert by_code[codes[3]].result == "通过登记的住所（经营场所）无法联系"  # the corrected row wins
    assert by_code[codes[0]].name == targets[0]["name"] and by_code[codes[0]].task_id == pid

    text = published(local_lake, pid, "csv").decode("utf-8")
    assert text.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(text[1:])))
    assert table[0] == [
        "抽查计划编号",
        "抽查任务编号",
        "抽查类型",
        "抽查机关",
        "抽查完成日期",
        "企业名称",
        "统一社会信用代码",
        "抽查结果",
    ]
    assert len(table) == 4 and table[1][0] == pid and table[1][4] == "2026-11-02"
    doc = json.loads(published(local_lake, pid, "json"))
    # no internal column and no internal value: not the class letter, not the class names
    flat = json.dumps(doc, ensure_ascii=False)
    for name in INTERNAL:
        assert f'"{name}"' not in flat and name not in table[0]
    for row in doc["rows"]:
        assert set(row) == {
            "plan_id",
            "task_id",
            "check_type",
            "authority",
            "completed_on",
            "name",
            "uscc",
            "result",
        }
        assert set(row.values()).isdisjoint({"A", "B", "C", "D", "信用风险低", "信用风险高"})
    assert to_json(d) == published(local_lake, pid, "json") and to_csv(d).decode("utf-8") == text


def test_directed_plan_and_nothing_yet(local_lake: Lake) -> None:
    plan = _plan(local_lake, region_prefix="4201")
    pid = str(plan["plan_id"])
    with pytest.raises(NotFound):
        publish(local_lake, pid, now=NOW)
    with pytest.raises(NotFound):
        published(local_lake, pid)
    with pytest.raises(InvalidInput):
        published(local_lake, pid, "xml")
    code = plan["targets"][0]["uscc"]  # type: ignore[index]
    key = inspections(local_lake, "42", [_row(1, code, pid, "no_problem")], ingested_at=NOW)
    assert plan_ids_in(local_lake, key) == [pid]
    assert plan_inspections(local_lake, "42", pid, NOW - dt.timedelta(seconds=1)) == []  # as of before
    assert build(plan, plan_inspections(local_lake, "42", pid, NOW), NOW).check_type == "定向抽查"


def test_rows_for_codes_outside_the_plan_are_not_published() -> None:
    plan = {
        "plan_id": "42-0123456789abcdef0123",
        "province": "42",
        "request": {},
        "targets": [{"uscc": "X1", "name": "甲公司", "risk_class": "D"}],
    }
    rows = [
        {
            "inspection_id": "1",
            "uscc": "X1",
            "inspected_on": dt.date(2026, 11, 3),
            "result": "no_problem",
            "authority": None,
        },
        {
            "inspection_id": "2",
            "uscc": "X9",
            "inspected_on": dt.date(2026, 11, 4),
            "result": "refused",
            "authority": None,
        },
    ]
    d = build(plan, rows, NOW)
    assert [r.uscc for r in d.rows] == ["X1"] and d.rows[0].authority is None
    assert "D" not in {v for r in d.rows for v in r.model_dump().values()}
