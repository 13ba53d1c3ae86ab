"""Loading warning rule sets: shipped ones validate, bad ones fail with the line of the problem."""

from __future__ import annotations

import textwrap

import pytest

from functions.errors import ConfigError
from functions.warnings.compile import Period, compile_rule, to_duckdb
from functions.warnings.config import dispatches, load_rules, parse_rules

GOOD = textwrap.dedent(
    """\
    id: test-rules
    version: "2"
    rules:
      - id: big_fine
        name_zh: 大额罚款
        name_en: Big fine
        kind: new_record
        severity: medium
        params:
          dataset: penalties
          where: {kind: [fine]}
        requires: [penalties]
        rationale: a rationale long enough to pass the check
    """
)


def test_shipped_rules_compile_for_both_dialects() -> None:
    rs = load_rules()
    per = Period.of("2026-02")
    for rule in rs.rules:
        sql = compile_rule(rule, per)
        assert "SELECT" in sql and "uscc" in sql
        assert to_duckdb(sql)
    assert rs.rule("annual_report_overdue").dispatch_at == "never"
    assert rs.dispatch_at(rs.rule("cluster_address")) == "high"


def test_parse_good() -> None:
    rs = parse_rules(GOOD)
    assert rs.ref == "test-rules@2"
    assert rs.rules[0].ref == "big_fine@1"


@pytest.mark.parametrize(
    ("old", "new", "line", "needle"),
    [
        ("where: {kind: [fine]}", "where: {kind: [fined]}", 11, "not in"),
        ("where: {kind: [fine]}", "where: {colour: [red]}", 11, "no column"),
        ("dataset: penalties", "dataset: nowhere", 10, "dataset must be one of"),
        ("severity: medium", "severity: extreme", 8, "severity"),
        ("kind: new_record", "kind: magic", 7, "kind"),
        ("id: big_fine", "id: Big-Fine", 4, "id"),
    ],
)
def test_bad_rules_point_at_the_line(old: str, new: str, line: int, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_rules(GOOD.replace(old, new), source="x.yaml")
    msg = str(err.value)
    assert f"x.yaml:{line}:" in msg, msg
    assert needle in msg


def test_duplicate_ids_and_bad_yaml() -> None:
    dup = GOOD + GOOD[GOOD.index("  - id:") :]
    with pytest.raises(ConfigError, match="repeated: big_fine"):
        parse_rules(dup)
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_rules("id: [unclosed", source="y.yaml")


def test_unknown_rule_set() -> None:
    with pytest.raises(ConfigError, match="samr-warnings"):
        load_rules("nope")


def test_dispatch_thresholds() -> None:
    assert dispatches("high", "high") and dispatches("critical", "high")
    assert not dispatches("medium", "high") and not dispatches("critical", "never")


def test_every_shipped_rule_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "warnings.md").read_text(encoding="utf-8")
    for rule in load_rules().rules:
        assert f"| `{rule.id}` | {rule.name_zh} |" in doc, rule.id
