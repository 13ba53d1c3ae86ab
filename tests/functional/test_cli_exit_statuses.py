"""Every ``creditrisk`` command's exit status, through the real entry point in a subprocess
(docs/adr/0089): 0 done; 1 ran and failed (a file rejected whole, a plan that does not verify, a
domain error such as not found); 2 usage (bad option or value); never a stack trace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ingest_data import penalty_rows, to_csv
from tests.uploads_data import partial_csv, rejected_csv

ROOT = Path(__file__).resolve().parents[2]
MONTH = "2026-10"
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def creditrisk(*args: str, lake: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """``python -m functions.cli`` as an operator runs it (no CREDITRISK_* from this process)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CREDITRISK_")}
    lake_args = ["--lake", str(lake)] if lake is not None else []
    proc = subprocess.run(
        [sys.executable, "-m", "functions.cli", *lake_args, *args],
        cwd=ROOT,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return Run(proc.returncode, proc.stdout, proc.stderr)


@dataclass(frozen=True)
class World:
    tmp: Path
    lake: Path
    plan_id: str
    uscc: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A generated province, ingested, classified for MONTH, with one stored plan."""
    tmp = tmp_path_factory.mktemp("cli-exit")
    lake = tmp / "lake"
    gen = creditrisk(
        "generate", "--province", "42", "--entities", "200", "--months", "3",
        "--end-month", MONTH, "--out", str(tmp / "gen"),
    )  # fmt: skip
    assert gen.code == 0, gen.err
    ingested = creditrisk("ingest", str(tmp / "gen"), lake=lake)
    assert ingested.code == 0, ingested.err
    assert "0 rejected whole" in ingested.out
    classified = creditrisk("classify", "--month", MONTH, "--province", "42", lake=lake)
    assert classified.code == 0, classified.err
    drawn = creditrisk(
        "plan", "draw", "--month", MONTH, "--province", "42", "--seed", "s1", "--json", lake=lake
    )
    assert drawn.code == 0, drawn.err
    plan = json.loads(drawn.out)
    return World(tmp, lake, plan["plan_id"], plan["targets"][0]["uscc"])


def _upload(world: World, name: str, data: bytes) -> Path:
    path = world.tmp / "uploads" / name / "incoming" / "42" / "penalties" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_top_level_help_and_usage() -> None:
    assert creditrisk("--help").code == 0
    bad = creditrisk("no-such-command")
    assert bad.code == 2 and "No such command" in bad.err


def test_ingest_exits_1_only_when_a_file_is_rejected_whole(world: World) -> None:
    events = world.tmp / "events.jsonl"
    env = {"CREDITRISK_UPLOAD_EVENTS_FILE": str(events)}
    partial = creditrisk("ingest", str(_upload(world, "partial", partial_csv())), lake=world.lake, env=env)
    assert partial.code == 0, partial.err  # rows rejected, the file accepted
    rejected = creditrisk("ingest", str(_upload(world, "rejected", rejected_csv())), lake=world.lake, env=env)
    assert rejected.code == 1, rejected.out
    assert "1 rejected whole" in rejected.out
    # a batch with one rejected file among good ones still says so
    good = to_csv(penalty_rows(3)).encode()
    batch = world.tmp / "uploads" / "batch" / "incoming" / "42" / "penalties"
    batch.mkdir(parents=True)
    (batch / "good.csv").write_bytes(good)
    (batch / "bad.csv").write_bytes(rejected_csv() + b"x")
    both = creditrisk("ingest", "--json", str(batch.parents[2]), lake=world.lake, env=env)
    assert both.code == 1
    assert sorted(json.loads(line)["status"] for line in both.out.splitlines()) == [
        "accepted",
        "rejected_file",
    ]
    # the same rejected file again is a duplicate: nothing new was rejected
    again = creditrisk("ingest", str(_upload(world, "rejected", rejected_csv())), lake=world.lake)
    assert again.code == 0 and "1 duplicate" in again.out
    # every outcome was announced, rejected files included (docs/adr/0088)
    outcomes = [json.loads(line)["detail"]["outcome"] for line in events.read_text().splitlines()]
    assert outcomes == ["partial", "rejected", "rejected", "accepted"]  # bad.csv sorts first
    assert creditrisk("ingest", lake=world.lake).code == 2  # neither PATH nor --pending
    assert creditrisk("ingest", str(world.tmp / "missing.csv"), lake=world.lake).code == 2


def test_plan_verify_exits_1_on_a_mismatch(world: World) -> None:
    assert creditrisk("plan", "verify", world.plan_id, lake=world.lake).code == 0
    assert creditrisk("plan", "show", world.plan_id, lake=world.lake).code == 0
    stored = world.lake / "plans" / "42" / f"{world.plan_id}.json"
    original = stored.read_text(encoding="utf-8")
    plan = json.loads(original)
    plan["targets"] = plan["targets"][1:]  # tampered: one target removed
    stored.write_text(json.dumps(plan, ensure_ascii=False), encoding="utf-8")
    try:
        tampered = creditrisk("plan", "verify", world.plan_id, lake=world.lake)
        assert tampered.code == 1 and "mismatch" in tampered.out
    finally:
        stored.write_text(original, encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        # generate
        (("generate", "--province", "42", "--entities", "0", "--out", "{tmp}/g0"), 2, "--entities"),
        # classify
        (("classify", "--month", "2026-13"), 2, "--month"),
        (("classify", "--month", MONTH, "--province", "43"), 1, "no curated entities"),
        (("classify", "--month", MONTH, "--engine", "nope"), 2, "--engine"),
        # plan
        (("plan", "show", "42-0000000000000000000a"), 1, "no plan"),
        (("plan", "verify", "not-a-plan"), 2, "plan_id"),
        (("plan", "draw", "--month", "2026-13", "--province", "42"), 2, "month"),
        (("plan", "draw", "--month", "2026-09", "--province", "42"), 1, "no published classification"),
        # explain
        (("explain", "--uscc", "{uscc}", "--month", MONTH), 0, ""),
        (("explain", "--uscc", "bad", "--month", MONTH), 2, "Unified Social Credit Code"),
        (("explain", "--uscc", "{uscc}", "--month", "2026-09"), 1, "no published classification"),
        # query
        (("query", "SELECT count(*) FROM classifications"), 0, ""),
        (("query", "DELETE FROM classifications"), 2, "only queries"),
        # token
        (("token", "issue", "--name", "t", "--provinces", "42"), 0, ""),
        (("token", "issue", "--name", "t", "--provinces", "99"), 2, "province"),
        (
            (
                "token",
                "list",
            ),
            0,
            "",
        ),
        (("token", "revoke", "000000000000"), 1, "no token"),
        # warnings
        (("warnings", "--month", MONTH, "--province", "42"), 0, ""),
        (("warnings", "--month", MONTH, "--province", "42", "--list"), 0, ""),
        (("warnings", "--month", "2026-13", "--province", "42"), 2, "month"),
        # report
        (("report", "--month", MONTH, "--province", "42", "--out", "{tmp}/r.html"), 0, ""),
        (("report", "--month", "2026-09", "--province", "42"), 1, "no published classification"),
        (("report", "--month", MONTH, "--province", "4"), 2, "province"),
        # evaluate (backtest)
        (("evaluate", "--from", MONTH, "--to", MONTH, "--province", "42", "--replicates", "100"), 0, ""),
        (("evaluate", "--from", "2025-01", "--to", "2025-02", "--province", "42"), 1, "no published"),
        (("evaluate", "--from", MONTH, "--to", "2026-13", "--province", "42"), 2, "--to"),
        # county action pages
        (("county-pages", "--month", MONTH, "--province", "42", "--out", "{tmp}/counties"), 0, ""),
        (("county-pages", "--month", MONTH, "--province", "42", "--county", "4201"), 2, "6-digit"),
        (("county-pages", "--month", MONTH, "--province", "42", "--county", "230102"), 2, "not in province"),
        (("county-pages", "--month", MONTH, "--province", "42", "--county", "420999"), 1, "no classified"),
        (("county-pages", "--month", "2026-09", "--province", "42"), 1, "no published classification"),
    ],
)
def test_every_command_exit_status(world: World, args: tuple[str, ...], code: int, says: str) -> None:
    filled = [a.format(tmp=world.tmp, uscc=world.uscc) for a in args]
    run = creditrisk(*filled, lake=world.lake)
    assert run.code == code, (run.out[-2000:], run.err[-2000:])
    assert says in run.err
