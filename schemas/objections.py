"""Objections (异议处理) and manual adjustments (人工调整): requests, audit events and answers
(issue 14; docs/api.md, docs/adr/0112, docs/adr/0113).

Free text is limited to short reasons typed by the authority's staff; an objection received
through the API names only codes (the disputed reasons and records), never a person.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.api import Month, Province, RiskClass, Uscc, _Strict

OBJECTION_ID_PATTERN = r"^[1-9][0-9]-[0-9a-f]{16}$"
ADJUSTMENT_ID_PATTERN = r"^[1-9][0-9]-[0-9a-f]{16}$"
MAX_DISPUTED = 50
OBJECTIONS_PAGE = 200

Step = Literal[
    "received",
    "accepted",
    "checked",
    "decided",
    "queued",
    "correction_started",
    "correction_failed",
    "corrected",
]
Outcome = Literal["upheld", "rejected"]
Status = Literal["received", "accepted", "checked", "upheld", "rejected"]
# the correction run of an upheld objection (docs/adr/0144, 0155): pending (decided, nothing
# queued: run ``creditrisk objection reclassify``), queued, running (claimed within the lease),
# stalled (claimed longer ago than the lease: its runner was killed; the next delivery or
# ``objection reclassify`` takes it over), failed (retried, then in the dead-letter queue), done
# (``correction_run_id`` is set)
CorrectionStatus = Literal["pending", "queued", "running", "stalled", "failed", "done"]
ObjectionId = Annotated[str, Field(pattern=OBJECTION_ID_PATTERN, description="PP-16 hex digits")]
Reason = Annotated[str, Field(min_length=1, max_length=500)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]


class DisputedRecord(_Strict):
    """A curated record the entity disputes, by dataset and its key in that dataset."""

    dataset: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    record_id: Code


class ObjectionIn(_Strict):
    """``POST /v1/objections``: what the provincial system received."""

    model_config = ConfigDict(  # extra, strict and frozen come from _Strict
        json_schema_extra={
            "examples": [
                {
                    "uscc": "91420100MA4K0000XX",
                    "month": "2026-10",
                    "received_on": "2026-11-03",
                    "reasons": ["R_PENALTY_12M"],
                    "records": [{"dataset": "penalties", "record_id": "PEN-2026-0001"}],
                }
            ]
        },
    )
    uscc: Uscc
    month: Month
    received_on: Annotated[str, Field(pattern=r"^20[0-9]{2}-[01][0-9]-[0-3][0-9]$", description="YYYY-MM-DD")]
    reasons: Annotated[list[Code], Field(max_length=MAX_DISPUTED)] = Field(
        default_factory=list, description="codes of the disputed reasons or rules (from explain)"
    )
    records: Annotated[list[DisputedRecord], Field(max_length=MAX_DISPUTED)] = Field(
        default_factory=list, description="the disputed records"
    )

    @model_validator(mode="after")
    def _check(self) -> ObjectionIn:
        if not self.reasons and not self.records:
            raise ValueError("name at least one disputed reason or record")
        try:
            dt.date.fromisoformat(self.received_on)
        except ValueError:
            raise ValueError("received_on is not a calendar date") from None
        return self


class Correction(_Strict):
    """How an upheld objection's correction reached the data: a new upload (its ingest id) or a
    record kept here (dataset and record id, what was wrong)."""

    kind: Literal["upload", "record"]
    ingest_id: Annotated[str | None, Field(pattern=r"^[0-9a-f]{20}$")] = None
    dataset: Annotated[str | None, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")] = None
    record_id: Code | None = None
    note: Reason | None = None

    @model_validator(mode="after")
    def _check(self) -> Correction:
        if self.kind == "upload" and not self.ingest_id:
            raise ValueError("a correction by upload names its ingest_id")
        if self.kind == "record" and not (self.dataset and self.record_id and self.note):
            raise ValueError("a recorded correction names dataset, record_id and note")
        return self


class ObjectionStepIn(_Strict):
    """``POST /v1/objections/{objection_id}/steps``: the authority's next review step, in order
    accepted → checked → decided. A decision is ``upheld`` with its ``correction`` or
    ``rejected`` with a ``reason`` (the rules live in ``functions.objections.service.advance``,
    shared with the CLI)."""

    model_config = ConfigDict(  # extra, strict and frozen come from _Strict
        json_schema_extra={
            "examples": [
                {"step": "accepted"},
                {"step": "checked", "reason": "处罚记录已核对"},
                {"step": "decided", "outcome": "rejected", "reason": "records verified"},
                {
                    "step": "decided",
                    "outcome": "upheld",
                    "correction": {"kind": "upload", "ingest_id": "0123456789abcdef0123"},
                },
            ]
        },
    )
    step: Literal["accepted", "checked", "decided"]
    outcome: Outcome | None = Field(None, description="decided only: upheld or rejected")
    reason: Reason | None = Field(None, description="required when rejected; a note otherwise")
    correction: Correction | None = Field(None, description="required when upheld")


class Actor(_Strict):
    """Who did a step: a token (API), a named operator (CLI) or the correction worker (system)."""

    kind: Literal["token", "operator", "system"]
    id: Annotated[str, Field(min_length=1, max_length=100)]
    name: Annotated[str, Field(min_length=1, max_length=100)]


class ObjectionEvent(_Strict):
    """One appended step of the audit trail (never rewritten)."""

    seq: int = Field(ge=1)
    step: Step
    at: str = Field(description="ISO 8601, UTC")
    by: Actor
    outcome: Outcome | None = None
    reason: Reason | None = None
    correction: Correction | None = None
    run_id: str | None = Field(None, description="the correction run (step corrected)")
    message_id: str | None = Field(None, description="the queued message (step queued)")
    attempt: int | None = Field(None, ge=1, description="the delivery (correction_started/failed)")
    error: str | None = Field(None, max_length=200, description="why (step correction_failed)")
    data: dict[str, object] | None = Field(None, description="the registration (step received)")


class ObjectionOut(_Strict):
    """An objection's state, folded from its trail, with the trail itself."""

    objection_id: str
    province: Province
    uscc: str
    month: str
    received_on: str
    due_on: str = Field(description="the 5th working day after receipt (official Chinese calendar)")
    calendar_official: bool = Field(
        description="false: a year without an official calendar counted weekends only"
    )
    status: Status
    overdue: bool = Field(description="undecided after due_on, or decided after it")
    decided_on: str | None
    correction_run_id: str | None
    correction_status: CorrectionStatus | None = Field(
        None,
        description="an upheld objection's correction run (ADR 0144): running only while its claim "
        "is younger than the lease (CREDITRISK_CORRECTION_LEASE_SECONDS), stalled after it (ADR "
        "0155); null otherwise",
    )
    correction_claimed_at: str | None = Field(
        None, description="ISO 8601, UTC: when the running or stalled run was claimed; null otherwise"
    )
    trail: list[ObjectionEvent]


