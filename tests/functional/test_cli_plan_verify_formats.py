"""``creditrisk plan verify`` accepts every plan format it wrote (docs/adr/0125) and still
detects tampering, through the real entry point in a subprocess (the tampering matrix runs
``verify_plan`` in-process with the command's signer: one interpreter per case cost ~1 CPU-s,
docs/adr/0159; the command's exit 1 on a mismatch is proven by the other cases here).

The ``v1-*`` fixtures under ``tests/fixtures/plans/`` were written by the code of commit 7b796b3
(before the inspector roster: inspectors came in the request, no ``mode``, no ``roster`` member)
over ``results_table("42", 300, run_id="run-legacy")`` published for 2026-10. ``v3-*`` was written
by the code of commit a121cdc (format 3, before adjustments were applied at the draw, ADR 0142)
over the same table and a roster ingested on 2026-01-01 (:func:`_v3_lake`); ``v4-*`` by commit
deed738 (format 4, inspector rounds shuffled one by one, before ADR 0163) on that lake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.lake import Lake
from tests.functional.test_cli_exit_statuses import Run, creditrisk
from tests.sampling_data import publish, results_table

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "plans"
POOL = "v1-roster-less-pool.json"
BARE = "v1-roster-less-no-inspectors.json"
V3 = "v3-before-adjustments.json"
V4 = "v4-shuffled-rounds.json"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    out = Lake.from_uri(str(tmp_path_factory.mktemp("formats") / "lake"))
    publish(out, results_table("42", 300, run_id="run-legacy"), "2026-10", "42")
    return out


def _store(lake: Lake, plan: dict[str, Any]) -> str:
    path = Path(lake.uri) / "plans" / "42" / f"{plan['plan_id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    return str(plan["plan_id"])


def _fixture(name: str) -> dict[str, Any]:
    plan: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return plan


def _verify(lake: Lake, plan_id: str) -> Run:
    return creditrisk("plan", "verify", plan_id, lake=Path(lake.uri))


def _verified(lake: Lake, plan_id: str) -> tuple[bool, str]:
    """``plan verify``'s check in this process, with the signer the command builds for ``lake``
    (none when unconfigured); (ok, the line it prints after the id)."""
    from functions.errors import ConfigError
    from functions.sampling.signing import Signer, signer_from_settings
    from functions.sampling.verify import verify_plan
    from functions.settings import Settings

    try:
        signer: Signer | None = signer_from_settings(Settings(lake_uri=lake.uri), lake)
    except ConfigError:
        signer = None
    result = verify_plan(lake, plan_id, signer)
    return result.ok, f"{result.status} — {result.message}"


@pytest.mark.parametrize("name", [POOL, BARE])
def test_format_1_plans_verify(lake: Lake, name: str) -> None:
    plan = _fixture(name)
    assert "roster" not in plan and "plan_format" not in plan and "mode" not in plan
    run = _verify(lake, _store(lake, plan))
    assert run.code == 0, run.out + run.err
    assert ": match" in run.out and "test plan" in run.out


def _tampered(plan: dict[str, Any], how: str) -> dict[str, Any]:
    out = json.loads(json.dumps(plan))
    if how == "inspector":
        t = out["targets"][0]
        t["inspectors"] = [i for i in out["inspector_loads"] if i not in t["inspectors"]][:2]
    elif how == "target":
        out["targets"] = out["targets"][1:]
    elif how == "seed":
        out["seed"] = "another-seed"
    elif how == "loads":
        first = next(iter(out["inspector_loads"]))
        out["inspector_loads"][first] += 1
    elif how == "pool":  # the target's first inspector now has to recuse from it
        first = out["targets"][0]["inspectors"][0]
        pool = out["request"]["inspectors"]["pool"]
        next(i for i in pool if i["id"] == first)["conflicts"] = [out["targets"][0]["uscc"]]
    elif how == "format":
        out["plan_format"] = 9
    return out


TAMPERINGS = ["inspector", "target", "seed", "loads", "pool", "format"]


@pytest.mark.parametrize("how", TAMPERINGS)
def test_format_1_tampering_is_detected(lake: Lake, how: str) -> None:
    plan = _tampered(_fixture(POOL), how)
    plan["plan_id"] = f"42-{TAMPERINGS.index(how) + 1:020x}"
    ok, out = _verified(lake, _store(lake, plan))
    assert not ok and "mismatch" in out, out


def test_a_new_plan_stripped_to_look_like_format_1_fails(lake: Lake) -> None:
    args = ("plan", "draw", "--month", "2026-10", "--province", "42", "--seed", "n1", "--json")
    drawn = creditrisk(*args, lake=Path(lake.uri))
    assert drawn.code == 0, drawn.err
    plan = json.loads(drawn.out)
    assert plan["plan_format"] == 5
    assert _verify(lake, plan["plan_id"]).code == 0
    for member in ("roster", "plan_format"):
        del plan[member]
    run = _verify(lake, _store(lake, plan))
    assert run.code == 1 and "mismatch" in run.out, run.out


@pytest.fixture(scope="module")
def v3_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The lake the format 3 fixture was drawn on: its roster ingested at a fixed time."""
    import datetime as dt

    from functions.roster.synthetic import roster_table, write_curated
    from tests.sampling_data import REGIONS

    out = Lake.from_uri(str(tmp_path_factory.mktemp("formats-v3") / "lake"))
    publish(out, results_table("42", 300, run_id="run-legacy"), "2026-10", "42", with_roster=False)
    write_curated(out, "42", roster_table("42", 40, counties=REGIONS["42"]), ingest_id="roster-2026",
                  ingested_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))  # fmt: skip
    return out


