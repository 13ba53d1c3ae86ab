"""The fields' synthetic data follows the latent risk (docs/adr/0146): routine field inspections
find more at riskier entities, and licences lapse for risk, not for age."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from functions.analysis.backtest import PROBLEM_RESULTS
from functions.generate import events, fields
from functions.generate.arrowutil import days_of
from functions.generate.generate import make_window
from functions.generate.population import BLOCK, EntityBlock, entity_block
from functions.generate.regions import regions_for

END = "2026-10"
WINDOW = make_window(END, 24)


Blocks = list[tuple[EntityBlock, dict[str, pa.Table]]]


@pytest.fixture(scope="module")
def blocks() -> Blocks:
    regions = regions_for("42")
    out = []
    for b in range(8):
        eb = entity_block(b, BLOCK, 5, regions, WINDOW)
        out.append((eb, events.block_tables(eb, b, 5, regions, WINDOW)))
    return out


def _rr_of(eb: EntityBlock, uscc: list[str]) -> list[float]:
    pos = {u: i for i, u in enumerate(eb.uscc.to_pylist())}
    return [float(eb.rr[pos[u]]) for u in uscc]


def test_field_inspection_findings_rise_with_the_latent_risk(blocks: Blocks) -> None:
    rr: list[float] = []
    found: list[bool] = []
    for eb, tables in blocks:
        t = tables["inspections"]
        routine = t.filter(pa.array([i.startswith("JF") for i in t["inspection_id"].to_pylist()]))
        rr.extend(_rr_of(eb, routine["uscc"].to_pylist()))
        found.extend(r in PROBLEM_RESULTS for r in routine["result"].to_pylist())
    hits = np.array(found)[np.argsort(rr)]
    tenth = len(hits) // 10
    assert len(hits) > 2_000
    assert hits[-tenth:].mean() > 3 * hits[:tenth].mean()


def test_licences_are_renewed_and_lapse_with_the_risk(blocks: Blocks) -> None:
    lapsed_rr: list[float] = []
    kept_rr: list[float] = []
    end = WINDOW.end
    for eb, tables in blocks:
        lic = tables["licences"]
        last: dict[str, int] = {}
        for u, v in zip(lic["uscc"].to_pylist(), lic["valid_to"].to_pylist(), strict=True):
            last[u] = max(last.get(u, 0), days_of(v))
        active = {u for u, a in zip(eb.uscc.to_pylist(), eb.active_until, strict=True) if a >= end}
        holders = sorted(u for u in last if u in active)
        lapsed = [u for u in holders if last[u] < end]
        kept = [u for u in holders if last[u] >= end]
        lapsed_rr.extend(_rr_of(eb, lapsed))
        kept_rr.extend(_rr_of(eb, kept))
    # a term lasts 5 years and is renewed: most active holders hold a valid licence at the end
    assert 0.02 < len(lapsed_rr) / (len(lapsed_rr) + len(kept_rr)) < 0.25
    assert np.mean(lapsed_rr) > 1.5 * np.mean(kept_rr)
    assert fields.TERM == 5 * 365
