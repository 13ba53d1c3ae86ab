"""The results contract: what auditors and downstream platforms read (docs/results-contract.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.arrow import arrow_schema

RiskClass = Literal["A", "B", "C", "D"]
RISK_CLASSES: tuple[str, ...] = ("A", "B", "C", "D")
DIMENSIONS: tuple[str, ...] = ("basic", "dynamic", "regulatory", "relationship", "social")
DIMENSION_LABELS = {
    "basic": ("企业基础属性信息", "basic attributes"),
    "dynamic": ("企业动态信息", "dynamic information"),
    "regulatory": ("监管信息", "regulatory information"),
    "relationship": ("关联关系信息", "relationship information"),
    "social": ("社会评价信息", "social evaluation"),
}


class DimensionScores(BaseModel):
    """Points per dimension (each weighted contribution to ``risk_score``)."""

    model_config = ConfigDict(frozen=True)
    basic: float
    dynamic: float
    regulatory: float
    relationship: float
    social: float


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str = Field(description="indicator code")
    label: str = Field(description="indicator label (Chinese / English)")
    points: float = Field(description="weighted points the indicator contributed")


class Classification(BaseModel):
    """One row of ``results/classifications/month=YYYY-MM/province=PP/``."""

    model_config = ConfigDict(frozen=True)
    uscc: str
    name: str
    entity_type: str
    region_code: str
    industry_code: str
    risk_score: float = Field(ge=0, le=100, description="0–100, higher = riskier")
    risk_class: RiskClass
    previous_class: RiskClass | None = None
    dimension_scores: DimensionScores
    reasons: list[Reason]
    rules: list[str] = Field(description="hard rules that fired")
    model: str = Field(description="indicator system id@version")
    run_id: str


CLASSIFICATION_SCHEMA = arrow_schema(Classification)
