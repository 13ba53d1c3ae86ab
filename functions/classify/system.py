"""The indicator-system format (docs/indicator-systems/, ADR 0030): versioned data, not code.

A system is a tree of indicators. Group indicators carry ``children``; leaf indicators carry a
``definition`` (an aggregate of a Trino expression over one curated dataset within a look-back
window) and a ``scoring`` (bins → points, or capped linear). Sibling weights sum to 1, so the
risk score (Σ leaf points × product of weights on its path) stays within 0–100. Hard rules
override the score; the class comes from fixed cut-offs, target shares, or rules only.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.results import DIMENSIONS, RISK_CLASSES

Dimension = Literal["basic", "dynamic", "regulatory", "relationship", "social"]
ClassName = Literal["A", "B", "C", "D"]
EntityType = Literal["enterprise", "individual", "cooperative"]
Aggregate = Literal["count", "sum", "max", "min", "count_distinct", "value"]
CODE_PATTERN = r"^[A-Z][A-Z0-9_]{1,39}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Definition(_Strict):
    """What an indicator measures: ``aggregate(expression)`` over rows of ``dataset`` that match
    ``where`` and whose ``date_column`` (default: the dataset's event date) lies in the window
    ``(period_end - window_months, period_end]``. ``value`` reads one column of ``entities``."""

    dataset: str
    aggregate: Aggregate = "count"
    expression: str | None = None
    where: str | None = None
    window_months: int | None = Field(None, ge=1, le=240)
    date_column: str | None = None


class Bin(_Strict):
    """Half-open ``[min, max)``; ``max`` omitted = no upper bound."""

    min: float
    max: float | None = None
    points: float = Field(ge=0, le=100)


class Linear(_Strict):
    """``points = min(cap, max(0, (value - offset) × slope))``."""

    slope: float
    offset: float = 0.0
    cap: float = Field(100.0, ge=0, le=100)


class Scoring(_Strict):
    bins: list[Bin] | None = None
    linear: Linear | None = None


class Indicator(_Strict):
    code: str = Field(pattern=CODE_PATTERN)
    label_zh: str = Field(min_length=1)
    label_en: str = Field(min_length=1)
    dimension: Dimension | None = None
    weight: float = Field(gt=0, le=1)
    why: str = ""
    definition: Definition | None = None
    scoring: Scoring | None = None
    children: list[Indicator] = Field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.label_zh} / {self.label_en}"


class Rule(_Strict):
    """A hard rule: when ``when`` (SQL over indicator values by code) holds, the class is
    ``set`` to ``risk_class`` (overrides everything) or raised to ``at_least`` it."""

    code: str = Field(pattern=CODE_PATTERN)
    label: str = Field(min_length=1)
    when: str = Field(min_length=1)
    risk_class: ClassName = Field(alias="class")
    mode: Literal["set", "at_least"] = "at_least"
    why: str = ""


class ClassMapping(_Strict):
    """``cutoffs``: score ≥ cutoffs[X] → at least X. ``shares``: target share per class by score
    rank (ties share a class). ``rules``: A unless a hard rule says otherwise."""

    method: Literal["cutoffs", "shares", "rules"]
    cutoffs: dict[ClassName, float] | None = None
    shares: dict[ClassName, float] | None = None


class FieldScope(_Strict):
    """A professional field's system (docs/adr/0118): it classifies only the field's
    population, the entities for which some ``population`` definition counts at least one row
    (a licence of the field, or a record of its domain), and publishes beside the general class."""

    name: str = Field(description="the field (schemas/fields.yaml)")
    population: list[Definition] = Field(min_length=1)


class System(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,62}$")
    version: str = Field(pattern=r"^[0-9]+(\.[0-9]+)*$")
    title_zh: str
    title_en: str
    description: str = ""
    entity_types: list[EntityType] = Field(min_length=1)
    indicators: list[Indicator] = Field(min_length=1)
    rules: list[Rule] = Field(default_factory=list)
    classes: ClassMapping
    field: FieldScope | None = None

    @property
    def model_ref(self) -> str:
        return f"{self.id}@{self.version}"

    def content_hash(self) -> str:
        """sha256 of the canonical JSON form: two files that mean the same hash the same."""
        data = self.model_dump(mode="json", by_alias=True)
        if data.get("field") is None:  # general systems hash as before the field block existed
            data.pop("field", None)
        canonical = json.dumps(data, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def leaves(self) -> list[tuple[Indicator, float, str]]:
        """Every leaf with its effective weight (product along the path) and its dimension."""
        out: list[tuple[Indicator, float, str]] = []

        def walk(ind: Indicator, weight: float, dim: str | None) -> None:
            d = ind.dimension or dim
            w = weight * ind.weight
            if ind.children:
                for child in ind.children:
                    walk(child, w, d)
            else:
                out.append((ind, w, str(d)))

        for top in self.indicators:
            walk(top, 1.0, None)
        return out

    def all_indicators(self) -> list[tuple[Indicator, int]]:
        """Every indicator with its level (1 = top)."""
        out: list[tuple[Indicator, int]] = []

        def walk(ind: Indicator, level: int) -> None:
            out.append((ind, level))
            for child in ind.children:
                walk(child, level + 1)

        for top in self.indicators:
            walk(top, 1)
        return out


CLASS_INDEX = {c: i for i, c in enumerate(RISK_CLASSES)}
assert tuple(DIMENSIONS) == ("basic", "dynamic", "regulatory", "relationship", "social")
