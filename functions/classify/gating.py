"""Which indicators a run holds back because the province has not delivered their inputs.

An indicator over a dataset the province never delivered (or, for annual reports, without the
report year due by the month end) would score every entity as if it had no records: "no data"
read as "no problem" or, for the overdue reports, as "overdue". Such an indicator is **gated**:
the compiled statement gives it no value and no points (hard rules over it do not fire), and the
manifest lists it beside the missing input (docs/adr/0132). The requirements are derived from
each indicator's own ``definition.dataset``, so every system, shipped or added later, is gated
the same way; ``entities`` is never gated (without it there is nothing to classify).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from functions.classify.system import System
from functions.coverage.requires import Need, report_year_due
from functions.coverage.store import Coverage

ALWAYS_READ = "entities"


def dataset_need(dataset: str, period_end: dt.date) -> Need:
    """The input an indicator over ``dataset`` needs for the month ending ``period_end``."""
    if dataset == "annual_reports":
        return Need(dataset, report_year=report_year_due(period_end))
    return Need(dataset)


@dataclass(frozen=True)
class Gating:
    """Per system (``model_ref``), the indicator codes held back, and the missing inputs with
    who reads them (the manifest's ``inputs_incomplete``)."""

    gated: dict[str, frozenset[str]] = field(default_factory=dict)
    incomplete: list[dict[str, object]] = field(default_factory=list)

    def for_system(self, system: System) -> frozenset[str]:
        return self.gated.get(system.model_ref, frozenset())

    @property
    def indicators(self) -> list[str]:
        """``model@version:CODE`` of every gated indicator (sorted)."""
        return sorted(f"{ref}:{code}" for ref, codes in self.gated.items() for code in codes)


def gate(systems: list[System], coverage: Coverage, period_end: dt.date) -> Gating:
    """The indicators of ``systems`` whose input ``coverage`` does not hold for the month."""
    gated: dict[str, set[str]] = {}
    missing: dict[str, dict[str, object]] = {}
    readers: dict[str, set[str]] = {}
    for system in systems:
        for ind, _, _ in system.leaves():
            d = ind.definition
            if d is None or d.dataset == ALWAYS_READ:
                continue
            need = dataset_need(d.dataset, period_end)
            if need.met(coverage):
                continue
            gated.setdefault(system.model_ref, set()).add(ind.code)
            readers.setdefault(need.text, set()).add(f"{system.model_ref}:{ind.code}")
            missing[need.text] = {"requirement": need.text, "missing": need.missing(coverage)}
    incomplete: list[dict[str, object]] = [
        {**missing[text], "read_by": sorted(readers[text]), "gated": True} for text in sorted(missing)
    ]
    return Gating({ref: frozenset(codes) for ref, codes in gated.items()}, incomplete)


def held_back(manifest: dict[str, object] | None) -> dict[str, list[str]]:
    """Requirement text → the indicators a run's manifest says were gated for it (empty for
    runs before gating, whose ``inputs_incomplete`` only noted the gaps)."""
    items = (manifest or {}).get("inputs_incomplete")
    out: dict[str, list[str]] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("gated") is True and isinstance(item.get("requirement"), str):
            out[item["requirement"]] = sorted(str(x) for x in item.get("read_by") or [])
    return out
