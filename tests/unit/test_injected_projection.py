"""The injected-projection rule (docs/adr/0150): every scan of ``backtest_classifications`` names
its ``job`` with a literal in the WHERE of the SELECT that scans it. Checked on every statement
the backtest and the comparison build for a scratch table (the Athena stand-in of
test_analysis_challenger_athena.py checks every statement a comparison submits), and shown to
fail on each form the Athena documentation leaves in doubt or forbids."""

from __future__ import annotations

import pytest

from functions.analysis import backtest as bt
from functions.analysis.challenger import SCRATCH_TABLE, changes_sql, scratch_table
from functions.classify.load import load_system
from functions.injected_projection import INJECTED, scans, violations

MONTHS = ["2026-08", "2026-09"]


def _statements(job: str) -> list[str]:
    t = scratch_table(job)
    system = load_system("samr-general@1.2")
    return [
        bt.class_counts_sql("42", MONTHS, t),
        bt.score_cells_sql("42", MONTHS, t),
        bt.date_counts_sql("42", MONTHS, t),
        bt.replay_pairs_sql("42", MONTHS, t),
        bt.band_counts_sql("42", MONTHS, system, t),
        bt.band_counts_sql("42", MONTHS, None, t),
        bt.models_sql("42", t),
        changes_sql("42", MONTHS, bt.PUBLISHED, t),
        changes_sql("42", MONTHS, t, scratch_table(job + "-b")),
    ]


def test_the_rule_knows_the_injected_tables_of_schemas_tables() -> None:
    assert INJECTED == {SCRATCH_TABLE: ("job",)}


def test_every_backtest_statement_on_a_scratch_table_names_its_job_at_the_scan() -> None:
    for sql in _statements("42-2026-08-2026-09-x-challenger"):
        assert scans(sql) >= 1, sql  # the check saw the scan
        assert violations(sql) == [], sql
        assert "job = '42-2026-08-2026-09-x-challenger'" in sql
    assert scans(_statements("j")[-1]) == 2  # both sides of a two-scratch comparison


def test_a_quote_in_a_job_stays_a_literal() -> None:
    sql = bt.models_sql("42", scratch_table("a'b"))
    assert violations(sql) == [] and "job = 'a''b'" in sql


def test_published_statements_have_no_injected_scan() -> None:
    assert (
        scans(bt.class_counts_sql("42", MONTHS)) == 0 and violations(bt.class_counts_sql("42", MONTHS)) == []
    )


T = SCRATCH_TABLE


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        (f"SELECT * FROM {T} WHERE province = '42'", "no job"),
        (f"SELECT * FROM {T} WHERE job = 'x' OR province = '42'", "no job"),
        (f"SELECT * FROM (SELECT * FROM {T}) t WHERE job = 'x'", "no job"),  # the caller's WHERE
        (f"WITH a AS (SELECT * FROM {T}) SELECT * FROM a WHERE job = 'x'", "no job"),  # after the CTE
        (f"SELECT * FROM {T} b JOIN classifications c ON b.uscc = c.uscc AND b.job = 'x'", "joins"),
        (f"SELECT * FROM classifications c JOIN {T} b ON b.uscc = c.uscc WHERE b.job = 'x'", "outside"),
        (f"SELECT * FROM {T} WHERE job = 'x' AND job LIKE 'y%'", "non-literal"),
        (f"SELECT * FROM {T} WHERE job = concat('x', 'y')", "no job"),
        (f"SELECT * FROM {T} WHERE job IN (SELECT j FROM t)", "no job"),
        (f"SELECT * FROM {T} WHERE job = uscc", "no job"),
    ],
)
def test_each_doubtful_form_is_a_violation(sql: str, why: str) -> None:
    found = violations(sql)
    assert found and any(why in v for v in found), found


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT * FROM {T} WHERE job = 'x'",
        f"SELECT * FROM creditrisk_prod.{T} b WHERE b.job IN ('x', 'y') AND month = '2026-09'",
        f"SELECT count(*) FROM {T} WHERE 'x' = job AND province = '42'",
    ],
)
def test_the_documented_forms_pass(sql: str) -> None:
    assert violations(sql) == []
