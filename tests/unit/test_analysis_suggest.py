"""Cut-off suggestions: the arithmetic and the new version file (never an edit in place)."""

from __future__ import annotations

import pytest

from functions.analysis import suggest
from functions.classify.load import load_system
from functions.errors import InvalidInput


def test_cut_offs_for_a_class_mix_pick_the_scores_with_the_closest_shares() -> None:
    # 100 entities: 60 at 0, 20 at 4, 10 at 9, 6 at 15, 4 at 30
    scores = [(0.0, 60), (4.0, 20), (9.0, 10), (15.0, 6), (30.0, 4)]
    cut = suggest.cutoffs_for_mix(scores, {"A": 0.6, "B": 0.2, "C": 0.16, "D": 0.04})
    assert cut == {"B": 4.0, "C": 9.0, "D": 30.0}
    assert suggest.projected_mix(scores, cut) == pytest.approx({"A": 0.6, "B": 0.2, "C": 0.16, "D": 0.04})
    with pytest.raises(InvalidInput, match="too coarse"):
        suggest.cutoffs_for_mix([(0.0, 50), (10.0, 50)], {"A": 0.25, "B": 0.25, "C": 0.25, "D": 0.25})


def test_parse_mix_refuses_incomplete_or_unbalanced_mixes() -> None:
    assert suggest.parse_mix("a=0.7, B=0.2,C=0.07,D=0.03")["A"] == 0.7
    for bad in ("A=0.7,B=0.2", "A=0.5,B=0.5,C=0.5,D=0", "A=x,B=0,C=0,D=1"):
        with pytest.raises(InvalidInput):
            suggest.parse_mix(bad)


def test_d_cut_off_for_a_target_finding_rate_is_the_lowest_that_reaches_it() -> None:
    cells = [(40.0, 20, 14), (30.0, 20, 8), (20.0, 40, 8), (3.0, 200, 10)]
    cut, rate = suggest.cutoff_for_d_rate(cells, 0.5, {"B": 5, "C": 12, "D": 25})
    # ≥ 40: 14/20 (n < 30); ≥ 30: 22/40 = 55 %; ≥ 20: 30/80 = 37.5 %
    assert cut == 30.0 and rate["n"] == 40 and rate["value"] == pytest.approx(0.55)
    with pytest.raises(InvalidInput, match="no D cut-off"):
        suggest.cutoff_for_d_rate(cells, 0.9, {"B": 5, "C": 12, "D": 25})


def test_the_new_version_keeps_everything_but_version_and_cut_offs() -> None:
    system = load_system("samr-general@1.2")
    text = suggest.source_text(system)
    assert suggest.next_version("samr-general", "1.1") == "1.3"  # 1.2 is taken
    out, new = suggest.new_version_text(
        text, system, {"B": 4.5, "C": 10, "D": 22}, version="1.3", note="test"
    )
    assert new.model_ref == "samr-general@1.3" and new.classes.cutoffs == {"B": 4.5, "C": 10, "D": 22}
    assert new.indicators == system.indicators and new.rules == system.rules
    assert out.startswith("# 1.3 (") and "cutoffs: {B: 4.5, C: 10, D: 22}" in out
    assert suggest.source_text(system) == text  # the source is untouched
    with pytest.raises(InvalidInput, match="not cut-offs"):
        lf = load_system("langfang-public-credit")
        suggest.new_version_text(suggest.source_text(lf), lf, {}, version="1.1", note="x")
