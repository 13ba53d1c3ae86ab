"""The upload datasets: thirteen about market entities (ten general, three a professional field's
own data: licences, special-equipment registrations, product spot checks), the inspector roster
and the tolerance lists (v1 of the upload contract, see docs/upload-contract.md).

Each dataset is one pydantic model. Field metadata (``json_schema_extra``) carries what the
vectorised validator and the contract document need: the Chinese column alias (``zh``), a
semantic ``kind`` (uscc, region_code, industry_code, text …) and a description. The model is
also usable per row (e.g. the per-row baseline in bench/), but ingestion validates whole Arrow
batches from the derived field specs, never row by row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

from schemas.arrow import _unwrap_optional, arrow_schema, curated_schema

USCC_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"
REGION_PATTERN = r"^[0-9]{6}$"
INDUSTRY_PATTERN = r"^[A-T]([0-9]{2,4})?$"

EntityType = Literal["enterprise", "individual", "cooperative"]
EntityStatus = Literal["active", "revoked", "cancelled", "moved_out"]
ChangeItem = Literal[
    "legal_rep", "address", "shareholder", "name", "business_scope", "registered_capital", "other"
]
Domain = Literal[
    "food",
    "drug",
    "special_equipment",
    "product_quality",
    "price",
    "competition",
    "consumer",
    "metrology",
    "standards",
    "certification",
    "advertising",
    "ip",
    "registration",
    "other",
]
PenaltyKind = Literal[
    "warning",
    "fine",
    "confiscation",
    "suspend_license",
    "lower_qualification",
    "revoke_license",
    "restrict_business",
    "order_suspension",
    "order_closure",
    "restrict_employment",
    "revoke_business_license",
    "other",
]
SEVERE_PENALTY_KINDS = (
    "suspend_license",
    "lower_qualification",
    "revoke_license",
    "restrict_business",
    "order_suspension",
    "order_closure",
    "restrict_employment",
)
AbnormalReason = Literal["no_annual_report", "unreachable", "false_disclosure", "no_disclosure", "other"]
InspectionResult = Literal["no_problem", "corrected", "problem_found", "not_at_address", "refused"]
ComplaintKind = Literal["complaint", "report"]
Relation = Literal["legal_rep", "shareholder", "executive"]
DishonestyCategory = Literal[
    "court_enforcement",
    "judgment",
    "admin_enforcement",
    "tax_arrears",
    "abnormal_taxpayer",
    "utility_arrears",
    "broken_commitment",
    "contract_breach",
    "other",
]
Severity = Literal["general", "serious"]
# Licences of the professional fields (专业领域行政许可); the field of each type is data
# (schemas/fields.yaml), the field systems count them (functions/classify/systems/).
LicenceType = Literal[
    "food_production",
    "food_business",
    "drug_production",
    "drug_business",
    "medical_device",
    "special_equipment_production",
    "industrial_product",
]
# Special-equipment categories (特种设备目录).
EquipmentKind = Literal[
    "boiler",
    "pressure_vessel",
    "pressure_piping",
    "elevator",
    "lifting",
    "passenger_ropeway",
    "amusement",
    "site_vehicle",
]
EquipmentStatus = Literal["in_use", "suspended", "deregistered"]
CheckResult = Literal["pass", "fail"]
# Fields an inspector may be qualified for (执法检查人员名录库: 检查领域). ``general`` is the
# market-regulation generalist (登记、年报、公示信息) that every plan without a field draws.
InspectorField = Literal[
    "general",
    "food",
    "drug",
    "medical_device",
    "cosmetics",
    "special_equipment",
    "industrial_product",
    "metrology",
    "standards",
    "certification",
    "advertising",
    "price",
    "competition",
    "consumer",
    "ip",
]
# Tolerance lists (包容审慎, docs/adr/0123): how each is drawn lives in schemas/supervision.yaml.
ListType = Literal["whitelist", "sandbox"]
LIST_SEPARATOR = ";"


def col(
    zh: str,
    description: str,
    *,
    kind: str | None = None,
    items: tuple[str, ...] | None = None,
    future: bool = False,
    **kwargs: Any,
) -> Any:
    """A contract column: Chinese alias, description and semantic kind live with the type.

    ``items``: the vocabulary of an ``enum_list`` column; ``future``: a date that may lie after
    the ingest day (a roster's planned start or end)."""
    extra: dict[str, Any] = {"zh": zh}
    if kind:
        extra["kind"] = kind
    if items:
        extra["items"] = list(items)
    if future:
        extra["future"] = True
    return Field(description=description, json_schema_extra=extra, **kwargs)


def uscc_col(description: str = "Unified Social Credit Code (GB 32100-2015) of the entity") -> Any:
    return col("统一社会信用代码", description, kind="uscc", pattern=USCC_PATTERN)


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Entity(_Contract):
    uscc: str = uscc_col()
    name: str = col("主体名称", "Registered name", kind="text", min_length=1)
    entity_type: EntityType = col("主体类型", "enterprise, individual business or farmer cooperative")
    region_code: str = col(
        "行政区划代码",
        "GB/T 2260 code of the registering county; starts with the province",
        kind="region_code",
        pattern=REGION_PATTERN,
    )
    industry_code: str = col(
        "行业代码",
        "GB/T 4754 section letter A–T, optionally followed by 2–4 digits",
        kind="industry_code",
        pattern=INDUSTRY_PATTERN,
    )
    established_on: dt.date = col("成立日期", "Date of establishment")
    registered_capital: float | None = col("注册资本", "Registered capital in 10,000 CNY", default=None, ge=0)
    status: EntityStatus = col("登记状态", "Registration status")
    status_changed_on: dt.date | None = col("状态变更日期", "Date the status last changed", default=None)
    address: str | None = col("住所", "Registered address", kind="text", default=None)
    legal_rep_id: str | None = col(
        "法定代表人标识", "Pseudonymous id of the legal representative", kind="pseudonym", default=None
    )
    is_new_economy: bool | None = col("是否新业态", "New industry/business model (四新)", default=None)


class RegistrationChange(_Contract):
    change_id: str = col("变更编号", "Provider's id of the change record", kind="id")
    uscc: str = uscc_col()
    changed_on: dt.date = col("变更日期", "Date the change was registered")
    item: ChangeItem = col("变更事项", "What changed")


class AnnualReport(_Contract):
    uscc: str = uscc_col()
    year: int = col("年度", "Reporting year", ge=1990, le=2100)
    filed_on: dt.date | None = col("报送日期", "Date filed; empty = not filed", default=None)


class Penalty(_Contract):
    decision_no: str = col("决定书文号", "Number of the penalty decision", kind="id")
    uscc: str = uscc_col()
    decided_on: dt.date = col("处罚决定日期", "Date of the decision")
    authority: str = col("处罚机关", "Deciding authority", kind="text")
    domain: Domain = col("领域", "Regulatory field")
    kind: PenaltyKind = col("处罚种类", "Kind of penalty")
    amount: float | None = col("罚没金额", "Fine and confiscation in CNY", default=None, ge=0)
    repaired_on: dt.date | None = col(
        "信用修复日期", "Date of credit repair; repaired records stop counting", default=None
    )
    withdrawn: bool | None = col("是否撤销", "Decision withdrawn", default=None)
    kinds: str | None = col(
        "全部处罚种类",
        "Every kind of the decision in contract values, ';'-joined in rising severity; "
        "``kind`` holds the most severe of them (the one the classification counts)",
        kind="text",
        default=None,
    )


class AbnormalListEntry(_Contract):
    record_id: str = col("记录编号", "Provider's id of the listing", kind="id")
    uscc: str = uscc_col()
    listed_on: dt.date = col("列入日期", "Date listed")
    reason: AbnormalReason = col("列入原因", "Reason for listing")
    removed_on: dt.date | None = col("移出日期", "Date removed", default=None)


class SeriousDishonestyEntry(_Contract):
    record_id: str = col("记录编号", "Provider's id of the listing", kind="id")
    uscc: str = uscc_col()
    listed_on: dt.date = col("列入日期", "Date listed")
    reason: str = col("列入原因", "Reason for listing (free text)", kind="text")
    removed_on: dt.date | None = col("移出日期", "Date removed", default=None)


class Inspection(_Contract):
    inspection_id: str = col("检查编号", "Provider's id of the inspection", kind="id")
    uscc: str = uscc_col()
    inspected_on: dt.date = col("检查日期", "Date inspected")
    plan_id: str | None = col(
        "抽查计划编号", "Sampling plan the inspection belongs to", kind="id", default=None
    )
    domain: Domain = col("检查领域", "Regulatory field")
    result: InspectionResult = col("检查结果", "Outcome")
    authority: str | None = col(
        "检查机关", "Inspecting authority, as published (抽查机关)", kind="text", default=None
    )


class InspectorRecord(_Contract):
    """One inspector of the roster (执法检查人员名录库). Personal data rule: a pseudonym, never a
    real name or an identity number (rows holding an ID-shaped value are rejected)."""

    inspector_id: str = col("检查人员编号", "Provider's stable id of the inspector", kind="id")
    name: str = col(
        "检查人员化名", "Pseudonym shown on plans (never the real name or an ID number)", kind="pseudonym"
    )
    region_code: str = col(
        "所属行政区划代码",
        "GB/T 2260 code of the inspector's office: county 420102, city 420100 or province 420000; "
        "the inspector covers every target whose region starts with the code less its trailing 00 pairs",
        kind="region_code",
        pattern=REGION_PATTERN,
    )
    fields: str = col(
        "执法检查领域",
        "Fields the inspector is qualified for, ';'-separated (e.g. general;food)",
        kind="enum_list",
        items=get_args(InspectorField),
    )
    active_from: dt.date = col("在岗起始日期", "First day on the roster", future=True)
    active_to: dt.date | None = col(
        "在岗截止日期", "Last day on the roster; empty = open-ended", default=None, future=True
    )
    conflicts: str | None = col(
        "回避主体",
        "USCCs of entities the inspector must recuse from (利害关系回避), ';'-separated; "
        "internal, never shown in any answer",
        kind="uscc_list",
        default=None,
    )


class SupervisionListEntry(_Contract):
    """An entity on a tolerance list (包容审慎监管): a whitelist (白名单) drawn as its own stratum at
    a lower ratio, or the sandbox (沙盒监管) drawn at ratio 0, inspected only when a complaint or a
    transferred case triggers it. Reference data of the regulator (docs/adr/0123)."""

    uscc: str = uscc_col()
    list_type: ListType = col("名单类型", "whitelist (白名单) or sandbox (沙盒监管)")
    reason: str = col(
        "纳入原因", "Why the entity is on the list (e.g. a 四新 new-economy entity)", kind="text"
    )
    authority: str = col("决定机关", "Authority that put the entity on the list", kind="text")
    listed_from: dt.date = col("纳入日期", "First day on the list", future=True)
    tolerance_end: dt.date | None = col(
        "包容期截止日期",
        "Last day on the list (end of the tolerance period); empty = one year after listed_from",
        default=None,
        future=True,
    )


class Complaint(_Contract):
    complaint_id: str = col("投诉举报编号", "Provider's id of the complaint or report", kind="id")
    uscc: str = uscc_col()
    received_on: dt.date = col("登记日期", "Date received")
    kind: ComplaintKind = col("类型", "complaint or report")
    substantiated: bool | None = col("是否属实", "Found to be substantiated", default=None)
    domain: Domain | None = col(
        "涉及领域", "Regulatory field the complaint concerns (empty = not known)", default=None
    )


class Licence(_Contract):
    """A professional field's licence (食品生产/经营许可, 药品生产/经营许可, 特种设备生产许可,
    工业产品生产许可): who is active in a field, and whether it operates unlicensed."""

    licence_no: str = col("许可证编号", "Number of the licence", kind="id")
    uscc: str = uscc_col()
    licence_type: LicenceType = col("许可类型", "Kind of licence (its field: schemas/fields.yaml)")
    valid_from: dt.date = col("有效期起", "First day of validity (the issue date)")
    valid_to: dt.date | None = col(
        "有效期至", "Last day of validity; empty = open-ended", default=None, future=True
    )
    revoked_on: dt.date | None = col(
        "注销吊销日期", "Date the licence was revoked or cancelled before its end", default=None
    )


class EquipmentRegistration(_Contract):
    """A special-equipment use registration (特种设备使用登记) with its periodic inspection due date."""

    equipment_id: str = col("设备注册代码", "Registration code of the equipment", kind="id")
    uscc: str = uscc_col("Unified Social Credit Code of the using entity (使用单位)")
    kind: EquipmentKind = col("设备类别", "Category of the special-equipment catalogue")
    registered_on: dt.date = col("使用登记日期", "Date of the use registration")
    next_inspection_due: dt.date | None = col(
        "下次检验日期", "Date the next periodic inspection is due", default=None, future=True
    )
    status: EquipmentStatus = col("设备状态", "in use, suspended or deregistered")


class ProductCheck(_Contract):
    """A supervision spot check or sample test of products (监督抽查 / 食品安全抽检)."""

    check_id: str = col("抽检编号", "Provider's id of the sample test", kind="id")
    uscc: str = uscc_col("Unified Social Credit Code of the producer or seller sampled")
    checked_on: dt.date = col("抽样日期", "Date the sample was taken")
    domain: Domain = col("抽检领域", "Regulatory field (food, drug, product_quality …)")
    product: str = col("产品名称", "Product sampled", kind="text")
    result: CheckResult = col("检验结论", "pass or fail (不合格)")


class Relationship(_Contract):
    uscc: str = uscc_col()
    party_id: str = col(
        "关联方标识", "Pseudonymous person id, or the USCC of a related entity", kind="pseudonym"
    )
    relation: Relation = col("关联类型", "Kind of relationship")
    since: dt.date | None = col("起始日期", "Start of the relationship", default=None)
    until: dt.date | None = col("终止日期", "End of the relationship", default=None)


class OtherDishonesty(_Contract):
    record_id: str = col("记录编号", "Provider's id of the record", kind="id")
    uscc: str = uscc_col()
    recorded_on: dt.date = col("记录日期", "Date recorded")
    category: DishonestyCategory = col("类别", "Category of the dishonest record")
    severity: Severity = col("严重程度", "general or serious")
    source: str = col("来源", "Source system (court, tax, utility …)", kind="text")
    removed_on: dt.date | None = col("移出日期", "Date removed", default=None)


@dataclass(frozen=True)
class FieldSpec:
    """What the vectorised validator needs to know about one column."""

    name: str
    zh: str
    required: bool
    type: str  # string | date | bool | float | int
    kind: str | None
    enum: tuple[str, ...] | None
    pattern: str | None
    ge: float | None
    le: float | None
    description: str
    items: tuple[str, ...] | None = None  # vocabulary of an ``enum_list`` column
    future_ok: bool = False  # a date after the ingest day is allowed


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    zh: str
    model: type[BaseModel]
    key: tuple[str, ...]
    event_date: str  # the column that dates a record ("as of" filtering)
    description: str
    fields: tuple[FieldSpec, ...] = field(default=())
    # The event date records when a standing obligation was met (an annual report filed): a row
    # dated after the period end is still in force then, unmet, so the as-of view keeps it with
    # the date read as NULL instead of dropping it.
    date_is_fulfilment: bool = False
    # Rows are about market entities (a ``uscc`` column): classification and warnings read them.
    # The inspector roster is reference data of the regulator instead.
    entity_data: bool = True

    @property
    def arrow_schema(self) -> Any:
        return arrow_schema(self.model)

    @property
    def curated_schema(self) -> Any:
        return curated_schema(self.model)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def aliases(self) -> dict[str, str]:
        """Accepted header → column name (English names and Chinese aliases)."""
        out = {f.name: f.name for f in self.fields}
        out.update({f.zh: f.name for f in self.fields})
        return out

    def column(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)


_TYPE_NAMES = {str: "string", dt.date: "date", bool: "bool", float: "float", int: "int"}


def _items(value: object) -> tuple[str, ...] | None:
    return tuple(str(v) for v in value) if isinstance(value, list) else None


def _field_specs(model: type[BaseModel]) -> tuple[FieldSpec, ...]:
    specs = []
    for name, info in model.model_fields.items():
        tp, _ = _unwrap_optional(info.annotation)
        enum = tuple(get_args(tp)) if get_origin(tp) is Literal else None
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        pattern = ge = le = None
        for m in info.metadata:
            pattern = getattr(m, "pattern", None) or pattern
            ge = getattr(m, "ge", None) if getattr(m, "ge", None) is not None else ge
            le = getattr(m, "le", None) if getattr(m, "le", None) is not None else le
        specs.append(
            FieldSpec(
                name=name,
                zh=str(extra.get("zh", name)),
                required=info.is_required(),
                type="string" if enum else _TYPE_NAMES[tp],
                kind=str(extra["kind"]) if "kind" in extra else None,
                enum=enum,
                pattern=pattern,
                ge=ge,
                le=le,
                description=info.description or "",
                items=_items(extra.get("items")),
                future_ok=bool(extra.get("future", False)),
            )
        )
    return tuple(specs)


def _spec(
    name: str,
    zh: str,
    model: type[BaseModel],
    key: tuple[str, ...],
    event_date: str,
    desc: str,
    *,
    date_is_fulfilment: bool = False,
    entity_data: bool = True,
) -> DatasetSpec:
    return DatasetSpec(
        name, zh, model, key, event_date, desc, _field_specs(model), date_is_fulfilment, entity_data
    )


DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in (
        _spec(
            "entities", "市场主体登记信息", Entity, ("uscc",), "established_on", "Registered market entities"
        ),
        _spec(
            "registration_changes",
            "变更登记",
            RegistrationChange,
            ("change_id",),
            "changed_on",
            "Registration changes",
        ),
        _spec(
            "annual_reports",
            "年度报告",
            AnnualReport,
            ("uscc", "year"),
            "filed_on",
            "Annual report filings",
            date_is_fulfilment=True,
        ),
        _spec("penalties", "行政处罚", Penalty, ("decision_no",), "decided_on", "Administrative penalties"),
        _spec(
            "abnormal_list",
            "经营异常名录",
            AbnormalListEntry,
            ("record_id",),
            "listed_on",
            "Abnormal-operations list entries",
        ),
        _spec(
            "serious_dishonesty_list",
            "严重违法失信名单",
            SeriousDishonestyEntry,
            ("record_id",),
            "listed_on",
            "Serious-dishonesty list entries",
        ),
        _spec(
            "inspections",
            "抽查检查结果",
            Inspection,
            ("inspection_id",),
            "inspected_on",
            "Spot-check and inspection results",
        ),
        _spec(
            "complaints", "投诉举报", Complaint, ("complaint_id",), "received_on", "Complaints and reports"
        ),
        _spec(
            "relationships",
            "关联关系",
            Relationship,
            ("uscc", "party_id", "relation"),
            "since",
            "Legal representatives, shareholders and executives",
        ),
        _spec(
            "other_dishonesty",
            "其他失信记录",
            OtherDishonesty,
            ("record_id",),
            "recorded_on",
            "Dishonest records from courts, tax, utilities and others",
        ),
        _spec(
            "licences",
            "专业领域许可",
            Licence,
            ("licence_no",),
            "valid_from",
            "Licences of the professional fields (food, drug, special equipment, industrial products)",
        ),
        _spec(
            "equipment",
            "特种设备使用登记",
            EquipmentRegistration,
            ("equipment_id",),
            "registered_on",
            "Special-equipment use registrations with the next periodic inspection",
        ),
        _spec(
            "product_checks",
            "监督抽查抽检",
            ProductCheck,
            ("check_id",),
            "checked_on",
            "Product spot checks and sample tests (监督抽查、抽检) with their result",
        ),
        _spec(
            "inspectors",
            "执法检查人员名录库",
            InspectorRecord,
            ("inspector_id",),
            "active_from",
            "The inspector roster the double-random draw staffs plans from (reference data, not "
            "about entities); the latest upload of an inspector_id replaces the earlier one",
            entity_data=False,
        ),
        _spec(
            "supervision_lists",
            "包容审慎监管名单",
            SupervisionListEntry,
            ("uscc", "list_type", "listed_from"),
            "listed_from",
            "Whitelist and sandbox entries (包容审慎): drawn as strata of their own by sampling "
            "tasks (reference data of the regulator, not read by classification or warnings)",
            entity_data=False,
        ),
    )
}
ENTITY_DATASETS: tuple[str, ...] = tuple(n for n, s in DATASETS.items() if s.entity_data)


def dataset(name: str) -> DatasetSpec:
    """The spec of a dataset; ``KeyError`` names the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None
