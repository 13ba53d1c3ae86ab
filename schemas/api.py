"""REST API contracts (openapi/openapi.yaml is checked against these models by a test)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from schemas.datasets import InspectorField
from schemas.fields import ClassifiedField
from schemas.results import DimensionScores, Reason

MONTH_PATTERN = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$"
PROVINCE_PATTERN = r"^[1-9][0-9]$"
USCC_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"
PLAN_ID_PATTERN = r"^[1-9][0-9]-[0-9a-f]{20}$"
MAX_EXCLUDE = 100_000
MAX_BODY_BYTES = 6 * 2**20  # AWS Lambda's synchronous request limit
TARGETS_PAGE = 10_000  # largest (and default) page of GET /v1/sampling/plans/{plan_id}/targets
TASK_ID_PATTERN = r"^[1-9][0-9]-t[0-9a-f]{20}$"
_REASONS: dict[str, dict[str, str]] = yaml.safe_load(
    Path(__file__).with_name("sampling_reasons.yaml").read_text(encoding="utf-8")
)
EXCLUSION_REASONS: dict[str, str] = _REASONS["exclusion_reasons"]  # docs/adr/0094
REDRAW_REASONS: dict[str, str] = _REASONS["redraw_reasons"]
SUPERVISION: dict[str, Any] = yaml.safe_load(
    Path(__file__).with_name("supervision.yaml").read_text(encoding="utf-8")
)  # tolerance lists and re-inspection limits (docs/adr/0123, 0124)
LIST_EXIT_REASONS: dict[str, str] = SUPERVISION["exit_reasons"]
_EXIT_ENUM: list[Any] = list(LIST_EXIT_REASONS)

Month = Annotated[str, Field(pattern=MONTH_PATTERN, description="YYYY-MM", examples=["2026-10"])]
Province = Annotated[str, Field(pattern=PROVINCE_PATTERN, description="GB/T 2260 province code")]


def _in_province(v: str | None, info: ValidationInfo) -> str | None:
    """A request's ``region_prefix`` starts with its ``province`` (declared before it)."""
    province = info.data.get("province")
    if v is not None and province is not None and not v.startswith(province):
        raise ValueError("must start with the province code")
    return v


# the scope's region of a plan or task request (the JSON Schema states the rule: region_rule)
RegionPrefix = Annotated[str | None, Field(pattern=r"^[0-9]{2,6}$"), AfterValidator(_in_province)]
Uscc = Annotated[str, Field(pattern=USCC_PATTERN, description="unified social credit code")]
Ratio = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
RiskClass = Literal["A", "B", "C", "D"]
Section = Literal[
    "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T"
]
EntityType = Literal["enterprise", "individual", "cooperative"]


