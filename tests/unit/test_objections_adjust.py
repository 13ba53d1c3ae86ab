"""Manual class adjustment: a reason, a second person's approval, shown beside the model's class
in the bulk read and ``explain`` (issue 14, ADR 0113)."""

from __future__ import annotations

import json

import pytest

from functions import layout
from functions.classify.explain import explain, render
from functions.delivery.bulk import page
from functions.errors import Conflict, Forbidden, InvalidInput
from functions.lake import Lake
from functions.objections import adjust
from functions.sampling.signing import HmacSigner
from schemas.objections import Actor
from tests.sampling_data import publish, results_table

SIGNER = HmacSigner(b"k" * 32)
MONTH = "2026-10"
LI = Actor(kind="operator", id="li", name="li")
WANG = Actor(kind="operator", id="wang", name="wang")


@pytest.fixture
def lake(local_lake: Lake) -> Lake:
    publish(local_lake, results_table("42", 30, run_id="run-1"), MONTH, "42")
    return local_lake


def _entity(lake: Lake, cls: str) -> str:
    t = lake.read_parquet(layout.classification_key(MONTH, "42")).to_pylist()
    return next(r["uscc"] for r in t if r["risk_class"] == cls)


def test_an_adjustment_shows_only_once_a_second_person_approves(lake: Lake) -> None:
    code = _entity(lake, "C")
    a = adjust.propose(lake, code, MONTH, "B", "penalty annulled by court ruling", LI)
    assert (a.status, a.model_class, a.adjusted_class) == ("proposed", "C", "B")
    assert adjust.approved_adjustments(lake, MONTH, "42") == {}
    with pytest.raises(Forbidden, match="different person"):
        adjust.decide(lake, MONTH, a.adjustment_id, LI, approve=True)
    done = adjust.decide(lake, MONTH, a.adjustment_id, WANG, approve=True)
    assert done.status == "approved" and done.approved_by == WANG
    assert [e.step for e in done.trail] == ["proposed", "approved"]
    with pytest.raises(Conflict):
        adjust.decide(lake, MONTH, a.adjustment_id, WANG, approve=False)

    info = explain(lake, code, MONTH)
    assert info["risk_class"] == "C"  # the model's class stays
    assert info["adjustment"]["adjusted_class"] == "B" and info["adjustment"]["approved_by"] == "wang"
    assert "MANUALLY ADJUSTED to class B (model class C)" in render(info)

    body = json.loads(
        page(lake, month=MONTH, province="42", cursor=None, limit=100, max_bytes=10**6, signer=SIGNER)
    )
    row = next(r for r in body["rows"] if r["uscc"] == code)
    assert (row["class"], row["model_class"], row["adjusted"]) == ("B", "C", True)
    assert sum(r["adjusted"] for r in body["rows"]) == 1


def test_a_refused_adjustment_never_shows(lake: Lake) -> None:
    code = _entity(lake, "A")
    a = adjust.propose(lake, code, MONTH, "D", "on-site finding", LI)
    adjust.decide(lake, MONTH, a.adjustment_id, WANG, approve=False, reason="not enough evidence")
    assert adjust.approved_adjustments(lake, MONTH, "42") == {}
    assert "adjustment" not in explain(lake, code, MONTH)


def test_a_proposal_needs_a_reason_and_a_different_class(lake: Lake) -> None:
    code = _entity(lake, "A")
    with pytest.raises(InvalidInput, match="reason"):
        adjust.propose(lake, code, MONTH, "B", "  ", LI)
    with pytest.raises(InvalidInput, match="already"):
        adjust.propose(lake, code, MONTH, "A", "why", LI)
    with pytest.raises(InvalidInput):
        adjust.propose(lake, code, MONTH, "E", "why", LI)