class ObjectionsPage(_Strict):
    """``GET /v1/objections``."""

    province: str
    overdue_only: bool
    as_of: str = Field(description="the day (China time) overdue is judged on")
    objections: list[ObjectionOut]


class ObjectionsQuery(BaseModel):
    """``GET /v1/objections?province=PP[&overdue=true][&month=YYYY-MM]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    province: Province
    month: Month | None = None
    overdue: Literal["true", "false"] = "false"


class ObjectionQuery(_Strict):
    objection_id: ObjectionId


class FollowUpMessage(_Strict):
    """The queued follow-up of a decision made through the API (docs/adr/0144): ids only, never
    personal data; the worker reads everything else from the objection's trail, so a duplicate
    delivery finds the work done."""

    v: Literal[1] = 1
    objection_id: ObjectionId


# -- manual class adjustment (人工调整, docs/adr/0113) ---------------------------------------------
class AdjustmentEvent(_Strict):
    seq: int = Field(ge=1)
    step: Literal["proposed", "approved", "refused"]
    at: str
    by: Actor
    reason: Reason | None = None
    data: dict[str, object] | None = None


class AdjustmentOut(_Strict):
    adjustment_id: str
    province: str
    uscc: str
    month: str
    model_class: RiskClass
    adjusted_class: RiskClass
    reason: str
    status: Literal["proposed", "approved", "refused"]
    proposed_by: Actor
    approved_by: Actor | None
    run_id: str = Field(description="the published run whose model class was adjusted")
    trail: list[AdjustmentEvent]


AdjustmentId = Annotated[str, Field(pattern=ADJUSTMENT_ID_PATTERN, description="PP-16 hex digits")]


class AdjustmentIn(_Strict):
    """``POST /v1/adjustments``: propose a class for an entity's published month (shown nowhere
    until a second principal approves it)."""

    model_config = ConfigDict(  # extra, strict and frozen come from _Strict
        json_schema_extra={
            "examples": [
                {"uscc": "91420100MA4K0000XX", "month": "2026-10", "to_class": "B", "reason": "核查后调整"}
            ]
        },
    )
    uscc: Uscc
    month: Month
    to_class: RiskClass
    reason: Reason


class AdjustmentDecision(_Strict):
    """``POST /v1/adjustments/{adjustment_id}/decision``: the second principal's approval or
    refusal (never the proposer's)."""

    model_config = ConfigDict(  # extra, strict and frozen come from _Strict
        json_schema_extra={"examples": [{"month": "2026-10", "decision": "approved"}]},
    )
    month: Month
    decision: Literal["approved", "refused"]
    reason: Reason | None = None


class AdjustmentQuery(_Strict):
    """``GET /v1/adjustments/{adjustment_id}?month=YYYY-MM`` (the trail lives under its month)."""

    adjustment_id: AdjustmentId
    month: Month


class AdjustmentsQuery(BaseModel):
    """``GET /v1/adjustments?province=PP&month=YYYY-MM``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    province: Province
    month: Month


class AdjustmentsPage(_Strict):
    """``GET /v1/adjustments``: every adjustment of a province's month, oldest proposal first."""

    province: str
    month: str
    adjustments: list[AdjustmentOut]