class _Strict(BaseModel):
    """The base of every request and answer model of the API contracts (here and
    ``schemas.objections``): unknown keys refused, no coercion, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


FRAME_FIELD = (
    "a professional field with its own classification: draw within the field's population by its "
    "sampling class, the stricter of the general and the field class (docs/results-contract.md); "
    "absent: every entity by its general class"
)


class InspectorsIn(_Strict):
    """How the plan is staffed; the inspectors themselves come from the province's roster (the
    ``inspectors`` upload dataset), never from the request (docs/adr/0097)."""

    field: InspectorField = Field("general", description="the field inspectors must be qualified for")
    per_target: Annotated[int | None, Field(ge=2, le=10)] = Field(
        None, description="inspectors per target; default and least allowed: the configured minimum (≥ 2)"
    )


class SupervisionIn(_Strict):
    """Tolerance lists (包容审慎) and re-inspection limits of a draw (docs/adr/0123, 0124); the
    lists and past inspections come from the uploaded ``supervision_lists`` and ``inspections``."""

    lists: bool = Field(
        True,
        description="draw whitelist entities as a stratum of their own and sandbox entities at ratio 0 "
        "(an entity that turned C/D, or a sandbox entity with an overdue annual report, leaves its list)",
    )
    whitelist_ratio: Ratio = Field(
        SUPERVISION["lists"]["whitelist"]["default_ratio"],
        description="sampling ratio of the whitelist stratum (default 0.01: Heilongjiang's 3 % → 1 %)",
    )
    reinspection: bool = Field(
        True, description="leave out entities already inspected in the task month's calendar year"
    )
    reinspect_classes: Annotated[list[RiskClass], Field(max_length=4)] = Field(
        default_factory=lambda: list(SUPERVISION["reinspection"]["default_classes"]),
        description="classes drawn again although inspected this year (default D)",
    )
    reinspect_warning_severity: Literal["low", "medium", "high", "critical", "never"] = Field(
        SUPERVISION["reinspection"]["default_warning_severity"],
        description="an open warning of this severity or higher allows a second inspection (default high)",
    )


def region_rule() -> dict[str, Any]:
    """``region_prefix`` starts with ``province``, stated in the JSON Schema so that a schema-valid
    request never fails that check (docs/adr/0096), as the mismatch it rules out: a
    ``region_prefix`` whose first or second digit differs from the province's (9 + 10 branches).
    Not one ``anyOf`` branch per province: the fuzzer covers every branch of an ``anyOf`` in
    full, which made 90 copies of each request variant (docs/adr/0137); ``if``/``then`` it
    cannot generate from."""

    def mismatch(position: str, digit: int) -> dict[str, Any]:
        return {
            "required": ["region_prefix"],
            "properties": {
                "province": {"pattern": f"^{position}{digit}"},
                "region_prefix": {"type": "string", "not": {"pattern": f"^{position}{digit}"}},
            },
        }

    return {"not": {"anyOf": [mismatch("", d) for d in range(1, 10)] + [mismatch(".", d) for d in range(10)]}}


class PlanRequest(_Strict):
    """``POST /v1/sampling/plans``: a test draw (``mode: "test"``); official plans come from tasks."""

    model_config = ConfigDict(  # extra, strict and frozen come from _Strict
        json_schema_extra={
            **region_rule(),
            "examples": [
                {
                    "month": "2026-10",
                    "province": "42",
                    "region_prefix": "4201",
                    "mode": "test",
                    "ratios": {"A": 0.01, "B": 0.03, "C": 0.1, "D": 0.3},
                    "inspectors": {"field": "food", "per_target": 2},
                }
            ],
        },
    )

    month: Month
    province: Province
    region_prefix: RegionPrefix = Field(
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
    supervision: SupervisionIn | None = Field(
        None,
        description="tolerance lists and re-inspection limits (docs/adr/0123, 0124); tasks apply them "
        "by default, a test draw only when asked (they are computed on the query engine)",
    )
    frame_field: ClassifiedField | None = Field(None, description=FRAME_FIELD)
    mode: Literal["test", "official"] = Field(
        "official",
        description=(
            "`test`: a test draw, never official (the caller may pick the seed; 403 where the deployment "
            "is production). `official` is refused here with 422: official plans are drawn from a "
            "registered task (`POST /v1/sampling/tasks/{task_id}/plans`, docs/adr/0093)"
        ),
    )


class LegacyInspectorIn(_Strict):
    id: str
    region_code: str
    conflicts: list[str] = Field(default_factory=list)


class LegacyInspectorsIn(_Strict):
    pool: list[LegacyInspectorIn]
    per_target: int = 2


class PlanRequestV1(_Strict):
    """The request echo of a stored plan of format 1 (before the roster, docs/adr/0125): the
    inspectors came in the request. Read by ``plan verify`` only; no route accepts it."""

    month: str
    province: str
    region_prefix: str | None = None
    industries: list[str] = Field(default_factory=list)
    entity_types: list[str] = Field(default_factory=list)
    ratios: dict[str, float]
    exclude: list[str] = Field(default_factory=list)
    seed: str | None = None
    inspectors: LegacyInspectorsIn | None = None
    mode: Literal["test", "official"] | None = None


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


class ListStratum(_Strict):
    list: Literal["whitelist", "sandbox"]
    population: int = Field(ge=0, description="entities on the list in the scope, after exits")
    ratio: float
    sampled: int = Field(ge=0)


class ListExit(_Strict):
    uscc: str
    list: Literal["whitelist", "sandbox"]
    reason: str = Field(json_schema_extra={"enum": _EXIT_ENUM})


class SupervisionUsed(_Strict):
    """What the tolerance lists and re-inspection limits did to the draw (docs/adr/0123, 0124)."""

    digest: str = Field(description="SHA-256 of the stored supervision set the draw used")
    as_of: str = Field(description="lists and inspections as ingested up to this moment")
    day: str = Field(description="the day lists, tolerance periods and the inspection year are judged on")
    strata: list[ListStratum]
    exits: list[ListExit] = Field(description="entities that left their list, back in their class stratum")
    reinspection: dict[str, int] = Field(
        description="`excluded` (inspected this year, reason inspected_recently), `by_class` and "
        "`by_warning` (inspected this year, drawable again)"
    )


class AdjustmentsUsed(_Strict):
    """The approved manual adjustments a draw applied (docs/adr/0142)."""

    digest: str = Field(description="SHA-256 of the stored snapshot of the month's approved adjustments")
    adjustments: int = Field(ge=0, description="approved adjustments in the snapshot")
    applied: int | None = Field(
        None, ge=0, description="entities of the scope the draw moved to their adjusted class's stratum"
    )


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
    plan_format: int = Field(
        4,
        description="layout version of the stored plan: 1 inspectors from the request (before the "
        "roster), 2 roster without this member, 3 supervision lists and re-inspection limits, 4 "
        "approved adjustments applied at the draw; `plan verify` replays each as written "
        "(docs/adr/0125, 0142)",
    )
    created_at: str
    caller: Caller
    month: str
    province: str
    seed: str
    seed_generated: bool
    run_id: str
    model: str
    model_hash: str | None
    frame_digest: str = Field(
        description="the scoped frame's digest: `cells-v2:<hex>` over the cells of the sampling copy "
        "(ADR 0100), or a bare 64-hex digest (v1) for runs published before it; see docs/api.md"
    )
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
    request: PlanRequest | None = Field(
        description="the request drawn; null only in an answer where it would not fit (`request_omitted`)"
    )
    request_omitted: bool = Field(
        False, description="true when `request` was left out of this answer; the stored plan has it"
    )
    mode: Literal["official", "test"] = Field(
        "test", description="`official`: drawn from a task (docs/adr/0093); `test`: never official"
    )
    task_id: str | None = Field(None, description="official plans: the task drawn")
    draw_no: int | None = Field(None, ge=1, description="1 = the task's first draw; later draws supersede")
    commitment: str | None = Field(None, description="the task's commitment, published at registration")
    reveal: str | None = Field(
        None, description="key `draw_no` of the committed chain; the seed derives from it"
    )
    supersedes: str | None = Field(None, description="the plan this redraw replaces")
    redraw_reason: str | None = None
    redraw_note: str | None = None
    exclusions: dict[str, int] | None = Field(None, description="excluded entities per reason")
    supervision: SupervisionUsed | None = Field(
        None, description="the tolerance lists and re-inspection limits applied (null: none)"
    )
    adjustments: AdjustmentsUsed | None = Field(
        None, description="the approved manual adjustments the draw applied (null: none; ADR 0142)"
    )


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


class FieldClassOut(_Strict):
    """The entity's class in one professional field, beside the general class (docs/adr/0117)."""

    risk_class: RiskClass
    sampling_class: RiskClass = Field(description="the stricter of the general and the field class")
    risk_score: float
    previous_class: RiskClass | None
    reasons: list[Reason]
    rules: list[str]
    model: str
    run_id: str


