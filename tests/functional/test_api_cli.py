"""``creditrisk token`` and ``creditrisk plan`` end to end, and the issued token works on the API."""

from __future__ import annotations

import json

import click
import pytest
from chalice.test import Client
from click.testing import CliRunner

import app as app_module
from functions.cli.plan_cmd import command as plan_command
from functions.cli.token_cmd import command as token_command
from functions.lake import Lake
from functions.sampling import frame as frames
from tests.sampling_data import publish, results_table


@click.group()
@click.option("--lake")
@click.pass_context
def root(ctx: click.Context, lake: str) -> None:
    """Stands in for ``functions.cli.cli`` (same ``--lake`` contract) without importing every command."""
    ctx.ensure_object(dict)
    ctx.obj["lake"] = lake


root.add_command(plan_command)
root.add_command(token_command)


@pytest.fixture
def lake(local_lake: Lake) -> Lake:
    frames.clear_cache()
    publish(local_lake, results_table("42", 800, run_id="run-a"), "2026-10", "42")
    return local_lake


def test_token_issue_list_revoke_and_use(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    out = runner.invoke(root, ["--lake", lake.uri, "token", "issue", "--provinces", "42,23", "--name", "hb"])
    assert out.exit_code == 0, out.output
    token = out.stdout.strip().splitlines()[-1]
    token_id = token.split("_")[1]
    listed = runner.invoke(root, ["--lake", lake.uri, "token", "list"])
    assert (
        token_id in listed.output and "23,42" in listed.output and token.split("_", 2)[2] not in listed.output
    )

    monkeypatch.setenv("CREDITRISK_LAKE_URI", lake.uri)
    app_module.reset()
    body = json.dumps({"month": "2026-10", "province": "42", "ratios": {"D": 0.5}, "mode": "test"})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with Client(app_module.app) as client:
        assert client.http.post("/v1/sampling/plans", headers=headers, body=body).status_code == 201
        revoked = runner.invoke(root, ["--lake", lake.uri, "token", "revoke", token_id])
        assert revoked.exit_code == 0 and "revoked" in revoked.output
        assert client.http.post("/v1/sampling/plans", headers=headers, body=body).status_code == 401
    app_module.reset()
    bad = runner.invoke(root, ["--lake", lake.uri, "token", "issue", "--provinces", "99", "--name", "x"])
    assert bad.exit_code != 0


def test_plan_draw_show_verify(lake: Lake) -> None:
    runner = CliRunner()
    drawn = runner.invoke(root, ["--lake", lake.uri, "plan", "draw", "--month", "2026-10", "--province", "42",
                                 "--seed", "cli", "--json"])  # fmt: skip
    assert drawn.exit_code == 0, drawn.output
    plan = json.loads(drawn.stdout)
    assert plan["caller"]["token_id"] == "cli" and plan["seed"] == "cli"
    shown = runner.invoke(root, ["--lake", lake.uri, "plan", "show", plan["plan_id"]])
    assert shown.exit_code == 0 and "population" in shown.output and plan["plan_id"] in shown.output
    ok = runner.invoke(root, ["--lake", lake.uri, "plan", "verify", plan["plan_id"]])
    assert ok.exit_code == 0 and ": match" in ok.output
    publish(lake, results_table("42", 800, run_id="run-b", seed=5), "2026-10", "42")
    replaced = runner.invoke(root, ["--lake", lake.uri, "plan", "verify", plan["plan_id"]])
    assert replaced.exit_code == 0 and "replaced" in replaced.output and "run-b" in replaced.output
