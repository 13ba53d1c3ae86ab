"""An open data-gap alert's evidence grows by recorded transitions (docs/adr/0138): what a later
run found is added, never removed; a run that adds nothing records nothing."""

from __future__ import annotations

from functions.warnings.engine import grown_gap_evidence

OLD = {
    "dataset": "annual_reports",
    "requirement": "annual_reports@report_year>=2025",
    "missing": "annual_reports was never delivered",
    "rules": ["annual_report_overdue"],
    "indicators": [],
}


def test_the_indicators_a_classification_held_back_are_added() -> None:
    found = {**OLD, "rules": [], "indicators": ["samr-general@1.2:UNFILED_REPORTS"]}
    grown = grown_gap_evidence(OLD, found)
    assert grown is not None
    evidence, why = grown
    assert evidence == {**OLD, "indicators": ["samr-general@1.2:UNFILED_REPORTS"]}  # rules kept
    assert why == "evidence updated: indicators + samr-general@1.2:UNFILED_REPORTS"


def test_other_rules_and_indicators_accumulate_in_order() -> None:
    old = {**OLD, "indicators": ["samr-general@1.1:UNFILED_REPORTS"]}
    found = {
        **OLD,
        "rules": ["z_rule", "annual_report_overdue"],
        "indicators": ["samr-general@1.2:UNFILED_REPORTS"],
    }
    grown = grown_gap_evidence(old, found)
    assert grown is not None
    evidence, why = grown
    assert evidence["rules"] == ["annual_report_overdue", "z_rule"]
    assert evidence["indicators"] == ["samr-general@1.1:UNFILED_REPORTS", "samr-general@1.2:UNFILED_REPORTS"]
    assert why == "evidence updated: rules + z_rule; indicators + samr-general@1.2:UNFILED_REPORTS"


def test_a_narrower_run_or_the_same_findings_record_nothing() -> None:
    assert grown_gap_evidence(OLD, OLD) is None
    assert grown_gap_evidence(OLD, {**OLD, "rules": []}) is None  # a run of other rules
    legacy = {k: v for k, v in OLD.items() if k != "indicators"}  # written before ADR 0138
    assert grown_gap_evidence(legacy, {**OLD, "indicators": []}) is None


def test_a_narrowed_gap_says_what_is_missing_now() -> None:
    found = {**OLD, "missing": "report year 2025 not delivered"}
    grown = grown_gap_evidence(OLD, found)
    assert grown is not None and grown[0]["missing"] == "report year 2025 not delivered"
    assert grown[1] == "evidence updated: missing now: report year 2025 not delivered"