class AppliedAdjustmentOut(_Strict):
    """The approved manual adjustment (人工调整) of the entity's month (docs/adr/0113): its class is
    the class to use, ``risk_class`` stays the model's."""

    adjustment_id: str
    model_class: RiskClass
    adjusted_class: RiskClass
    reason: str
    proposed_by: str
    approved_by: str
    approved_at: str


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
    fields: dict[str, FieldClassOut] = Field(
        default_factory=dict, description="per professional field whose population the entity is in"
    )
    adjustment: AppliedAdjustmentOut | None = Field(
        default=None,
        description="the approved manual adjustment, if any: `risk_class` is the model's class, the"
        " class to use is `adjusted_class`; the fields' `sampling_class` takes it (ADR 0145)",
    )


class ClassificationQuery(_Strict):
    uscc: Uscc
    month: Month


class ErrorOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error: str
    message: str
    field: str | None = None
    details: dict[str, object] | None = None


# -- sampling tasks: official plans from committed server randomness (issue 15, docs/adr/0093-0094)
ExclusionReason = Annotated[str, Field(json_schema_extra={"enum": list(EXCLUSION_REASONS)})]
RedrawReason = Annotated[str, Field(json_schema_extra={"enum": list(REDRAW_REASONS)})]
IsoDate = Annotated[str, Field(pattern=r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]


def _known(value: str | None, vocabulary: dict[str, str]) -> str | None:
    if value is not None and value not in vocabulary:
        raise ValueError(f"unknown reason {value[:40]!r}; one of: {', '.join(vocabulary)}")
    return value


class Exclusion(_Strict):
    uscc: Uscc
    reason: ExclusionReason | None = Field(
        None, description="why the entity is left out (required: an exclusion without one is 422)"
    )

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str | None) -> str | None:
        return _known(v, EXCLUSION_REASONS)


class Window(_Strict):
    start: IsoDate
    end: IsoDate

    @model_validator(mode="after")
    def _order(self) -> Window:
        import datetime as dt

        for name in ("start", "end"):
            try:
                dt.date.fromisoformat(getattr(self, name))
            except ValueError:
                raise ValueError(f"{name} {getattr(self, name)} is not a calendar date") from None
        if self.end < self.start:
            raise ValueError("the inspection window ends before it starts")
        return self


