"""The warnings API contract (``GET /v1/warnings``), see docs/warnings.md."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.api import Month, Province

RULE_ID_PATTERN = r"^[a-z][a-z0-9_]{2,63}$"
MAX_PAGE = 5_000


class WarningsQuery(BaseModel):
    """Query string of ``GET /v1/warnings`` (values arrive as strings; numbers are coerced)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    month: Month
    province: Province
    rule: Annotated[str | None, Field(pattern=RULE_ID_PATTERN, description="a rule id")] = None
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 1_000
    offset: Annotated[int, Field(ge=0, le=100_000_000)] = 0


class WarningOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    warning_key: str = Field(description="sha256(rule id, uscc, fact): the dedup key")
    rule: str = Field(description="rule id@version")
    rule_id: str
    rule_name: str
    uscc: str
    month: str
    severity: Literal["low", "medium", "high", "critical"]
    fact: str = Field(description="what fired (record id, window, address key …)")
    event_on: str | None
    evidence: dict[str, Any] = Field(description="the values that fired the rule")
    detected_at: str
    trigger: Literal["monthly", "upload", "manual"]
    run_id: str
    dispatched: bool = Field(description="became an inspection task")


class WarningsOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    month: str
    province: str
    rule: str | None
    total: int
    offset: int
    limit: int
    next_offset: int | None
    warnings: list[WarningOut]
