"""Concurrent registrations and draws (docs/adr/0126): one task per slot, one official plan per
draw number, a linear chain, and test plans on the chain as such (never official)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from functions.auth.tokens import Principal
from functions.errors import Conflict
from functions.lake import Lake
from functions.sampling import audit
from functions.sampling.signing import HmacSigner
from functions.sampling.tasks import draw_task, draw_test_plan, load_draws, register_task
from functions.sampling.verify import verify_plan
from schemas.api import DrawRequest, PlanRequest, TaskRequest
from tests.sampling_data import publish, results_table

MONTH = "2026-10"
KEY = HmacSigner(b"r" * 32)
WHO = Principal("tok1", "platform-42", frozenset({"42"}))


@pytest.fixture
def lake(local_lake: Lake) -> Lake:
    publish(local_lake, results_table("42", 400, run_id="run-1"), MONTH, "42")
    return local_lake


def _task_request() -> TaskRequest:
    return TaskRequest.model_validate(
        {"month": MONTH, "province": "42", "ratios": {"B": 0.05, "D": 0.3},
         "window": {"start": "2026-11-01", "end": "2026-11-30"}}, strict=False,
    )  # fmt: skip


def _race(n: int, call: Callable[[], Any]) -> tuple[list[Any], list[Conflict]]:
    def one(_: int) -> Any:
        try:
            return call()
        except Conflict as exc:
            return exc

    with ThreadPoolExecutor(n) as pool:
        out = list(pool.map(one, range(n)))
    return [o for o in out if not isinstance(o, Conflict)], [o for o in out if isinstance(o, Conflict)]


def test_concurrent_registrations_register_one_task(lake: Lake) -> None:
    won, lost = _race(6, lambda: register_task(lake, _task_request(), WHO, KEY))
    assert len(won) == 1 and len(lost) == 5
    assert all(e.details.get("task_id") == won[0]["task_id"] for e in lost)
    chain = audit.check_chain(lake, KEY, "42")
    assert chain.ok and [(r["kind"], r["ref"]) for r in chain.records] == [("task", won[0]["task_id"])]


def test_concurrent_first_draws_make_one_official_plan(lake: Lake) -> None:
    task = register_task(lake, _task_request(), WHO, KEY)
    won, lost = _race(4, lambda: draw_task(lake, task["task_id"], DrawRequest(), WHO, KEY))
    assert len(won) == 1 and len(lost) == 3
    draws = load_draws(lake, task["task_id"])
    assert [d["plan_id"] for d in draws] == [won[0].plan_id]
    chain = audit.check_chain(lake, KEY, "42")
    assert chain.ok, chain.problems
    assert [r["seq"] for r in chain.records] == [1, 2]
    assert [r["kind"] for r in chain.records] == ["task", "plan"]
    assert chain.records[1]["ref"] == won[0].plan_id


def test_test_plans_go_on_the_chain_marked_and_never_official(lake: Lake) -> None:
    req = PlanRequest.model_validate({"month": MONTH, "province": "42", "ratios": {"D": 0.5},
                                      "seed": "mine", "mode": "test"}, strict=False)  # fmt: skip
    made = draw_test_plan(lake, req, WHO, KEY)
    chain = audit.check_chain(lake, KEY, "42")
    rec = chain.find("test_plan", made.plan_id)
    assert rec is not None and rec["mode"] == "test" and rec["seed_from"] == "caller"
    assert rec["subject"] == audit.sha256(made.stored)
    assert chain.find("plan", made.plan_id) is None and chain.find("supersession", made.plan_id) is None
    result = verify_plan(lake, made.plan_id, KEY)
    assert result.status == "match" and result.message.startswith("test plan, never official")
    # a test plan rewritten to claim it is official is no task's plan on the chain
    path = lake.path(f"plans/42/{made.plan_id}.json")
    text = made.stored.decode().replace('"mode":"test"', '"mode":"official","task_id":"42-t' + "0" * 20 + '"')
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    forged = verify_plan(lake, made.plan_id, KEY)
    assert not forged.ok and "stored_plan" in forged.differences and "task_id" in forged.differences
