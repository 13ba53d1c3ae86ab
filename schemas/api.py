"""REST API contracts (openapi/openapi.yaml is checked against these models by a test)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from schemas.datasets import InspectorField
from schemas.results import DimensionScores, Reason

MONTH_PATTERN = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$"
PROVINCE_PATTERN = r"^[1-9][0-9]$"
USCC_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"
PLAN_ID_PATTERN = r"^[1-9][0-9]-[0-9a-f]{20}$"
MAX_EXCLUDE = 100_000
MAX_BODY_BYTES = 6 * 2**20  # AWS Lambda's synchronous request limit
TARGETS_PAGE = 10_000  # largest (and default) page of GET /v1/sampling/plans/{plan_id}/targets

Month = Annotated[str, Field(pattern=MONTH_PATTERN, description="YYYY-MM", examples=["2026-10"])]
Province = Annotated[str, Field(pattern=PROVINCE_PATTERN, description="GB/T 2260 province code")]
Uscc = Annotated[str, Field(pattern=USCC_PATTERN, description="unified social credit code")]
Ratio = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
RiskClass = Literal["A", "B", "C", "D"]
Section = Literal[
    "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T"
]
EntityType = Literal["enterprise", "individual", "cooperative"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class InspectorsIn(_Strict):
    """How the plan is staffed; the inspectors themselves come from the province's roster (the
    ``inspectors`` upload dataset), never from the request (docs/adr/0097)."""

    field: InspectorField = Field("general", description="the field inspectors must be qualified for")
    per_target: Annotated[int | None, Field(ge=2, le=10)] = Field(
        None, description="inspectors per target; default and least allowed: the configured minimum (≥ 2)"
    )


class PlanRequest(_Strict):
    """``POST /v1/sampling/plans``."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "month": "2026-10",
                    "province": "42",
                    "ratios": {"A": 0.01, "B": 0.03, "C": 0.1, "D": 0.3},
                    "inspectors": {"field": "food", "per_target": 2},
                }
            ]
        },
    )

    month: Month
    province: Province
    region_prefix: Annotated[str | None, Field(pattern=r"^[0-9]{2,6}$")] = Field(
        None, description="city or county code prefix (starts with the province)"
    )
    industries: Annotated[list[Section], Field(max_length=20)] = Field(
        default_factory=list, description="GB/T 4754 section letters"
    )
    entity_types: Annotated[list[EntityType], Field(max_length=3)] = Field(default_factory=list)
    ratios: Annotated[dict[RiskClass, Ratio], Field(min_length=1)] = Field(
        description="sampling ratio per class in [0, 1]; a class left out is not sampled"
    )
    exclude: Annotated[list[Uscc], Field(max_length=MAX_EXCLUDE)] = Field(
        default_factory=list, description="codes to leave out (e.g. a sandbox list)"
    )
    seed: Annotated[str | None, Field(min_length=1, max_length=128)] = Field(
        None, description="generated (and returned) when absent"
    )
    inspectors: InspectorsIn = Field(default_factory=InspectorsIn)

    @field_validator("region_prefix")
    @classmethod
    def _region_in_province(cls, v: str | None, info: ValidationInfo) -> str | None:
        province = info.data.get("province")
        if v is not None and province is not None and not v.startswith(province):
            raise ValueError("must start with the province code")
        return v


class Stratum(_Strict):
    risk_class: RiskClass
    population: int = Field(ge=0)
    ratio: float | None = Field(description="null when the class was not requested")
    sampled: int = Field(ge=0)


class RosterUsed(_Strict):
    """Which roster staffed the plan (enough for ``plan verify`` to replay it; no conflicts)."""

    as_of: str = Field(description="the roster as ingested up to this moment (the draw's time)")
    digest: str = Field(description="SHA-256 over the resolved roster")
    field: InspectorField
    per_target: int = Field(ge=2)
    min_pool: int = Field(ge=2, description="a smaller county pool widens to its city, then the province")
    qualified: int = Field(ge=0, description="inspectors active on the draw day and qualified for the field")
    levels: dict[str, int] = Field(description="target regions staffed from county, city and province pools")


class Target(_Strict):
    uscc: str
    name: str
    risk_class: RiskClass
    region_code: str
    industry_code: str
    inspectors: list[str]


class Caller(_Strict):
    token_id: str
    name: str


class Plan(_Strict):
    """A stored plan: the 201 answer and ``GET /v1/sampling/plans/{plan_id}``."""

    plan_id: str
    created_at: str
    caller: Caller
    month: str
    province: str
    seed: str
    seed_generated: bool
    run_id: str
    model: str
    model_hash: str | None
    frame_digest: str = Field(description="SHA-256 over the scoped frame (uscc, class), see docs/api.md")
    frame_size: int
    algorithm: str
    strata: list[Stratum]
    roster: RosterUsed
    targets: list[Target]
    targets_next: str | None = Field(
        None,
        description=(
            "only in answers too large for one response: `targets` then holds the first page and this "
            "links to the rest (`GET /v1/sampling/plans/{plan_id}/targets`); null on the last page. "
            "The stored plan is complete and has no such member"
        ),
    )
    inspector_loads: dict[str, int] | None
    request: PlanRequest


class TargetsQuery(BaseModel):
    """``GET /v1/sampling/plans/{plan_id}/targets`` (query values arrive as strings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    plan_id: Annotated[str, Field(pattern=PLAN_ID_PATTERN)]
    offset: Annotated[int, Field(ge=0, le=100_000_000)] = 0
    limit: Annotated[int, Field(ge=1, le=TARGETS_PAGE)] = TARGETS_PAGE


class TargetsPage(_Strict):
    """One page of a plan's targets, in plan order."""

    plan_id: str
    total: int = Field(ge=0, description="number of targets in the plan")
    offset: int = Field(ge=0)
    limit: int = Field(ge=1)
    next_offset: int | None = Field(description="offset of the next page; null on the last page")
    targets_next: str | None = Field(description="link to the next page; null on the last page")
    targets: list[Target] = Field(
        description="at most `limit` targets, fewer when more would not fit one response"
    )


class ClassificationOut(_Strict):
    """``GET /v1/classifications/{uscc}?month=YYYY-MM``."""

    uscc: str
    month: str
    name: str
    entity_type: str
    region_code: str
    industry_code: str
    risk_class: RiskClass
    risk_score: float
    previous_class: RiskClass | None
    dimension_scores: DimensionScores
    reasons: list[Reason]
    rules: list[str]
    model: str
    run_id: str


class ClassificationQuery(_Strict):
    uscc: Uscc
    month: Month


class ErrorOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error: str
    message: str
    field: str | None = None
    details: dict[str, object] | None = None