class TaskRequest(_Strict):
    """``POST /v1/sampling/tasks``: what will be drawn, fixed before anyone sees the randomness."""

    model_config = ConfigDict(  # extra, strict and frozen come from _Strict
        json_schema_extra={
            **region_rule(),
            "examples": [
                {
                    "month": "2026-10",
                    "province": "42",
                    "field": "food",
                    "region_prefix": "4201",
                    "ratios": {"A": 0.01, "B": 0.03, "C": 0.1, "D": 0.3},
                    "window": {"start": "2026-11-01", "end": "2026-12-15"},
                    "exclude": [{"uscc": "91420100MA4KXXXX1C", "reason": "under_investigation"}],
                }
            ],
        },
    )

    month: Month
    province: Province
    field: InspectorField | None = Field(
        None,
        description="inspection field (e.g. food): one task per month, field and region; the plan's "
        "inspectors must be qualified for it (general when absent)",
    )
    region_prefix: RegionPrefix = Field(
        None, description="city or county code prefix (starts with the province)"
    )
    industries: Annotated[list[Section], Field(max_length=20)] = Field(default_factory=list)
    entity_types: Annotated[list[EntityType], Field(max_length=3)] = Field(default_factory=list)
    ratios: Annotated[dict[RiskClass, Ratio], Field(min_length=1)]
    window: Window = Field(description="the inspection window")
    exclude: Annotated[list[Exclusion], Field(max_length=MAX_EXCLUDE)] = Field(
        default_factory=list, description="entities left out, each with its reason"
    )
    supervision: SupervisionIn = Field(
        default_factory=SupervisionIn,
        description="tolerance lists and re-inspection limits, fixed at registration (docs/adr/0123, 0124)",
    )
    frame_field: ClassifiedField | None = Field(None, description=FRAME_FIELD)


class DrawRequest(_Strict):
    """``POST /v1/sampling/tasks/{task_id}/plans``: the task's official draw, or a redraw."""

    inspectors: InspectorsIn | None = None
    reason: RedrawReason | None = Field(
        None, description="required for a redraw (the task has a plan already; 409 without)"
    )
    note: Annotated[str | None, Field(max_length=500)] = None

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str | None) -> str | None:
        return _known(v, REDRAW_REASONS)


class DrawOut(_Strict):
    draw_no: int
    plan_id: str
    at: str
    caller: Caller
    reason: str | None
    note: str | None
    supersedes: str | None


class TaskOut(_Strict):
    """A task as registered, with its official plan and the plans it superseded."""

    task_id: str
    created_at: str
    caller: Caller
    month: str
    province: str
    field: str | None
    frame_field: str | None = Field(None, description="the field whose population the task draws from")
    region_prefix: str | None
    industries: list[str]
    entity_types: list[str]
    ratios: dict[str, float]
    window: Window
    exclusions: dict[str, int] = Field(description="excluded entities per reason")
    run_id: str
    model: str
    frame_digest: str = Field(description="the scoped frame fixed at registration")
    frame_size: int
    commitment: str = Field(description="sha256 chain head of the server secret (docs/adr/0093)")
    max_draws: int
    supervision: SupervisionIn | None = Field(None, description="tolerance lists and re-inspection limits")
    supervision_set: dict[str, str] | None = Field(
        None, description="the supervision set fixed at registration: digest, as_of, day (docs/adr/0123)"
    )
    adjustments: AdjustmentsUsed | None = Field(
        None, description="the approved adjustments fixed at registration, applied by every draw (ADR 0142)"
    )
    official_plan_id: str | None
    supersessions: int
    draws: list[DrawOut]


# -- effectiveness figures with n and intervals (issue 16, docs/adr/0134) -----------------------
class EffectivenessQuery(BaseModel):
    """Query string of ``GET /v1/effectiveness``: the months whose stored figures are returned."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    province: Province
    first: Month = Field(alias="from", description="first month (YYYY-MM)")
    last: Month = Field(alias="to", description="last month (YYYY-MM), at most 24 months after from")

    @model_validator(mode="after")
    def _ordered(self) -> EffectivenessQuery:
        if self.last < self.first:
            raise ValueError(f"to ({self.last}) is before from ({self.first})")
        span = (int(self.last[:4]) - int(self.first[:4])) * 12 + int(self.last[5:]) - int(self.first[5:]) + 1
        if span > 24:
            raise ValueError(f"at most 24 months per request, got {span}")
        return self


class EffectivenessMonth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    month: str
    inspections: int = Field(description="inspections dated in the month (classified or not)")
    problems: int = Field(description="of which found a problem")
    figures: dict[str, Any] = Field(
        description="every figure with n, its 95 % interval (low, high) and whether n suffices "
        "(per-class discovery rates with Wilson intervals, lift, AUC with a bootstrap interval, "
        "the unclassified inspections, the replay against a random order)"
    )


class EffectivenessOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    province: str
    first: str = Field(alias="from")
    last: str = Field(alias="to")
    months: list[EffectivenessMonth] = Field(description="months with stored figures, oldest first")
    missing_months: list[str] = Field(description="months in the range without stored figures")
