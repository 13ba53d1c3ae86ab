"""samr-general's and the four field systems' cut-offs out of time (docs/adr/0146, 0154): on the
reference province, the classes of 2026-05 predict the inspections of June–November (a field:
its own inspections), with a class mix usable for class-dependent sampling; and the documents
show exactly these figures. One province for all five (``calibration_lake``, built once)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from functions import costs, layout
from functions.analysis import calibration as fc
from functions.analysis import suggest
from functions.analysis.backtest import PROBLEM_RESULTS
from functions.classify.load import load_system, shipped_versions
from functions.lake import Lake
from functions.settings import Settings
from schemas.fields import FIELDS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def published(calibration_lake: Lake) -> dict[str, fc.Figures]:
    """The figures of every system, by key (GENERAL and the field names)."""
    province = str(fc.REFERENCE["province"])
    return {s: fc.figures(calibration_lake, s, fc.REFERENCE_MONTH, province) for s in fc.SYSTEMS}


@pytest.fixture(params=fc.SYSTEMS)
def figures(request: pytest.FixtureRequest, published: dict[str, fc.Figures]) -> fc.Figures:
    return published[request.param]


@pytest.fixture
def general(published: dict[str, fc.Figures]) -> fc.Figures:
    return published[fc.GENERAL]


def test_the_month_is_classified_with_the_newest_version(figures: fc.Figures) -> None:
    newest = load_system(
        Settings().default_system if figures.system == fc.GENERAL else FIELDS[figures.system].system
    )
    assert figures.model == newest.model_ref
    if figures.system != fc.GENERAL:
        assert newest.version != fc.SOURCE_VERSION


def test_general_shares_are_plausible_and_predict_later_findings(general: fc.Figures) -> None:
    """samr-general counts every later inspection, whatever its domain."""
    share = {c.risk_class: c.share for c in general.classes}
    assert 0.8 * int(fc.REFERENCE["entities"]) < general.population <= int(fc.REFERENCE["entities"])
    assert 0.6 < share["A"] < 0.85 and 0.1 < share["B"] < 0.35, share
    assert 0.02 < share["C"] + share["D"] < 0.1, share
    assert general.inspections > 300
    a, b, c, d = general.classes
    assert a.rate is not None and b.rate is not None
    cd = (c.findings + d.findings) / (c.inspections + d.inspections)
    assert a.rate < b.rate < cd and cd > 2 * a.rate, general.classes
    assert general.auc is not None and general.auc > 0.6


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_field_class_mix_is_usable_for_sampling(published: dict[str, fc.Figures], field: str) -> None:
    fig = published[field]
    share = {c.risk_class: c.share for c in fig.classes}
    assert 0.6 < share["A"] < 0.9, share  # not everybody in A (1.0 put most of a field in B or A)
    assert share["B"] > 0.03 and share["C"] + share["D"] > 0.03 and share["D"] > 0.005, share


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_field_finding_rates_rise_with_the_class(published: dict[str, fc.Figures], field: str) -> None:
    figures = published[field]
    assert figures.inspections > 300
    assert all(c.inspections >= 10 for c in figures.classes), figures.classes
    rates = [c.findings / c.inspections for c in figures.classes]
    assert rates == sorted(rates) and len(set(rates)) == 4, rates  # A < B < C < D
    assert rates[3] > 2.5 * rates[0]
    assert figures.auc is not None and figures.auc > 0.6


def test_the_documents_show_these_figures(figures: fc.Figures) -> None:
    path: Path = fc.doc_path(figures.system_id)
    text = path.read_text(encoding="utf-8")
    assert fc.sync(text, figures) == text, "regenerate: python -m functions.analysis.calibration docs"
    assert "not yet calibrated" not in text


def test_the_tool_never_writes_over_a_version_and_says_so(tmp_path: Path) -> None:
    """Checked before any province is built: exit 2, the file named, the file untouched."""
    taken = tmp_path / "food@1.2.yaml"
    taken.write_text("kept", encoding="utf-8")

    def tool(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "functions.analysis.calibration", *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).parents[2])

    run = tool("suggest", str(tmp_path))
    assert run.returncode == 2 and "never written over" in run.stderr and str(taken) in run.stderr
    assert taken.read_text(encoding="utf-8") == "kept" and sorted(tmp_path.iterdir()) == [taken]
    assert tool().returncode == 2 and tool("nope").returncode == 2


def creditrisk(lake: Lake, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CREDITRISK_")}
    command = [sys.executable, "-m", "functions.cli", "--lake", lake.root, *args]
    run = subprocess.run(
        command, cwd=ROOT, env={**clean, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True
    )
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    return run


def test_evaluate_backtests_a_field_on_its_own_inspections(calibration_lake: Lake) -> None:
    """``creditrisk evaluate --system food``: the food classes of 2026-05 against June's food
    inspections only, counted independently here."""
    month = fc.REFERENCE_MONTH
    window = ("evaluate", "--from", month, "--to", month, "--replicates", "200")
    run = creditrisk(calibration_lake, *window, "--system", "food", "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert (result["field"], result["model"]) == ("food", load_system("food").model_ref)
    assert result["inspection_domains"] == list(FIELDS["food"].domains)
    classes = calibration_lake.path(layout.field_classification_key("food", month, "42"))
    inspections = calibration_lake.path(layout.curated_prefix("inspections", "42"))
    domains = ", ".join(f"'{d}'" for d in FIELDS["food"].domains)
    problems = ", ".join(f"'{r}'" for r in PROBLEM_RESULTS)
    rows = (
        duckdb.connect()
        .execute(
            f"""SELECT coalesce(c.risk_class, '-'), count(*), count(*) FILTER (WHERE i.result IN ({problems}))
        FROM read_parquet('{inspections}/*/*.parquet') i LEFT JOIN read_parquet('{classes}') c USING (uscc)
        WHERE strftime(i.inspected_on, '%Y-%m') = '2026-06' AND i.domain IN ({domains}) GROUP BY 1"""
        )
        .fetchall()
    )
    counted = {c: (n, k) for c, n, k in rows}
    assert result["inspections"] == sum(n for n, _ in counted.values()) > 100
    assert result["unclassified"]["inspections"] == counted.get("-", (0, 0))[0]
    for c in ("A", "B", "C", "D"):
        got = result["per_class"][c]
        assert (got["n"], got["problems"]) == counted.get(c, (0, 0)), c


def test_evaluate_suggests_a_new_field_version_never_in_place(calibration_lake: Lake, tmp_path: Path) -> None:
    month = fc.REFERENCE_MONTH
    out = tmp_path / "food-next.yaml"
    base = ("evaluate", "--from", month, "--to", month, "--system", "food", "--replicates", "200")
    run = creditrisk(calibration_lake, *base, "--target-mix", fc.TARGET_MIX, "--out", str(out))
    assert run.returncode == 0, run.stderr
    newest = load_system("food")
    new = load_system(str(out))
    assert (new.id, new.field, new.indicators) == (newest.id, newest.field, newest.indicators)
    assert new.version == suggest.next_version(
        "food", newest.version
    ) and new.version not in shipped_versions("food")
    scores = fc.score_counts(calibration_lake, "food", month, "42")
    assert new.classes.cutoffs == suggest.cutoffs_for_mix(scores, suggest.parse_mix(fc.TARGET_MIX))
    assert f"suggested {new.model_ref} (from {newest.model_ref})" in run.stdout
    written = out.read_text(encoding="utf-8")

    again = creditrisk(calibration_lake, *base, "--target-mix", fc.TARGET_MIX, "--out", str(out))
    assert again.returncode == 2 and "never written over" in again.stderr
    assert out.read_text(encoding="utf-8") == written
    challenger = creditrisk(calibration_lake, *base, "--challenger", "food@1.0")
    assert challenger.returncode == 2 and "--system FIELD" in challenger.stderr
    older = creditrisk(calibration_lake, "evaluate", "--from", month, "--to", month, "--system", "food@1.0")
    assert older.returncode == 2 and "--system food" in older.stderr
    none = creditrisk(
        calibration_lake, "evaluate", "--from", "2025-01", "--to", "2025-01", "--system", "food"
    )
    assert none.returncode == 1 and "field food" in none.stderr


def test_the_deploy_guide_shows_the_costs_of_this_province(calibration_lake: Lake) -> None:
    """docs/deploy.md "Costs to expect" is generated from the same province (docs/adr/0154)."""
    sizes = costs.measure(calibration_lake, "42", fc.REFERENCE_MONTH, int(fc.REFERENCE["entities"]))
    assert 50 < sizes.per_entity(sizes.curated_bytes) < 5_000 and sizes.records > 5 * sizes.entities
    assert 0 < sizes.results_bytes < sizes.curated_bytes
    text = costs.doc_path().read_text(encoding="utf-8")
    assert costs.sync(text, costs.cost_table(sizes, fc.REFERENCE)) == text, (
        "regenerate: python -m functions.costs docs"
    )
