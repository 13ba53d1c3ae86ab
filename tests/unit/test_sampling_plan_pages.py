"""A large plan's pages read through its page index are the bytes the full parse gives (ADR 0158)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from functions import layout
from functions.lake import Lake
from functions.sampling import plans
from functions.sampling.plans import plan_text_of, store_plan_text
from tests.page_index_data import FORMATS, large_plan, run_check

LIMIT = 20_000  # small answers, so the first page and the halving are exercised
N = 100
STEP = 7  # targets per index entry (a stride that divides neither N nor the page sizes)


PAGES = [(0, 10), (0, 10_000), (6, 3), (7, 7), (13, 20), (50, 1000), (95, 10), (99, 1), (100, 5), (250, 5)]


def _answers(lake: Lake, plan_id: str) -> list[str]:
    plans.clear_cache()
    out = [plans.plan_answer(lake, plan_id, LIMIT)]
    out += [plans.targets_page(lake, plan_id, o, n, LIMIT) for o, n in PAGES]
    plans.clear_cache()
    return out


@pytest.fixture(params=FORMATS)
def stored(any_lake: Lake, request: pytest.FixtureRequest) -> tuple[Lake, str, list[str]]:
    """A plan stored with its index (each format a reader takes), and the answers of the full
    parse (index removed meanwhile): on S3 too, where a page is ranged GETs."""
    plan = large_plan(N)
    store_plan_text(any_lake, "42", plan_text_of(plan), keep=0, batch=STEP, index_format=request.param)
    index_key = layout.plan_pages_key("42", plan["plan_id"])
    index = any_lake.read_bytes(index_key)
    any_lake.delete(index_key)
    parsed = _answers(any_lake, plan["plan_id"])
    any_lake.write_bytes(index_key, index)
    return any_lake, plan["plan_id"], parsed


def _spy(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    read: list[str] = []
    real = lake.read_bytes

    def read_bytes(key: str) -> bytes:
        read.append(key)
        return real(key)

    monkeypatch.setattr(lake, "read_bytes", read_bytes)
    return read


def test_pages_through_the_index_are_the_same_bytes_and_never_read_the_whole_plan(
    stored: tuple[Lake, str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, plan_id, parsed = stored
    read = _spy(lake, monkeypatch)
    assert _answers(lake, plan_id) == parsed
    assert layout.plan_key("42", plan_id) not in read  # only ranges of it
    last = json.loads(parsed[PAGES.index((99, 1)) + 1])
    assert last["targets"][0]["uscc"] == f"{99:018d}" and last["next_offset"] is None
    first = json.loads(parsed[0])
    assert first["targets_next"] is not None and first["request"] == {"province": "42", "exclude": ["x"] * 50}


def _rewrite(index: dict[str, Any]) -> None:
    index["chunks"][2][2] = "0" * 64  # a run's bytes are not those the index names


def _truncate(index: dict[str, Any]) -> None:
    del index["chunks"][-1]


def _shift(index: dict[str, Any]) -> None:
    index["chunks"][3][0] += 1  # not where the run starts


def _swap(index: dict[str, Any]) -> None:
    c = index["chunks"]
    c[1], c[2] = c[2], c[1]  # another run's targets in this run's place


def _recount(index: dict[str, Any]) -> None:
    index["count"] -= 1


def _reformat(index: dict[str, Any]) -> None:
    index["format"] = 3 - index["format"]  # the runs' checks read as the other format's


def _unknown(index: dict[str, Any]) -> None:
    index["format"] = 3


@pytest.mark.parametrize("tamper", [_rewrite, _truncate, _shift, _swap, _recount, _reformat, _unknown])
def test_an_index_that_does_not_match_the_plan_gives_the_parsed_answers(
    stored: tuple[Lake, str, list[str]], tamper: Callable[[dict[str, Any]], None]
) -> None:
    lake, plan_id, parsed = stored
    key = layout.plan_pages_key("42", plan_id)
    index = json.loads(lake.read_bytes(key))
    tamper(index)
    lake.write_bytes(key, json.dumps(index).encode())
    assert _answers(lake, plan_id) == parsed


def test_a_damaged_index_or_a_run_of_other_bytes_gives_the_parsed_answers(
    stored: tuple[Lake, str, list[str]],
) -> None:
    lake, plan_id, parsed = stored
    key = layout.plan_pages_key("42", plan_id)
    index = json.loads(lake.read_bytes(key))
    lake.write_bytes(key, lake.read_bytes(key)[:-10])  # truncated
    assert _answers(lake, plan_id) == parsed
    # an index whose digests name bytes of the same length that are not JSON targets
    plan_bytes = lake.read_bytes(layout.plan_key("42", plan_id))
    off, length, _ = index["chunks"][1]
    index["chunks"][1][2] = run_check(plan_bytes[off : off + length], index["format"])
    lake.write_bytes(key, json.dumps(index).encode())
    assert _answers(lake, plan_id) == parsed


def test_small_plans_get_no_index(local_lake: Lake) -> None:
    plan = large_plan(5)
    stored = store_plan_text(local_lake, "42", plan_text_of(plan), batch=STEP)
    assert stored.kept is not None
    assert not local_lake.exists(layout.plan_pages_key("42", plan["plan_id"]))
    assert local_lake.list_files(layout.plans_prefix("42"), recursive=False)[0].key.endswith(".json")
