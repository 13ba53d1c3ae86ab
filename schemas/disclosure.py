"""The public disclosure (一公开) of a plan's inspection results: the one contract of the export
(CSV and JSON) and of ``GET /v1/public/disclosures/{plan_id}`` (docs/adr/0098).

The layout (column names in English and Chinese, check types, published outcome wording) is data
in ``schemas/publicity/disclosure.yaml``. The models forbid extra members, so an internal field
(risk class, score, reasons, inspectors, conflicts) cannot slip into an answer.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field

from schemas.api import PLAN_ID_PATTERN
from schemas.datasets import InspectionResult

LAYOUT_PATH = Path(__file__).with_name("publicity") / "disclosure.yaml"


@cache
def layout() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(LAYOUT_PATH.read_text(encoding="utf-8"))
    missing = set(get_args(InspectionResult)) - set(data["results"])
    if missing:
        raise ValueError(f"{LAYOUT_PATH.name}: no published wording for {sorted(missing)}")
    return data


def columns() -> list[tuple[str, str]]:
    """``(json key, CSV header)`` in CSV order."""
    return [(c["en"], c["zh"]) for c in layout()["columns"]]


class _Public(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DisclosureQuery(_Public):
    """``GET /v1/public/disclosures/{plan_id}[?format=json|csv]``."""

    plan_id: Annotated[str, Field(pattern=PLAN_ID_PATTERN)]
    format: Literal["json", "csv"] = "json"


class DisclosureRow(_Public):
    plan_id: str = Field(description="抽查计划编号")
    task_id: str = Field(description="抽查任务编号 (the plan id when the plan has no registered task)")
    check_type: str = Field(description="抽查类型: 定向抽查 or 不定向抽查")
    authority: str | None = Field(description="抽查机关, as the inspection reported it")
    completed_on: str = Field(description="抽查完成日期 (YYYY-MM-DD): the day the entity was inspected")
    name: str = Field(description="企业名称")
    uscc: str = Field(description="统一社会信用代码")
    result: str = Field(description="抽查结果, in the published wording")


class Disclosure(_Public):
    """``GET /v1/public/disclosures/{plan_id}``: public, no credential."""

    plan_id: str
    task_id: str
    province: str
    check_type: str
    completed_on: str = Field(description="the last inspection day of the plan")
    entities: int = Field(ge=0, description="entities inspected and published")
    pending: int = Field(ge=0, description="targets of the plan without a result yet")
    published_at: str
    rows: list[DisclosureRow]
