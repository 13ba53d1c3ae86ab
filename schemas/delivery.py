"""The bulk read and the change feed of a month's classification (issue 14, docs/adr/0114)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.api import Month, Province, RiskClass
from schemas.fields import FIELD_NAMES, ClassifiedField

PAGE_DEFAULT = 1000
PAGE_MAX = 5000
MAX_CURSOR = 512


class ClassificationsQuery(BaseModel):
    """``GET /v1/classifications`` and ``GET /v1/classifications/changes`` (query strings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    month: Month
    province: Province
    cursor: Annotated[str | None, Field(min_length=1, max_length=MAX_CURSOR)] = None
    limit: Annotated[int, Field(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT


class BulkFieldClass(BaseModel):
    """An entity's class in one professional field, in a bulk-read row (docs/adr/0117, 0156)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    class_: RiskClass = Field(alias="class", description="the field model's class")
    sampling_class: RiskClass = Field(
        description="the class the field draw samples the entity in: the stricter of the row's `class`"
        " (the adjusted one where approved) and the field class (docs/adr/0145)"
    )


class ClassificationRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    uscc: str
    name: str
    # "class" is a Python keyword: the field is named class_ and serialised as "class"
    class_: RiskClass = Field(
        alias="class", description="the class to use: the adjusted one where a manual adjustment was approved"
    )
    model_class: RiskClass = Field(description="the model's class (always shown)")
    adjusted: bool = Field(description="a manual adjustment, approved by a second person, applies")
    previous_class: RiskClass | None = Field(description="the model's class published for the previous month")
    changed: bool = Field(
        description="model_class differs from previous_class, or the entity is new this month"
    )
    fields: dict[ClassifiedField, BulkFieldClass | None] = Field(
        description="one key per field published for the month (`field_runs`); null where the entity"
        " is outside that field's population"
    )


class ClassificationsPage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    month: str
    province: str
    run_id: str = Field(description="the published run read; a cursor is bound to it")
    feed: Literal["all", "changes"]
    total: int = Field(ge=0, description="rows in the month's partition (all feeds)")
    limit: int
    has_more: bool
    next_cursor: str | None = Field(
        description="opaque and signed; pass it back unchanged; null on the last page"
    )
    field_runs: dict[ClassifiedField, str] = Field(
        description="the published run of each professional field classified for the month and"
        " province; the rows' `fields` show these fields. A cursor is bound to them: a field published,"
        " re-published or withdrawn while paging makes the next page 409 (docs/adr/0161)"
    )
    rows: list[ClassificationRow]


# -- monthly export per province (名录库对接, docs/adr/0122) -------------------------------------
EXPORT_EVENT_SOURCE = "creditrisk.delivery"
EXPORT_EVENT_DETAIL_TYPE = "Monthly classification export ready"


def _field_layout(f: str) -> tuple[tuple[str, str, str], ...]:
    """A professional field's two export columns: the bulk read's ``fields`` (ADR 0156) flattened."""
    return (
        (
            f"{f}_class",
            "string",
            f"the {f} field model's class; null outside the field's population, and in every row when"
            " the field was not published for the month (not in the manifest's `field_runs`)",
        ),
        (
            f"{f}_sampling_class",
            "string",
            f"the class the {f} draw samples the entity in: the stricter of `class` (the adjusted one"
            f" where approved) and `{f}_class`; null where `{f}_class` is null",
        ),
    )


# the export's layout: (column, Parquet type, description); the CSV has the same header. Both
# engines write exactly these; docs/results-tables.md renders them. Every professional field has
# its columns, published or not, so a loader sees one layout (docs/adr/0160).
EXPORT_LAYOUT: tuple[tuple[str, str, str], ...] = (
    ("uscc", "string", "Unified Social Credit Code; rows in uscc order (inside each part on Athena)"),
    ("name", "string", "the entity's name"),
    ("class", "string", "the class to use: an approved manual adjustment's, else the model's"),
    ("model_class", "string", "the model's class (always shown)"),
    ("adjusted", "bool", "a manual adjustment, approved by a second person, applies"),
    ("adjustment_id", "string", "the approved adjustment, or null"),
    ("previous_class", "string", "the model's class published for the previous month; null for a new entity"),
    ("changed", "bool", "model_class differs from previous_class, or the entity is new this month"),
    *(column for f in FIELD_NAMES for column in _field_layout(f)),
)
EXPORT_COLUMNS = tuple(c for c, _, _ in EXPORT_LAYOUT)
EXPORT_BASE_COLUMNS = EXPORT_COLUMNS[:8]
EXPORT_FIELD_COLUMNS = EXPORT_COLUMNS[8:]


class ExportFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(description="object key in the lake bucket, under delivery/<PP>/month=<M>/")
    format: Literal["parquet", "csv.gz"]
    bytes: int = Field(ge=0)
    sha256: str


class ExportManifest(BaseModel):
    """``delivery/<PP>/month=<M>/manifest.json``, written after the files, and the detail of the
    announcing event (source ``creditrisk.delivery``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    month: str
    province: str
    run_id: str = Field(description="the published run exported")
    rows: int = Field(ge=0)
    changed: int = Field(ge=0, description="rows whose model class changed since last month, or new")
    adjusted: int = Field(ge=0, description="rows with an approved manual adjustment")
    columns: list[str] = Field(
        description="uscc, name, class (adjusted where approved), model_class, adjusted, adjustment_id, "
        "previous_class, changed, then <field>_class and <field>_sampling_class for every professional "
        "field (food, drug, special_equipment, industrial_product), published or not (docs/adr/0160)"
    )
    field_runs: dict[ClassifiedField, str] = Field(
        default_factory=dict,
        description="the published run of each field joined (as the bulk read's `field_runs`); a field"
        " not listed was not published for the month: its two columns are null in every row. Where a"
        " field is listed, null means the entity is outside that field's population",
    )
    files: list[ExportFile]
    written_at: str
