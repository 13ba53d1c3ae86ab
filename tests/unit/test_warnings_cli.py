"""``creditrisk warnings`` and ``creditrisk report`` through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from functions.cli import cli
from functions.lake import Lake
from tests.sampling_data import publish, results_table
from tests.unit.test_warnings_rules import M, P, build


def test_warnings_run_then_list(local_lake: Lake) -> None:
    build(local_lake)
    runner = CliRunner()
    base = ["--lake", local_lake.uri, "warnings", "--month", M, "--province", P]
    r = runner.invoke(cli, [*base, "--cutoff", "2026-11-02T00:00:00+00:00", "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["raised"] > 10 and res["trigger"] == "manual"
    r = runner.invoke(cli, [*base, "--cutoff", "2026-11-02T00:00:00+00:00"], catch_exceptions=False)
    assert "0 new warnings" in r.output and f"{res['raised']} already raised" in r.output
    r = runner.invoke(cli, [*base, "--list", "--rule", "complaint_surge"], catch_exceptions=False)
    assert r.exit_code == 0 and r.output.strip().endswith("1 warnings")


def test_report_command_writes_and_copies(local_lake: Lake, tmp_path: Path) -> None:
    publish(local_lake, results_table(P, 500, run_id="r10"), M, P)
    out = tmp_path / "out" / "report.html"
    r = CliRunner().invoke(
        cli,
        ["--lake", local_lake.uri, "report", "--month", M, "--province", P, "--out", str(out)],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    assert "report written to" in r.output and out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_warnings_state_filter_and_actor_through_a_subprocess(local_lake: Lake) -> None:
    import subprocess
    import sys

    build(local_lake)
    base = [sys.executable, "-m", "functions.cli", "--lake", local_lake.uri, "warnings", "--month", M]
    base += ["--province", P]
    run = [*base, "--cutoff", "2026-11-02T00:00:00+00:00", "--by", "auditor-li", "--json"]
    done = subprocess.run(run, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        [*base, "--list", "--state", "open", "--json"], capture_output=True, text=True, check=False
    )
    rows = json.loads(listed.stdout)
    assert rows and {r["state"] for r in rows} == {"open"} and {r["state_by"] for r in rows} == {"auditor-li"}
    none = subprocess.run(
        [*base, "--list", "--state", "retracted"], capture_output=True, text=True, check=False
    )
    assert none.returncode == 0 and none.stdout.strip().endswith("0 warnings")
    bad = subprocess.run([*base, "--list", "--state", "closed"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "closed" in bad.stderr
