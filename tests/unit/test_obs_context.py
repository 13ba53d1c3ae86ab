"""Correlation ids on log records (issue 12 #6, docs/adr/0076): records emitted deep inside
functions/ carry the ingest_id / run_id / plan_id of the request that caused them."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from functions.classify.run import classify_all
from functions.ingest import ingest_bytes
from functions.lake import Lake
from functions.obs import context
from functions.obs.context import bind, configure_logging, current, log_context, scoped
from functions.settings import Settings
from tests.classify_data import entity, write_curated
from tests.ingest_data import penalty_rows, to_csv

NOW = dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC)


@pytest.fixture
def ids_on_records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    context.install([caplog.handler])  # the app puts it on Lambda's root handler
    caplog.set_level(logging.INFO, logger="functions")
    return caplog


def test_nested_contexts_add_and_end(ids_on_records: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("functions.test")
    with log_context(run_id="r1", province="42"):
        with log_context(plan_id="p1"):
            log.info("inner")
        log.info("outer")
    log.info("after")
    inner, outer, after = ids_on_records.records
    assert (inner.run_id, inner.province, inner.plan_id) == ("r1", "42", "p1")  # type: ignore[attr-defined]
    assert outer.run_id == "r1" and not hasattr(outer, "plan_id")  # type: ignore[attr-defined]
    assert not hasattr(after, "run_id")


def test_explicit_extra_wins_over_the_context(ids_on_records: pytest.LogCaptureFixture) -> None:
    with log_context(run_id="r1"):
        logging.getLogger("functions.test").info("x", extra={"run_id": "r2"})
    assert ids_on_records.records[0].run_id == "r2"  # type: ignore[attr-defined]


def test_only_known_id_keys_are_accepted() -> None:
    """Ids and codes only: a free-form key (a name, an id number) cannot reach the logs."""
    with pytest.raises(ValueError, match="unknown log context keys"), log_context(legal_rep="张三"):
        pass
    with pytest.raises(ValueError, match="unknown log context keys"):
        bind(id_number="x")


def test_scoped_function_drops_what_it_bound() -> None:
    @scoped
    def work() -> str:
        bind(ingest_id="i1")
        return current()["ingest_id"]

    with log_context(source_key="incoming/42/penalties/a.csv"):
        assert work() == "i1"
        assert dict(current()) == {"source_key": "incoming/42/penalties/a.csv"}
    assert dict(current()) == {}


def test_ingest_records_carry_the_ingest_id(ids_on_records: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    lake = Lake.from_uri(str(tmp_path / "lake"))
    settings = Settings(lake_uri=lake.uri)
    key = "incoming/42/penalties/2026-10.csv"
    rows = penalty_rows(20)
    for r in rows[:10]:
        r["domain"] = "nowhere"  # more than 5% bad: the file is rejected, and says so in the log
    data = to_csv(rows).encode("utf-8")
    first = ingest_bytes(lake, key, data, settings=settings, now=NOW)
    again = ingest_bytes(lake, key, data, settings=settings, now=NOW)
    assert first.status == "rejected_file" and again.status == "duplicate"
    deep = [r for r in ids_on_records.records if r.name == "functions.ingest.pipeline"]
    assert [r.getMessage().split(" ")[-1] for r in deep] == ["too_many_rejects", "do"]
    assert [r.ingest_id for r in deep] == [first.ingest_id, first.ingest_id]  # type: ignore[attr-defined]
    assert "ingest_id" not in current()  # the id ended with the ingest


def test_classify_records_carry_the_run_id(ids_on_records: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    lake = Lake.from_uri(str(tmp_path / "lake"))
    write_curated(lake, "entities", [entity(1), entity(2, status="revoked")])
    write_curated(lake, "penalties", [], province="42")  # data, but no entities
    summary = classify_all(lake, month="2026-06", settings=Settings(lake_uri=lake.uri), cutoff=NOW)
    run_id = summary["provinces"]["13"]["run_id"]
    done = [r for r in ids_on_records.records if r.getMessage().startswith("classified 13 2026-06")]
    assert len(done) == 1 and done[0].name == "functions.classify.run"
    assert (done[0].run_id, done[0].province, done[0].month) == (run_id, "13", "2026-06")  # type: ignore[attr-defined]
    no_data = [r for r in ids_on_records.records if r.getMessage().startswith("province 42")]
    assert len(no_data) == 1 and no_data[0].province == "42"  # type: ignore[attr-defined]
    assert not hasattr(no_data[0], "run_id")  # 13's run id did not leak into 42's lines
    assert summary["provinces"]["13"]["seconds"] >= 0


def test_functions_log_at_info_in_lambda_only() -> None:
    log = logging.getLogger("functions")
    before = log.level
    try:
        log.setLevel(logging.NOTSET)
        configure_logging({})
        assert log.level == logging.NOTSET  # locally unchanged
        configure_logging({"AWS_LAMBDA_FUNCTION_NAME": "creditrisk-dev-on_upload"})
        assert log.level == logging.INFO
        configure_logging({"AWS_LAMBDA_FUNCTION_NAME": "f", "CREDITRISK_LOG_LEVEL": "debug"})
        assert log.level == logging.DEBUG
    finally:
        log.setLevel(before)


def test_configure_logging_puts_the_filter_on_the_root_handlers() -> None:
    handler = logging.NullHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        configure_logging({})
        configure_logging({})  # once only
        assert handler.filters == [context._FILTER]
    finally:
        root.removeHandler(handler)


def test_sampling_records_carry_the_plan_id(
    ids_on_records: pytest.LogCaptureFixture, local_lake: Lake
) -> None:
    from functions.auth.tokens import Principal
    from functions.sampling import frame as frames
    from functions.sampling.service import make_plan
    from schemas.api import PlanRequest
    from tests.sampling_data import publish, results_table

    frames.clear_cache()
    publish(local_lake, results_table("42", 300, run_id="run-1"), "2026-10", "42")
    req = PlanRequest.model_validate({"month": "2026-10", "province": "42", "ratios": {"A": 0.1, "D": 0.5}})
    with log_context():  # what the REST wrapper opens per request
        made = make_plan(local_lake, req, Principal("0123456789ab", "platform", frozenset({"42"})))
    stored = [r for r in ids_on_records.records if r.name == "functions.sampling.service"]
    assert stored and {r.plan_id for r in stored} == {made.plan_id}  # type: ignore[attr-defined]
    assert "plan_id" not in current()
