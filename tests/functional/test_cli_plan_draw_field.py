"""``creditrisk plan draw --field``: the CLI staffs a test draw by the inspectors' field, like the
API's ``inspectors.field`` (issue 15), through the real entry point in a subprocess."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from functions.lake import Lake
from functions.roster.load import load_roster
from tests.functional.test_cli_exit_statuses import creditrisk
from tests.sampling_data import publish, results_table

MONTH = "2026-10"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("cli-field") / "lake"
    out = Lake.from_uri(str(root))
    publish(out, results_table("42", 400), MONTH, "42")
    return out


def _draw(lake: Lake, *extra: str) -> dict[str, object]:
    run = creditrisk(
        "plan", "draw", "--month", MONTH, "--province", "42", "--seed", "f1", "--json", *extra,
        lake=Path(lake.uri),
    )  # fmt: skip
    assert run.code == 0, run.err
    plan: dict[str, object] = json.loads(run.out)
    return plan


def test_field_picks_inspectors_qualified_for_it(lake: Lake) -> None:
    plan = _draw(lake, "--field", "food", "--per-target", "3")
    used = plan["roster"]
    assert isinstance(used, dict) and used["field"] == "food" and used["per_target"] == 3
    assert plan["request"]["inspectors"] == {"field": "food", "per_target": 3}  # type: ignore[index]
    roster = load_roster(lake, "42", dt.datetime.fromisoformat(used["as_of"]))
    food = {i.id for i in roster.inspectors if "food" in i.fields}
    general_only = {i.id for i in roster.inspectors if i.fields == frozenset({"general"})}
    assert general_only, "the roster must have inspectors the field rules out"
    staffed = [i for t in plan["targets"] for i in t["inspectors"]]  # type: ignore[attr-defined]
    assert staffed and set(staffed) <= food
    assert all(len(t["inspectors"]) == 3 for t in plan["targets"])  # type: ignore[attr-defined]
    verified = creditrisk("plan", "verify", str(plan["plan_id"]), lake=Path(lake.uri))
    assert verified.code == 0, verified.out + verified.err


def test_default_field_is_general_and_unknown_field_is_a_usage_error(lake: Lake) -> None:
    plan = _draw(lake)
    assert plan["roster"]["field"] == "general"  # type: ignore[index]
    bad = creditrisk(
        "plan", "draw", "--month", MONTH, "--province", "42", "--field", "bakery", lake=Path(lake.uri)
    )
    assert bad.code == 2 and "--field" in bad.err
