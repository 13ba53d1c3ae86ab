"""The warnings (and inspection) SQL on Athena: the statements submitted, failures, and results
parsed and deduplicated exactly like the DuckDB path (docs/adr/0068). An injected runner plays
Athena (``tests/athena_fake.py``): moto's Athena executes nothing."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import sqlglot

from functions import layout
from functions.errors import EngineError
from functions.lake import Lake
from functions.settings import Settings
from functions.warnings import run_warnings
from functions.warnings.compile import SCOPE_TABLE, Period, compile_rule
from functions.warnings.config import load_rules
from functions.warnings.engine_athena import AthenaSource, athena_query
from functions.warnings.query import Scope, class_scope
from functions.warnings.store import load_tasks, load_warnings
from tests.athena_fake import DuckAthena
from tests.unit.test_warnings_rules import NOW, M, P, build
from tests.warnings_data import code


class Recorder:
    def __init__(self) -> None:
        self.batches: list[object] = []

    def notify(self, batch: object) -> None:
        self.batches.append(batch)


def _athena(settings: Settings) -> Settings:
    return settings.model_copy(update={"engine": "athena"})


def monthly(lake: Lake, settings: Settings, *, runner: Any = None, notifier: Any = None) -> Any:
    """The month's warnings run: on Athena through ``runner`` when given, else on DuckDB."""
    return run_warnings(
        lake,
        month=M,
        province=P,
        trigger="monthly",
        now=NOW,
        settings=_athena(settings) if runner is not None else settings,
        notifier=notifier or Recorder(),
        athena_runner=runner,
    )


def _rows(lake: Lake) -> list[tuple[str, str, str, str]]:
    t = load_warnings(lake, M, P)
    return sorted(
        zip(
            t["warning_key"].to_pylist(),
            t["rule"].to_pylist(),
            t["evidence"].to_pylist(),
            [str(d) for d in t["event_on"].to_pylist()],
            strict=True,
        )
    )


def test_athena_query_defines_only_what_the_rule_reads() -> None:
    rule = load_rules().rule("new_serious_dishonesty")
    scope = Scope(P, NOW, Period.of(M).end, class_scope("2026-10", "2026-09"))
    sql = compile_rule(rule, Period.of(M, "2026-10"))
    query = athena_query(sql, scope, inline_scope=False)
    assert query.startswith("WITH serious_dishonesty_list AS (SELECT ")
    assert "FROM curated_serious_dishonesty_list WHERE province = '42'" in query
    assert "TIMESTAMP '2026-11-02 00:00:00.000000 UTC'" in query  # the as-of cutoff
    assert "curated_entities" not in query and "classifications" not in query
    assert query.endswith(f"SELECT * FROM (\n{sql}\n) AS w")
    sqlglot.parse_one(query, read="trino")  # well-formed Trino

    jump = compile_rule(load_rules().rule("class_jump"), Period.of(M, "2026-10"))
    q2 = athena_query(jump, scope, inline_scope=False)
    assert "class_current AS (SELECT uscc, name, entity_type" in q2
    assert "FROM classifications WHERE month = '2026-10' AND province = '42'" in q2
    assert "FROM classifications WHERE month = '2026-09' AND province = '42'" in q2


def test_scope_is_inlined_or_refused() -> None:
    rule = load_rules().rule("new_serious_dishonesty")
    scope = Scope(P, NOW, Period.of(M).end, {}, (code(2), code(1), code(1)))
    sql = compile_rule(rule, Period.of(M), scoped=True)
    q = athena_query(sql, scope, inline_scope=True)
    assert f"{SCOPE_TABLE} AS (SELECT uscc FROM (VALUES ('{code(1)}'), ('{code(2)}')) AS s (uscc)" in q
    with pytest.raises(EngineError, match="not inlined"):
        athena_query(sql, scope, inline_scope=False)


def test_athena_run_submits_one_unload_per_rule_and_matches_duckdb(
    s3_lake: Lake, s3_settings: Settings, local_lake: Lake, local_settings: Settings
) -> None:
    build(s3_lake)
    build(local_lake)
    fake = DuckAthena(s3_lake)
    rec, rec2 = Recorder(), Recorder()
    res = monthly(s3_lake, s3_settings, runner=fake, notifier=rec)
    duck = monthly(local_lake, local_settings, notifier=rec2)
    rules = load_rules().rules
    # One UNLOAD per rule, and one more for the class and score of the tasked entities.
    assert len(fake.submitted) == len(fake.unloads) == len(rules) + 1
    scratch = s3_lake.display(layout.athena_unload_prefix(res.run_id))
    assert f") TO '{scratch}/task_classes/' WITH" in fake.submitted[-1]
    for rule, stmt in zip(rules, fake.submitted[:-1], strict=True):
        assert f") TO '{scratch}/warning_rule_{rule.id}_{rule.version}/' WITH (format = 'PARQUET')" in stmt
        assert stmt.startswith("UNLOAD (\nWITH ")
    # Same warnings, same evidence, same dedup counts as the DuckDB path.
    assert res.raised == duck.raised > 10
    assert (res.candidates, res.duplicates, res.by_rule) == (duck.candidates, duck.duplicates, duck.by_rule)
    assert _rows(s3_lake) == _rows(local_lake)
    assert load_tasks(s3_lake, M, P).num_rows == res.tasks > 0 and len(rec.batches) == 1
    # Scratch output is read back and removed.
    assert s3_lake.list_files(layout.athena_unload_prefix(res.run_id), include_hidden=True) == []

    again = monthly(s3_lake, s3_settings, runner=DuckAthena(s3_lake), notifier=rec)
    assert again.raised == 0 and again.duplicates == res.candidates and again.warnings_key is None


