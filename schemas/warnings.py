"""The warnings API contract (``GET /v1/warnings``), see docs/warnings.md."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.api import Month, Province
from schemas.arrow import arrow_schema

RULE_ID_PATTERN = r"^[a-z][a-z0-9_]{2,63}$"
MAX_PAGE = 5_000
WarningState = Literal["open", "resolved", "retracted"]
WARNING_STATES: tuple[str, ...] = ("open", "resolved", "retracted")
Severity = Literal["low", "medium", "high", "critical"]
DATA_GAP_RULE = "data_gap"  # the rule id of data-gap alerts (one per province/dataset/period)


# -- stored rows (results datasets; hive partition keys are in the path, never in the file) ----
class WarningRecord(BaseModel):
    """One row of ``results/warnings/month=M/province=P/part-<run>.parquet``.

    Append-only: a warning is raised as an ``open`` row; every later transition (resolved,
    retracted, reopened) is a new row with the same ``warning_key`` and a later ``state_at``.
    The warning's state is the one of its latest row (docs/adr/0103)."""

    model_config = ConfigDict(frozen=True)
    warning_key: str = Field(description="sha256(rule id, uscc, fact)")
    rule: str = Field(description="rule id@version (data_gap@1 for data-gap alerts)")
    rule_id: str
    rule_name: str
    uscc: str | None = Field(description="the entity; empty for a data-gap alert")
    severity: Severity
    fact: str = Field(description="what fired (record id, window, report year, missing input …)")
    event_on: dt.date | None
    evidence: str = Field(description="JSON object of the values that fired the rule")
    detected_at: dt.datetime = Field(description="when the warning was first raised")
    trigger: str = Field(description="what raised it: monthly, upload or manual")
    run_id: str = Field(description="the run that wrote this row")
    dispatched: bool = Field(description="became (part of) an inspection task")
    state: WarningState
    state_at: dt.datetime = Field(description="when this state was entered")
    state_by: str = Field(description="who: the run id, or the user of a manual run")
    state_trigger: str = Field(description="what: monthly, upload or manual")
    state_reason: str = Field(description="why the state was entered")


class TaskReason(BaseModel):
    model_config = ConfigDict(frozen=True)
    rule: str
    rule_name: str
    severity: Severity
    warning_key: str
    evidence: str = Field(description="JSON object")


class TaskRecord(BaseModel):
    """One row of ``results/tasks/month=M/province=P/``: one inspection task per entity and
    month; a later run that adds reasons appends a new row with the same ``task_id`` (the
    latest ``updated_at`` wins)."""

    model_config = ConfigDict(frozen=True)
    task_id: str = Field(description="T + sha256(province, month, uscc)[:24]")
    uscc: str
    severity: Severity = Field(description="the highest severity among the reasons")
    risk_class: str | None = Field(description="class in the classification the rules read")
    risk_score: float | None
    reasons: list[TaskReason] = Field(description="every warning, by severity then rule")
    created_at: dt.datetime
    updated_at: dt.datetime
    run_id: str
    status: str


class CoverageRecord(BaseModel):
    """One row of ``results/coverage/province=P/part-<ingest>.parquet``: what one accepted
    ingest delivered (annual reports: one row per report year). Coverage is the union."""

    model_config = ConfigDict(frozen=True)
    dataset: str
    ingest_id: str
    ingested_at: dt.datetime
    rows: int
    first_event_on: dt.date | None = Field(description="earliest event date of the rows")
    last_event_on: dt.date | None = Field(description="latest event date (up to which date)")
    report_year: int | None = Field(description="annual reports: the report year of these rows")


WARNING_RECORD_SCHEMA = arrow_schema(WarningRecord)
TASK_RECORD_SCHEMA = arrow_schema(TaskRecord)
COVERAGE_SCHEMA = arrow_schema(CoverageRecord)


class WarningsQuery(BaseModel):
    """Query string of ``GET /v1/warnings`` (values arrive as strings; numbers are coerced)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    month: Month
    province: Province
    rule: Annotated[str | None, Field(pattern=RULE_ID_PATTERN, description="a rule id")] = None
    state: Annotated[WarningState | None, Field(description="only warnings in this state")] = None
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 1_000
    offset: Annotated[int, Field(ge=0, le=100_000_000)] = 0


class WarningOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    warning_key: str = Field(description="sha256(rule id, uscc, fact): the dedup key")
    rule: str = Field(description="rule id@version")
    rule_id: str
    rule_name: str
    uscc: str | None = Field(description="null for a data-gap alert")
    month: str
    severity: Severity
    fact: str = Field(description="what fired (record id, window, address key …)")
    event_on: str | None
    evidence: dict[str, Any] = Field(description="the values that fired the rule")
    detected_at: str
    trigger: Literal["monthly", "upload", "manual"]
    run_id: str
    dispatched: bool = Field(description="became an inspection task")
    state: WarningState
    state_at: str
    state_by: str
    state_trigger: str
    state_reason: str


class WarningsOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    month: str
    province: str
    rule: str | None
    state: WarningState | None
    total: int
    offset: int
    limit: int
    next_offset: int | None
    warnings: list[WarningOut]