def test_a_format_3_plan_verifies_without_adjustments_even_after_an_approval(v3_lake: Lake) -> None:
    """ADR 0142: format 3 plans never applied adjustments; one approved since does not touch them,
    and a changed target still fails."""
    from functions.objections import adjust
    from schemas.objections import Actor

    plan = _fixture(V3)
    assert plan["plan_format"] == 3 and "adjustments" not in plan
    plan_id = _store(v3_lake, plan)
    # stored before every test plan went on the chain: the upgrade's repair adopts it (ADR 0141)
    adopted = creditrisk("audit", "repair", "--province", "42", lake=Path(v3_lake.uri))
    assert adopted.code == 0, adopted.out + adopted.err
    run = _verify(v3_lake, plan_id)
    assert run.code == 0 and ": match" in run.out, run.out + run.err
    target = next(t for t in plan["targets"] if t["risk_class"] != "A")
    li, wang = Actor(kind="operator", id="li", name="li"), Actor(kind="operator", id="wang", name="wang")
    a = adjust.propose(v3_lake, target["uscc"], "2026-10", "A", "核查后调整", li)
    adjust.decide(v3_lake, "2026-10", a.adjustment_id, wang, approve=True)
    again = _verify(v3_lake, plan_id)
    assert again.code == 0 and ": match" in again.out, again.out + again.err
    tampered = json.loads(json.dumps(plan))
    tampered["plan_id"] = "42-" + "f" * 20
    tampered["targets"][0]["risk_class"] = "A" if tampered["targets"][0]["risk_class"] != "A" else "D"
    bad = _verify(v3_lake, _store(v3_lake, tampered))
    assert bad.code == 1 and "mismatch" in bad.out, bad.out


def test_a_format_4_plan_verifies_with_the_rounds_it_was_staffed_by(v3_lake: Lake) -> None:
    """ADR 0163: format 5 draws the inspector rounds by keys; a format 4 plan (written by commit
    deed738 on the format 3 fixture's lake, seed ``v4-fixture``) is still replayed with its
    shuffled rounds, and a format 5 replay of it would differ (so the test can fail)."""
    from functions.roster.load import load_roster
    from functions.sampling import cells
    from functions.sampling.service import compute, staffing_rules
    from functions.settings import get_settings
    from schemas.api import PlanRequest

    plan = _fixture(V4)
    assert plan["plan_format"] == 4
    plan_id = _store(v3_lake, plan)
    adopted = creditrisk("audit", "repair", "--province", "42", lake=Path(v3_lake.uri))
    assert adopted.code == 0, adopted.out + adopted.err
    run = _verify(v3_lake, plan_id)
    assert run.code == 0 and ": match" in run.out, run.out + run.err
    req = PlanRequest.model_validate(plan["request"], strict=False)
    frame = cells.load_published(v3_lake, "2026-10", "42")
    roster = load_roster(v3_lake, "42", dt_of(plan["roster"]["as_of"]))
    again = compute(req, frame, plan["seed"], roster, staffing_rules(req, get_settings()), plan_format=5)
    assert [t["uscc"] for t in again["targets"]] == [t["uscc"] for t in plan["targets"]]
    assert [t["inspectors"] for t in again["targets"]] != [t["inspectors"] for t in plan["targets"]]
    tampered = json.loads(json.dumps(plan))
    tampered["plan_id"] = "42-" + "e" * 20
    tampered["plan_format"] = 5  # claiming the other staffing fails: the inspectors differ
    bad = _verify(v3_lake, _store(v3_lake, tampered))
    assert bad.code == 1 and "mismatch" in bad.out, bad.out


def dt_of(text: str) -> Any:
    import datetime as dt

    return dt.datetime.fromisoformat(text)
