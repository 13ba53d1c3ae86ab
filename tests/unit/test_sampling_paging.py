"""Answers never exceed the size limit; pages put together give back every stored target."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from functions.sampling.plans import PlanText, dumps, plan_text_of, wire_size

LIMIT = 20_000


def _plan(n: int, name: str = "湖北某某有限公司") -> dict[str, Any]:
    targets = [
        {"uscc": f"{i:018d}", "name": f'{name}"{i}', "risk_class": "D", "region_code": "420100",
         "industry_code": "C13", "inspectors": []}
        for i in range(n)
    ]  # fmt: skip
    return {"plan_id": "42-" + "0" * 20, "month": "2026-10", "strata": [], "targets": targets,
            "inspector_loads": None, "request": {"province": "42"}}  # fmt: skip


def _lambda_body_size(data: bytes) -> int:
    """What the body costs inside the proxy response the Lambda runtime serialises (ASCII escapes)."""
    return len(json.dumps(data.decode("utf-8")))


def _all_pages(text: PlanText, answer: dict[str, Any], limit: int) -> list[Any]:
    targets = list(answer["targets"])
    link = answer.get("targets_next")
    while link:
        query = dict(p.split("=") for p in link.split("?", 1)[1].split("&"))
        page_bytes = text.page(int(query["offset"]), int(query["limit"]), limit)
        assert _lambda_body_size(page_bytes) <= limit
        page = json.loads(page_bytes)
        assert page["total"] == text.count and page["offset"] == len(targets)
        targets += page["targets"]
        link = page["targets_next"]
        assert (page["next_offset"] is None) == (link is None)
    return targets


def test_small_plans_are_answered_whole() -> None:
    plan = _plan(10)
    text = plan_text_of(plan)
    assert text.full() == dumps(plan).encode("utf-8")
    assert text.answer(max_bytes=LIMIT) == text.full()


def test_large_plans_are_paged_and_the_pages_add_up() -> None:
    plan = _plan(1000)
    text = plan_text_of(plan)
    answer_bytes = text.answer(max_bytes=LIMIT)
    assert _lambda_body_size(answer_bytes) <= LIMIT
    answer = json.loads(answer_bytes)
    assert 0 < len(answer["targets"]) < 1000
    assert answer["targets_next"].startswith(f"/v1/sampling/plans/{plan['plan_id']}/targets?offset=")
    assert list(answer) == [*list(plan)[:3], "targets", "targets_next", "inspector_loads", "request"]
    assert _all_pages(text, answer, LIMIT) == plan["targets"]
    assert text.full() == dumps(plan).encode("utf-8")  # the stored plan stays complete


def test_pages_past_the_end_are_empty_and_small_limits_are_honoured() -> None:
    text = plan_text_of(_plan(30))
    past = json.loads(text.page(100, 10, LIMIT))
    assert past["targets"] == [] and past["next_offset"] is None and past["targets_next"] is None
    first = json.loads(text.page(0, 7, LIMIT))
    assert len(first["targets"]) == 7 and first["next_offset"] == 7
    assert first["targets_next"].endswith("offset=7&limit=7")


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400))
def test_wire_size_bounds_the_escaped_size(s: str) -> None:
    data = json.dumps({"name": s}, ensure_ascii=False).encode("utf-8")  # JSON: no raw control chars
    for limit in (10, len(data), 3 * len(data) + 1):
        if wire_size(data, limit) <= limit:
            assert _lambda_body_size(data) - 2 <= wire_size(data, limit)
