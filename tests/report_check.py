"""Reading a rendered report back: every ``data-k`` number and its shown text (tests share this)."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from typing import Any

from functions.lake import Lake
from functions.report import after_classification
from functions.settings import Settings
from tests.sampling_data import publish, results_table
from tests.unit.test_warnings_rules import NOW, M, P, build


class Numbers(HTMLParser):
    """Collects ``{data-k: (data-v, shown text)}`` and the document title."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, tuple[str, str]] = {}
        self._open: list[tuple[str, str, list[str]]] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "title":
            self._in_title = True
        if a.get("data-k") is not None:
            self._open.append((tag, str(a["data-k"]), [str(a.get("data-v") or "")]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if self._open and self._open[-1][0] == tag:
            _, k, parts = self._open.pop()
            self.values[k] = (parts[0], "".join(parts[1:]).strip())

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._open:
            self._open[-1][2].append(data)


def numbers(html: str) -> Numbers:
    p = Numbers()
    p.feed(html)
    return p


def build_month(lake: Lake, settings: Settings) -> dict[str, Any]:
    """The warnings scenario plus 3,000 classified entities over two months, then the monthly step."""
    build(lake)
    publish(lake, results_table(P, 2800, seed=1, run_id="r09"), "2026-09", P)
    publish(lake, results_table(P, 3000, seed=1, run_id="r10"), M, P)
    return after_classification(lake, month=M, province=P, settings=settings, now=NOW)


def check_against_partitions(lake: Lake, values: dict[str, tuple[str, str]]) -> int:
    """Assert that every number shown equals the stored one; returns how many were checked."""
    from functions import layout
    from functions.warnings.store import load_tasks, load_warnings

    checked = 0

    def same(key: str, stored: Any) -> None:
        nonlocal checked
        assert key in values, f"{key} not in the report"
        raw = values[key][0]
        if stored is None:
            assert raw == "", key
        elif isinstance(stored, bool):
            assert raw == ("true" if stored else "false"), key
        elif isinstance(stored, float):
            assert float(raw) == stored, (key, raw, stored)
        else:
            assert raw == str(stored), (key, raw, stored)
        checked += 1

    cls = lake.read_parquet(layout.classification_key(M, P))["risk_class"].to_pylist()
    for c in "ABCD":
        same(f"class.{c}.entities", cls.count(c))
    same("entities", len(cls))
    for r in lake.read_parquet(layout.analysis_table_key("regions", M, P)).to_pylist():
        for f in ("entities", "a", "b", "c", "d", "cd_share", "cd_share_change", "z", "flagged"):
            same(f"region.{r['level']}.{r['code']}.{f}", r[f])
    for r in lake.read_parquet(layout.analysis_table_key("industries", M, P)).to_pylist():
        for f in ("entities", "cd_share", "ratio_to_province", "flagged"):
            same(f"industry.{r['section']}.{f}", r[f])
    for r in lake.read_parquet(layout.analysis_table_key("migration", M, P)).to_pylist():
        same(f"migration.{r['from_class']}.{r['to_class']}", r["entities"])
    w = [x for x in load_warnings(lake, M, P).to_pylist() if x["rule_id"] != "data_gap"]  # gaps: own list
    same("warnings.total", len(w))
    for rule in {x["rule_id"] for x in w}:
        same(f"warnings.rule.{rule}", sum(1 for x in w if x["rule_id"] == rule))
    same("tasks.total", load_tasks(lake, M, P).num_rows)
    eff = lake.read_json(layout.analysis_key(M, P, "effectiveness.json"))
    for key, v in (
        ("eff.inspections", eff["inspections"]),
        ("eff.problems", eff["problems"]),
        ("eff.lift_d_over_a", eff["figures"]["lift_d_over_a"]["value"]),
        ("eff.lift_d_over_a.n", eff["figures"]["lift_d_over_a"]["n"]),
        ("eff.auc", eff["figures"]["auc"]["value"]),
        ("eff.auc.n", eff["figures"]["auc"]["n"]),
        ("eff.days", eff["figures"]["replay"]["days_earlier"]["value"]),
        ("eff.unclassified.inspections", eff["figures"]["unclassified"]["inspections"]),
        ("eff.psi_bands.previous", eff["psi_cutoff_bands"]["psi_previous"]),
        ("eff.psi", eff["psi"]),
        ("replay.by_score", eff["replay"]["share_first_half_by_score"]),
    ):
        same(key, v)
    for c in "ABCD":
        same(f"eff.{c}.rate", eff["per_class"][c]["rate"])
    return checked


__all__ = ["NOW", "build_month", "check_against_partitions", "dt", "numbers"]
