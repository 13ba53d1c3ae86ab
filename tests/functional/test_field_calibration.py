"""The four field systems' cut-offs out of time (docs/adr/0146): on the reference province, each
field's classes of 2026-05 predict the field's own inspections of June–November, with a class
mix usable for class-dependent sampling; and the documents show exactly these figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from functions.analysis import field_calibration as fc
from functions.classify.load import load_system
from functions.lake import Lake
from schemas.fields import FIELDS


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return fc.build_province(tmp_path_factory.mktemp("fieldcal"), fc.REFERENCE, fc.REFERENCE_MONTH)


@pytest.fixture(scope="module", params=sorted(FIELDS))
def figures(request: pytest.FixtureRequest, lake: Lake) -> fc.FieldFigures:
    return fc.field_figures(lake, request.param, fc.REFERENCE_MONTH, str(fc.REFERENCE["province"]))


def test_the_month_is_classified_with_the_calibrated_version(figures: fc.FieldFigures) -> None:
    newest = load_system(FIELDS[figures.field].system)
    assert figures.model == newest.model_ref and newest.version != fc.SOURCE_VERSION


def test_class_mix_is_usable_for_sampling(figures: fc.FieldFigures) -> None:
    share = {c.risk_class: c.share for c in figures.classes}
    assert 0.6 < share["A"] < 0.9, share  # not everybody in A (1.0 put most of a field in B or A)
    assert share["B"] > 0.03 and share["C"] + share["D"] > 0.03 and share["D"] > 0.005, share


def test_finding_rates_rise_with_the_class(figures: fc.FieldFigures) -> None:
    assert figures.inspections > 300
    assert all(c.inspections >= 10 for c in figures.classes), figures.classes
    rates = [c.findings / c.inspections for c in figures.classes]
    assert rates == sorted(rates) and len(set(rates)) == 4, rates  # A < B < C < D
    assert rates[3] > 2.5 * rates[0]
    assert figures.auc is not None and figures.auc > 0.6


def test_the_documents_show_these_figures(figures: fc.FieldFigures) -> None:
    path: Path = fc.doc_path(figures.field)
    text = path.read_text(encoding="utf-8")
    assert fc.sync(text, figures) == text, "regenerate: python -m functions.analysis.field_calibration docs"
    assert "not yet calibrated" not in text


def test_the_tool_never_writes_over_a_version_and_says_so(tmp_path: Path) -> None:
    """Checked before any province is built: exit 2, the file named, the file untouched."""
    taken = tmp_path / "food@1.2.yaml"
    taken.write_text("kept", encoding="utf-8")

    def tool(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "functions.analysis.field_calibration", *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).parents[2])

    run = tool("suggest", str(tmp_path))
    assert run.returncode == 2 and "never written over" in run.stderr and str(taken) in run.stderr
    assert taken.read_text(encoding="utf-8") == "kept" and sorted(tmp_path.iterdir()) == [taken]
    assert tool().returncode == 2 and tool("nope").returncode == 2
