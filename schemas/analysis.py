"""The tabular outputs of the month's analysis (docs/analysis.md): one results dataset per kind,
each with one schema, so each is a Glue table and a table of ``creditrisk query`` (ADR 0149).

Hive partition keys (``month``, ``province``) are in the path, never in the files (ADR 0105).
The analysis' JSON documents (summary, trends, effectiveness) stay under ``results/analysis/``:
they are what the report and the API read, not tables.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.arrow import arrow_schema

RegionLevel = Literal["province", "city", "county"]


class _GroupFigures(BaseModel):
    """The figures of one region or industry section (the flag test: docs/analysis.md)."""

    model_config = ConfigDict(frozen=True)
    entities: int = Field(description="entities classified this month")
    a: int = Field(description="class A entities")
    b: int = Field(description="class B entities")
    c: int = Field(description="class C entities")
    d: int = Field(description="class D entities")
    cd_share: float = Field(description="(C + D) / entities")
    prev_entities: int | None = Field(description="entities last month (empty: none)")
    prev_cd_share: float | None = Field(description="C+D share last month")
    cd_share_change: float | None = Field(description="cd_share - prev_cd_share")
    ratio_to_province: float | None = Field(description="cd_share / the province's C+D share")
    z: float | None = Field(description="one-sided binomial z statistic against the province")
    flagged: bool = Field(description="high-risk: material and significant after Benjamini-Hochberg")
    p_value: float | None = Field(description="one-sided p of z")
    q_value: float | None = Field(description="Benjamini-Hochberg q-value over the level's groups")


class RegionRecord(_GroupFigures):
    """One row of ``results/analysis_regions/month=M/province=P/regions.parquet``: a province,
    city or county (GB/T 2260 prefix of ``region_code``)."""

    level: RegionLevel
    code: str | None = Field(description="2, 4 or 6-digit GB/T 2260 code; empty: no region code")
    name: str = Field(description="GB/T 2260 name (schemas/gbt2260.json); empty when unknown")


class IndustryRecord(_GroupFigures):
    """One row of ``results/analysis_industries/month=M/province=P/industries.parquet``: a
    GB/T 4754 section (first character of ``industry_code``)."""

    section: str | None = Field(description="GB/T 4754 section letter; empty: no industry code")
    name: str = Field(description="GB/T 4754 section name; empty when unknown")


class MigrationRecord(BaseModel):
    """One cell of ``results/analysis_migration/month=M/province=P/migration.parquet``: the
    5 x 5 grid less (new, exited), every cell present (zeros included)."""

    model_config = ConfigDict(frozen=True)
    from_class: str = Field(description="last month's class, or new (not classified last month)")
    to_class: str = Field(description="this month's class, or exited (no longer classified)")
    entities: int


REGION_SCHEMA = arrow_schema(RegionRecord)
INDUSTRY_SCHEMA = arrow_schema(IndustryRecord)
MIGRATION_SCHEMA = arrow_schema(MigrationRecord)
# kind -> its row contract: dataset ``results/analysis_<kind>``, file ``<kind>.parquet``
ANALYSIS_KINDS: dict[str, type[BaseModel]] = {
    "regions": RegionRecord,
    "industries": IndustryRecord,
    "migration": MigrationRecord,
}