def test_upload_scope_on_athena_inline_and_filtered(s3_lake: Lake, s3_settings: Settings) -> None:
    build(s3_lake)
    fake = DuckAthena(s3_lake)
    up = run_warnings(
        s3_lake,
        month=M,
        province=P,
        trigger="upload",
        uscc_filter=[code(40), code(43)],
        now=NOW,
        settings=_athena(s3_settings),
        notifier=Recorder(),
        athena_runner=fake,
    )
    assert up.by_rule == {"new_abnormal_listing": 1, "new_serious_dishonesty": 1}
    rule_statements = [s for s in fake.submitted if "/task_classes/" not in s]
    assert rule_statements and all(f"'{code(40)}'" in s and SCOPE_TABLE in s for s in rule_statements)
    # A scope too large to inline is applied to the rows read back instead: same answer.
    scope = Scope(P, NOW, Period.of(M).end, class_scope(None, None), (code(40), code(43)))
    src = AthenaSource(
        s3_lake, scope, settings=_athena(s3_settings), job="wtest", runner=DuckAthena(s3_lake), inline_limit=1
    )
    assert not src.scopes_in_sql
    rows = src.query(compile_rule(load_rules().rule("new_serious_dishonesty"), Period.of(M)), label="r")
    assert code(40) in rows["uscc"].to_pylist()


@pytest.mark.parametrize("state", ["FAILED", "CANCELLED"])
def test_failed_query_is_a_clear_engine_error(s3_lake: Lake, s3_settings: Settings, state: str) -> None:
    build(s3_lake)
    fake = DuckAthena(s3_lake, fail_on={"complaints": state})
    with pytest.raises(EngineError) as err:
        monthly(s3_lake, s3_settings, runner=fake)
    msg = err.value.message
    assert (
        msg.startswith("warning rule complaint_surge@")
        and f"failed on Athena: Athena query q4 {state.lower()}" in msg
    )
    assert err.value.details["state"] == state
    assert load_warnings(s3_lake, M, P).num_rows == 0  # nothing half-written


def test_athena_needs_an_s3_lake(local_lake: Lake, local_settings: Settings) -> None:
    with pytest.raises(EngineError, match="needs an s3:// lake"):
        monthly(local_lake, local_settings, runner=DuckAthena(local_lake))


def test_inspections_on_athena_match_duckdb(s3_lake: Lake, s3_settings: Settings, local_lake: Lake) -> None:
    from functions.analysis.effectiveness import inspections_of

    build(s3_lake)
    build(local_lake)
    fake = DuckAthena(s3_lake)
    got = inspections_of(s3_lake, M, P, NOW, settings=_athena(s3_settings), athena_runner=fake)
    want = inspections_of(local_lake, M, P, NOW)
    assert got == want and len(got) >= 1
    assert len(fake.unloads) == 1 and "WITH inspections AS (SELECT" in fake.unloads[0]


def test_the_aws_path_imports_no_duckdb() -> None:
    """What the Lambda imports for the monthly and upload follow-ups must not need DuckDB."""
    code_ = (
        "import sys; sys.modules['duckdb'] = None\n"
        "import functions.monthly, functions.warnings.on_ingest, functions.report.monthly\n"
        "import functions.warnings.engine_athena, functions.analysis.regional\n"
    )
    proc = subprocess.run([sys.executable, "-c", code_], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_monthly_follow_up_on_athena_writes_warnings_analysis_and_report(
    s3_lake: Lake, s3_settings: Settings, local_lake: Lake, local_settings: Settings
) -> None:
    from functions.report.monthly import after_classification

    build(s3_lake)
    build(local_lake)
    fake = DuckAthena(s3_lake)
    out = after_classification(
        s3_lake,
        month=M,
        province=P,
        settings=_athena(s3_settings),
        now=NOW,
        notifier=Recorder(),
        athena_runner=fake,
    )
    duck = after_classification(
        local_lake, month=M, province=P, settings=local_settings, now=NOW, notifier=Recorder()
    )
    # the rules, the tasked entities' classes, the inspections, the models and cut-off bands of
    # the PSI (ADR 0106), the analysis aggregates (regions, sections, migration, provenance) and
    # the score histograms: every report figure ran on "Athena" (ADR 0109); then the county
    # pages: the counties of the month and their D-class entities (one county here); the
    # delivery export's summary, Parquet and CSV text (ADR 0152)
    assert len(fake.unloads) == len(load_rules().rules) + 4 + 5 + 2 + 3
    assert sum("format = 'TEXTFILE'" in u for u in fake.unloads) == 1
    assert out["delivery"]["rows"] == duck["delivery"]["rows"]
    assert (
        any("county=" in k for k in (out["county_pages"] or []))
        and out["county_pages"] == duck["county_pages"]
    )
    assert any("FULL OUTER JOIN" in u and "FROM classifications" in u for u in fake.unloads)
    assert s3_lake.exists(out["report_key"]) and out["report_key"] == layout.report_key(M, P)
    assert _rows(s3_lake) == _rows(local_lake)
    for name in ("summary.json", "effectiveness.json"):
        a = s3_lake.read_json(layout.analysis_key(M, P, name))
        b = local_lake.read_json(layout.analysis_key(M, P, name))
        a.pop("cutoff", None), b.pop("cutoff", None)
        assert a == b, name
    assert out["summary"] == duck["summary"]
