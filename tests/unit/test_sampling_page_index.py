"""A large plan's page index checked whole: against the plan's bytes and the digest its chain
record carries (docs/adr/0162)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from functions import layout
from functions.lake import Lake
from functions.sampling import page_index, plans
from functions.sampling.plans import plan_text_of, store_plan_text
from tests.page_index_data import FORMATS, index_of, large_plan, merged_and_split

N, STEP = 60, 7


@dataclass(frozen=True)
class Stored:
    lake: Lake
    plan_id: str
    data: bytes  # the plan as stored
    targets: list[Any]
    record: dict[str, Any]  # what the draw's chain record says of the index
    index_format: int

    @property
    def index_key(self) -> str:
        return layout.plan_pages_key("42", self.plan_id)

    def check(self, record: dict[str, Any] | None = None) -> tuple[list[str], str]:
        return page_index.problems(self.lake, self.plan_id, self.data, self.targets, record)

    def put_index(self, index: dict[str, Any]) -> None:
        self.lake.write_bytes(self.index_key, json.dumps(index).encode())


@pytest.fixture(params=FORMATS)
def stored(local_lake: Lake, request: pytest.FixtureRequest) -> Stored:
    """A plan stored with its page index in each format a reader takes (1: SHA-256 runs, as
    plans drawn before ADR 0165 have them; 2: CRC-32C)."""
    plan = large_plan(N)
    store_plan_text(local_lake, "42", plan_text_of(plan), keep=0, batch=STEP, index_format=request.param)
    data = local_lake.read_bytes(layout.plan_key("42", plan["plan_id"]))
    record = {"kind": "plan", "page_index": page_index.digest(local_lake, plan["plan_id"])}
    return Stored(local_lake, plan["plan_id"], data, plan["targets"], record, request.param)


def test_the_index_the_writer_made_checks_and_is_the_one_rebuilt_from_the_bytes(stored: Stored) -> None:
    index = stored.lake.read_bytes(stored.index_key)
    assert stored.record["page_index"] == hashlib.sha256(index).hexdigest()
    assert json.loads(index)["format"] == stored.index_format
    # the tests' builder agrees
    assert json.loads(index) == index_of(stored.data, stored.plan_id, STEP, stored.index_format)
    assert stored.check(stored.record) == ([], "page index as on the chain, every run checked")
    problems, note = stored.check(None)  # a plan whose record predates the digest
    assert problems == [] and "drawn before its digest went on the chain" in note


def test_a_consistent_forgery_is_served_by_a_get_but_fails_the_check(stored: Stored) -> None:
    """ADR 0158's open case: runs merged and split so that every run a GET reads lines up and
    matches its digest. The GET serves run 2 as run 1; the check catches it on the chain's digest
    and, for a plan whose record carries none, on the plan's own targets at each position."""
    stored.put_index(merged_and_split(stored.data, stored.plan_id, STEP, stored.index_format))
    plans.clear_cache()
    page = json.loads(plans.targets_page(stored.lake, stored.plan_id, STEP, STEP, 20_000))
    assert [t["uscc"] for t in page["targets"]] == [f"{i:018d}" for i in range(2 * STEP, 3 * STEP)]
    plans.clear_cache()
    problems, _ = stored.check(stored.record)
    assert problems[0] == "the page index is not the one its chain record names (SHA-256 differs)"
    assert "run 0 does not hold targets 0…6" in problems and "run 1 does not hold targets 7…13" in problems
    old, _ = stored.check(None)
    assert old == problems[1:]


def test_another_stride_is_harmless_but_not_the_index_on_the_chain(stored: Stored) -> None:
    stored.put_index(index_of(stored.data, stored.plan_id, 5, stored.index_format))
    assert stored.check(stored.record)[0] == [
        "the page index is not the one its chain record names (SHA-256 differs)"
    ]
    assert stored.check(None)[0] == []


@pytest.mark.parametrize(
    ("recorded", "present", "problem"),
    [
        (None, True, "a page index exists that its chain record says was never written"),
        ("digest", False, "the page index its chain record names is missing"),
        (None, False, None),
        ("absent", False, None),  # a record from before the digest, a plan without an index
    ],
)
def test_the_index_exists_exactly_when_the_chain_record_names_one(
    stored: Stored, recorded: str | None, present: bool, problem: str | None
) -> None:
    record = dict(stored.record)
    if recorded is None:
        record["page_index"] = None
    elif recorded == "absent":
        del record["page_index"]
    if not present:
        stored.lake.delete(stored.index_key)
    assert stored.check(record) == ([problem] if problem else [], "")


def _check(index: dict[str, Any]) -> None:
    index["chunks"][2][2] = "0" * len(index["chunks"][2][2])


def _size(index: dict[str, Any]) -> None:
    index["size"] += 1


def _count(index: dict[str, Any]) -> None:
    index["count"] -= 1


def _shift(index: dict[str, Any]) -> None:
    index["chunks"][3][0] += 1
    index["chunks"][3][1] -= 1


def _end(index: dict[str, Any]) -> None:
    index["end"] -= 1


def _keys(index: dict[str, Any]) -> None:
    del index["chunks"]


def _types(index: dict[str, Any]) -> None:
    index["size"] = "large"


def _format(index: dict[str, Any]) -> None:
    index["format"] = 3  # a format no reader knows


def _other_check(index: dict[str, Any]) -> None:
    index["format"] = 3 - index["format"]  # the runs' checks read as the other format's


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (_check, "run 2: {check} differs from the plan's bytes"),
        (_size, "the page index names another plan or another size"),
        (_count, "the page index has 9 runs of 7 for 59 targets, the plan 60"),
        (_shift, "run 3 does not start where run 2 ends"),
        (_end, "the page index's head or end is not where the plan's targets open or close"),
        (_keys, "the page index is unreadable (KeyError)"),
        (_types, "the page index is unreadable (ValueError)"),
        (_format, "the page index is unreadable (ValueError)"),
        (_other_check, "run 0: {other} differs from the plan's bytes"),
    ],
)
def test_an_index_that_does_not_describe_the_plan_is_named(
    stored: Stored, tamper: Callable[[dict[str, Any]], None], named: str
) -> None:
    """Each is caught even where the chain carries no digest (a plan drawn before it)."""
    names = {1: "SHA-256", 2: "CRC-32C"}
    named = named.format(check=names[stored.index_format], other=names[3 - stored.index_format])
    index = json.loads(stored.lake.read_bytes(stored.index_key))
    tamper(index)
    stored.put_index(index)
    for record in (stored.record, None):
        problems, _ = stored.check(record)
        assert any(p.startswith(named) for p in problems), problems


def test_small_plans_have_no_index_and_no_digest(local_lake: Lake) -> None:
    plan = large_plan(3)
    kept = store_plan_text(local_lake, "42", plan_text_of(plan), batch=STEP)
    assert kept.kept is not None and page_index.digest(local_lake, plan["plan_id"]) is None


def test_the_writer_uses_crc32c_runs_where_the_c_extension_loads() -> None:
    """Format 2 needs google-crc32c's C extension (the layer's glibc test loads it for Lambda);
    its pure-Python fallback would cost seconds per large plan, so the writer keeps SHA-256."""
    import google_crc32c

    assert google_crc32c.implementation == "c" and plans.INDEX_FORMAT == 2
    assert plans.writer_format("c") == 2 and plans.writer_format("python") == 1
    assert plans.RUN_CHECKS[2][1](memoryview(b"123456789")) == "e3069283"  # CRC-32C check value
