"""The monthly scheduled handler through ``chalice.test.Client`` with a recorded event, and the
``creditrisk classify`` / ``explain`` commands, on a local lake and a moto S3 lake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client
from click.testing import CliRunner

import app as app_module
from functions import layout
from functions.lake import Lake
from functions.settings import Settings
from tests.classify_data import code, entity, write_curated

EVENT = json.loads((Path(__file__).parent.parent / "fixtures" / "scheduled_classify_event.json").read_text())


@pytest.fixture(params=["local", "s3"])
def lake_env(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Lake, Settings]]:
    lake: Lake = request.getfixturevalue("local_lake" if request.param == "local" else "s3_lake")
    settings: Settings = request.getfixturevalue(
        "local_settings" if request.param == "local" else "s3_settings"
    )
    monkeypatch.setenv("CREDITRISK_LAKE_URI", settings.lake_uri)
    if settings.aws_endpoint_url:
        monkeypatch.setenv("CREDITRISK_AWS_ENDPOINT_URL", settings.aws_endpoint_url)
        monkeypatch.setenv("CREDITRISK_REGION", settings.region)
    app_module.reset()
    yield lake, settings
    app_module.reset()


def test_schedule_is_0200_china_on_the_first() -> None:
    sources = [s for s in app_module.app.event_sources if getattr(s, "name", None) == "classify_monthly"]
    assert len(sources) == 1
    expression = getattr(sources[0], "schedule_expression", None)
    assert expression is not None and expression.to_string() == "cron(0 18 L * ? *)"


def test_scheduled_run_classifies_previous_china_month(
    lake_env: tuple[Lake, Settings], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from functions.obs.context import install

    install([caplog.handler])
    caplog.set_level("INFO", logger="functions")
    caplog.set_level("INFO", logger="app")
    lake, _ = lake_env
    write_curated(lake, "entities", [entity(1), entity(2, status="revoked")])
    write_curated(lake, "penalties", [], province="42")  # a province with data but no entities
    with Client(app_module.app) as client:
        response = client.lambda_.invoke("classify_monthly", EVENT)
    summary: dict[str, Any] = response.payload
    assert summary["month"] == "2026-06"  # fired 2026-06-30T18:00Z = 2026-07-01 02:00 China time
    assert summary["provinces"]["13"]["status"] == "published"
    assert summary["provinces"]["13"]["counts"] == {"A": 1, "B": 0, "C": 0, "D": 1}
    assert summary["provinces"]["42"].pop("seconds") >= 0
    assert summary["provinces"]["42"] == {
        "status": "no_data",
        "message": "no curated entities for province 42: nothing to classify for 2026-06",
    }
    assert lake.exists(layout.classification_key("2026-06", "13"))
    # one EMF line per province: MonthlyRunFailed 0/1 and MonthlyRunSeconds (docs/operations.md)
    docs = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith('{"_aws"')]
    got = {d["Province"]: (d["MonthlyRunFailed"], d.get("run_id")) for d in docs}
    run_id = summary["provinces"]["13"]["run_id"]
    assert got == {"13": (0, run_id), "42": (0, None)}
    assert all(d["MonthlyRunSeconds"] >= 0 and d["month"] == "2026-06" for d in docs)
    # every line of 13's run, down in functions/, names its run
    ours = [r for r in caplog.records if r.name.startswith("functions.")]
    deep = [r for r in ours if getattr(r, "province", "") == "13"]
    assert deep and {getattr(r, "run_id", None) for r in deep} == {run_id}
    assert ours and all(getattr(r, "month", None) == "2026-06" for r in ours)


def test_cli_classify_and_explain(local_lake: Lake, local_settings: Settings) -> None:
    from functions.cli import cli

    write_curated(local_lake, "entities", [entity(1), entity(2, status="revoked")])
    runner = CliRunner()
    out = runner.invoke(
        cli,
        [
            "--lake",
            local_lake.uri,
            "classify",
            "--month",
            "2026-06",
            "--province",
            "13",
            "--system",
            "langfang-public-credit",
            "--cutoff",
            "2026-07-05T00:00:00",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "province 13: published run" in out.output and "D 1 (50.0%)" in out.output
    out = runner.invoke(cli, ["--lake", local_lake.uri, "explain", "--uscc", code(2), "--month", "2026-06"])
    assert out.exit_code == 0, out.output
    assert "class D" in out.output and "D_LICENCE_REVOKED" in out.output
    out = runner.invoke(cli, ["--lake", local_lake.uri, "classify", "--month", "2026-06"])
    assert out.exit_code == 0 and "province 13: published run" in out.output


def test_cli_type_system_classifies_each_type_with_its_system(local_lake: Lake) -> None:
    from functions.cli import cli

    write_curated(local_lake, "entities", [entity(1), entity(2, entity_type="individual")])
    runner = CliRunner()
    base = ["--lake", local_lake.uri, "classify", "--month", "2026-06", "--province", "13"]
    out = runner.invoke(cli, [*base, "--type-system", "individual=langfang-public-credit"])
    assert out.exit_code == 0, out.output
    table = local_lake.read_parquet(layout.classification_key("2026-06", "13"), columns=["uscc", "model"])
    models = dict(zip(table.column("uscc").to_pylist(), table.column("model").to_pylist(), strict=True))
    assert models[code(1)].startswith("samr-general@") and models[code(2)].startswith(
        "langfang-public-credit@"
    )
    bad = runner.invoke(cli, [*base, "--type-system", "individual"])
    assert bad.exit_code != 0 and "TYPE=SYSTEM" in str(bad.exception or bad.output)


def test_cli_classify_with_follow_ups_does_what_the_schedule_does(local_lake: Lake) -> None:
    from functions.cli import cli

    write_curated(local_lake, "entities", [entity(1), entity(2, status="revoked")])
    runner = CliRunner()
    base = ["--lake", local_lake.uri, "classify", "--month", "2026-06", "--province", "13"]
    out = runner.invoke(cli, [*base, "--cutoff", "2026-07-05T00:00:00"])
    assert out.exit_code == 0, out.output
    assert "report" not in out.output and not local_lake.exists(layout.report_key("2026-06", "13"))
    out = runner.invoke(cli, [*base, "--cutoff", "2026-07-05T00:00:00", "--follow-ups"])
    assert out.exit_code == 0, out.output
    assert "province 13: published run" in out.output
    assert "warnings raised" in out.output and "inspection tasks; report" in out.output
    assert local_lake.exists(layout.report_key("2026-06", "13"))
    assert local_lake.list_files(layout.warnings_prefix("2026-06", "13"))


def test_cli_classify_all_reports_a_broken_province_and_exits_1(local_lake: Lake) -> None:
    """One province's unreadable curated file fails that province with a clear message; the
    others are published, and the exit status says something failed."""
    from functions.cli import cli

    write_curated(local_lake, "entities", [entity(1)])
    write_curated(local_lake, "entities", [entity(2)], province="14")
    local_lake.write_bytes(layout.curated_key("penalties", "14", "broken"), b"not parquet at all")
    out = CliRunner().invoke(
        cli, ["--lake", local_lake.uri, "classify", "--month", "2026-06", "--cutoff", "2026-07-05T00:00:00"]
    )
    assert out.exit_code == 1, out.output
    assert "province 13: published run" in out.output
    assert "province 14: failed:" in out.output and "Traceback" not in out.output
    assert local_lake.exists(layout.classification_key("2026-06", "13"))
    assert not local_lake.exists(layout.classification_key("2026-06", "14"))
