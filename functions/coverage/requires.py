"""Input requirements that rules declare (``requires:`` in their YAML), checked on coverage.

Grammar (docs/warnings.md, "Data completeness"):

- ``<dataset>``: the dataset was delivered at least once for the province;
- ``<dataset>@report_year>=<Y|R>[-k]``: annual reports of that report year or later were
  delivered; ``Y`` is the calendar year of the month evaluated, ``R`` the latest report year
  whose filing deadline (30 June of the next year, or the rule's own ``deadline``) has passed
  by the month end;
- ``<dataset>@through>=M[-k]``: the delivered records reach at least the first day of the month
  evaluated (minus ``k`` months).

A requirement resolves, for one month, into a concrete one (``annual_reports@report_year>=2025``,
``complaints@through>=2026-09-01``): that text is the data-gap alert's fact, so there is one alert
per province, dataset and period whatever the number of rules or entities it holds back.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from functions.coverage.store import Coverage
from schemas.datasets import DATASETS

_ABSTRACT = re.compile(
    r"^(?P<ds>[a-z_]+)(?:@(?:(?P<ry>report_year)>=(?P<rbase>[YR])(?:-(?P<rk>[0-9]))?"
    r"|(?P<th>through)>=M(?:-(?P<mk>[0-9]{1,2}))?))?$"
)
_CONCRETE = re.compile(
    r"^(?P<ds>[a-z_]+)(?:@(?:report_year>=(?P<year>[0-9]{4})|through>=(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})))?$"
)


def deadline_in(year: int, deadline: str) -> dt.date:
    mm, dd = int(deadline[:2]), int(deadline[3:])
    return dt.date(year, mm, min(dd, calendar.monthrange(year, mm)[1]))


def report_year_due(period_end: dt.date, deadline: str = "06-30") -> int:
    """The latest report year whose filing deadline (in the next year) is before ``period_end``
    (the year ``annual_report_overdue`` checks in that month)."""
    d = deadline_in(period_end.year, deadline)
    if period_end <= d:
        d = deadline_in(period_end.year - 1, deadline)
    return d.year - 1


def _months_back(first: dt.date, k: int) -> dt.date:
    n = first.year * 12 + first.month - 1 - k
    return dt.date(n // 12, n % 12 + 1, 1)


@dataclass(frozen=True)
class Need:
    """A concrete requirement: ``dataset`` delivered, optionally a report year or a date."""

    dataset: str
    report_year: int | None = None
    through: dt.date | None = None

    @property
    def text(self) -> str:
        if self.report_year is not None:
            return f"{self.dataset}@report_year>={self.report_year}"
        if self.through is not None:
            return f"{self.dataset}@through>={self.through.isoformat()}"
        return self.dataset

    def met(self, coverage: Coverage) -> bool:
        c = coverage.datasets.get(self.dataset)
        if c is None or c.rows == 0:
            return False
        if self.report_year is not None:
            return any(y >= self.report_year for y in c.report_years)
        if self.through is not None:
            return c.last_event_on is not None and c.last_event_on >= self.through
        return True

    def missing(self, coverage: Coverage) -> str:
        """What is missing, in words (the alert's message)."""
        c = coverage.datasets.get(self.dataset)
        if c is None or c.rows == 0:
            return f"{self.dataset} was never delivered"
        if self.report_year is not None:
            got = ", ".join(map(str, c.report_years)) or "none"
            return f"no {self.dataset} for report year {self.report_year} or later (delivered: {got})"
        last = c.last_event_on.isoformat() if c.last_event_on else "undated"
        return f"{self.dataset} delivered only up to {last}, needed through {self.through}"

    @classmethod
    def parse(cls, text: str) -> Need:
        """A concrete requirement back from its text (a stored data-gap alert's fact)."""
        m = _CONCRETE.match(text)
        if not m or m["ds"] not in DATASETS:
            raise ValueError(f"not a concrete requirement: {text!r}")
        return cls(
            m["ds"],
            int(m["year"]) if m["year"] else None,
            dt.date.fromisoformat(m["date"]) if m["date"] else None,
        )


@dataclass(frozen=True)
class Requirement:
    """A requirement as written in the YAML, resolved per month by ``need``."""

    text: str
    dataset: str
    report_year_base: str | None = None  # "Y" or "R"
    report_year_back: int = 0
    through_back: int | None = None

    @classmethod
    def parse(cls, text: str) -> Requirement:
        m = _ABSTRACT.match(text.strip())
        if not m:
            raise ValueError(
                f"requirement {text!r} is not <dataset>, <dataset>@report_year>=Y|R[-k] or "
                "<dataset>@through>=M[-k]"
            )
        if m["ds"] not in DATASETS:
            raise ValueError(f"requirement {text!r}: unknown dataset {m['ds']!r}")
        if m["ry"] and "year" not in DATASETS[m["ds"]].columns:
            raise ValueError(f"requirement {text!r}: {m['ds']} has no report year")
        return cls(
            text.strip(),
            m["ds"],
            m["rbase"],
            int(m["rk"] or 0),
            int(m["mk"] or 0) if m["th"] else None,
        )

    def need(self, period_start: dt.date, period_end: dt.date, *, deadline: str = "06-30") -> Need:
        if self.report_year_base is not None:
            base = period_end.year if self.report_year_base == "Y" else report_year_due(period_end, deadline)
            return Need(self.dataset, report_year=base - self.report_year_back)
        if self.through_back is not None:
            return Need(self.dataset, through=_months_back(period_start, self.through_back))
        return Need(self.dataset)


def inputs_incomplete(
    coverage: Coverage, readers: dict[str, list[str]], period_start: dt.date, period_end: dt.date
) -> list[dict[str, object]]:
    """The inputs a run reading ``readers`` (dataset → the indicator codes or rule ids reading
    it) needs for the month and the province has not delivered: every dataset at least once,
    annual reports for the report year due. One entry per missing input, with who reads it."""
    out: list[dict[str, object]] = []
    for dataset, who in sorted(readers.items()):
        needs = [Need(dataset)]
        if dataset == "annual_reports":
            needs = [Need(dataset, report_year=report_year_due(period_end))]
        for n in needs:
            if not n.met(coverage):
                out.append({"requirement": n.text, "missing": n.missing(coverage), "read_by": sorted(who)})
    return out
