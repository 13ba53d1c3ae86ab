"""Warning rules are versioned configuration (``functions/warnings/rules/<id>.yaml``).

A rule set has an id and a version; each rule has an id, its own version, a ``kind`` (one of the
SQL templates in :mod:`functions.warnings.compile`), parameters checked against that kind and
against the dataset contracts, a severity and a per-rule dispatch threshold. Loading validates
everything and reports every problem with the line it sits on (docs/warnings.md).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from functions.coverage.requires import Requirement
from functions.errors import ConfigError
from schemas.datasets import DATASETS

RULES_DIR = Path(__file__).with_name("rules")
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
Severity = Literal["low", "medium", "high", "critical"]
DispatchAt = Literal["low", "medium", "high", "critical", "never"]
ID_RE = r"^[a-z][a-z0-9_]{2,63}$"
ChangeItem = Literal[
    "legal_rep", "address", "shareholder", "name", "business_scope", "registered_capital", "other"
]
RiskClass = Literal["A", "B", "C", "D"]
EntityType = Literal["enterprise", "individual", "cooperative"]
ENTITY_TYPES: tuple[EntityType, ...] = ("enterprise", "individual", "cooperative")
# Datasets whose rows are dated events with a single-column key (what ``new_record`` needs).
EVENT_DATASETS = tuple(
    n for n, s in DATASETS.items() if len(s.key) == 1 and n not in ("entities",) and s.event_date
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NewRecordParams(_Strict):
    """A record of ``dataset`` dated in the month, optionally filtered by enum columns."""

    dataset: str
    where: dict[str, list[str]] = Field(default_factory=dict)
    exclude_withdrawn: bool = False
    not_removed: bool = False
    evidence: list[str] = Field(default_factory=list)

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        if v not in EVENT_DATASETS:
            raise ValueError(f"dataset must be one of {', '.join(EVENT_DATASETS)}")
        return v

    @staticmethod
    def _columns(info: ValidationInfo) -> dict[str, Any]:
        ds = info.data.get("dataset")
        return {f.name: f for f in DATASETS[ds].fields} if ds in DATASETS else {}

    @field_validator("where")
    @classmethod
    def _where(cls, v: dict[str, list[str]], info: ValidationInfo) -> dict[str, list[str]]:
        cols = cls._columns(info)
        for col, values in v.items():
            if cols and col not in cols:
                raise ValueError(f"{info.data['dataset']} has no column {col!r}")
            enum = cols[col].enum if cols else None
            if cols and enum is None:
                raise ValueError(f"{info.data['dataset']}.{col} is not an enumerated column")
            bad = [x for x in values if enum is not None and x not in enum]
            if bad or not values:
                raise ValueError(f"{col} values {bad or '[]'} not in {list(enum or ())}")
        return v

    @field_validator("evidence")
    @classmethod
    def _evidence(cls, v: list[str], info: ValidationInfo) -> list[str]:
        cols = cls._columns(info)
        bad = [c for c in v if cols and c not in cols]
        if bad:
            raise ValueError(f"{info.data['dataset']} has no column(s) {bad}")
        return v

    @model_validator(mode="after")
    def _flags(self) -> NewRecordParams:
        cols = {f.name for f in DATASETS[self.dataset].fields}
        if self.exclude_withdrawn and "withdrawn" not in cols:
            raise ValueError(f"exclude_withdrawn: {self.dataset} has no withdrawn column")
        if self.not_removed and "removed_on" not in cols:
            raise ValueError(f"not_removed: {self.dataset} has no removed_on column")
        return self


class ClusterParams(_Strict):
    by: Literal["address", "legal_rep_id"]
    min_entities: int = Field(ge=2, le=10_000)
    window_days: int = Field(ge=1, le=366)


class ChangeFrequencyParams(_Strict):
    items: list[ChangeItem] = Field(min_length=1)
    min_changes: int = Field(ge=2, le=1_000)
    window_days: int = Field(ge=1, le=731)


class SurgeParams(_Strict):
    multiplier: float = Field(gt=1.0, le=100.0)
    min_count: int = Field(ge=1, le=100_000)
    trailing_months: int = Field(ge=1, le=24)
    substantiated_only: bool = False


class ClassJumpParams(_Strict):
    min_steps: int = Field(ge=1, le=3)


class AnnualReportOverdueParams(_Strict):
    deadline: str = Field("06-30", description="MM-DD of the year after the report year")
    entity_types: list[EntityType] = Field(default_factory=lambda: list(ENTITY_TYPES), min_length=1)

    @field_validator("deadline")
    @classmethod
    def _deadline(cls, v: str) -> str:
        if not re.fullmatch(r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])", v):
            raise ValueError("deadline must be MM-DD")
        return v


class RelatedToClassParams(_Strict):
    classes: list[RiskClass] = Field(min_length=1)
    relations: list[Literal["legal_rep", "shareholder", "executive"]] = Field(min_length=1)


KIND_PARAMS: dict[str, type[_Strict]] = {
    "new_record": NewRecordParams,
    "cluster": ClusterParams,
    "change_frequency": ChangeFrequencyParams,
    "surge": SurgeParams,
    "class_jump": ClassJumpParams,
    "annual_report_overdue": AnnualReportOverdueParams,
    "related_to_class": RelatedToClassParams,
}
Kind = Literal[
    "new_record",
    "cluster",
    "change_frequency",
    "surge",
    "class_jump",
    "annual_report_overdue",
    "related_to_class",
]
# How a kind's warning leaves the open state (docs/adr/0103): a "state" warning describes a
# standing condition (a report still missing, a relation to a D-class entity) and is *resolved*
# when a run no longer finds it; an "event" warning describes something that happened in its
# month and is *retracted* when a re-run of that month, on corrected data, no longer finds it.
KIND_LIFECYCLE: dict[str, Literal["state", "event"]] = {
    "new_record": "event",
    "cluster": "event",
    "change_frequency": "event",
    "surge": "event",
    "class_jump": "event",
    "annual_report_overdue": "state",
    "related_to_class": "state",
}


class ParamsError(ValueError):
    """A kind's parameters are invalid; carries the inner errors for line mapping."""

    def __init__(self, exc: ValidationError) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
        self.errors = exc.errors(include_url=False, include_input=False)


class Rule(_Strict):
    id: Annotated[str, Field(pattern=ID_RE)]
    version: int = Field(1, ge=1)
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    kind: Kind
    severity: Severity
    dispatch_at: DispatchAt | None = Field(None, description="severity from which a task is raised")
    params: dict[str, Any] = Field(default_factory=dict)
    requires: list[str] = Field(
        description="the inputs the rule depends on (data-gap alert instead of firing without them)"
    )
    rationale: str = Field(min_length=20)

    @field_validator("requires")
    @classmethod
    def _requires(cls, v: list[str]) -> list[str]:
        for text in v:
            Requirement.parse(text)
        if len(set(v)) != len(v):
            raise ValueError("requirements must be unique")
        return v

    @property
    def requirements(self) -> tuple[Requirement, ...]:
        return tuple(Requirement.parse(t) for t in self.requires)

    @property
    def lifecycle(self) -> str:
        return KIND_LIFECYCLE[self.kind]

    @model_validator(mode="after")
    def _params(self) -> Rule:
        try:
            KIND_PARAMS[self.kind].model_validate(self.params)
        except ValidationError as exc:
            # Re-raised with the parameter's location so the message points at its line.
            raise ParamsError(exc) from None
        return self

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def typed_params(self) -> Any:
        return KIND_PARAMS[self.kind].model_validate(self.params)


class Defaults(_Strict):
    dispatch_at: DispatchAt = "high"


class RuleSet(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{2,63}$")]
    version: Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)*$")]
    description: str = ""
    defaults: Defaults = Defaults()
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> RuleSet:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rule ids must be unique; repeated: {', '.join(dupes)}")
        return self

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise ConfigError(f"rule set {self.ref} has no rule {rule_id!r}", field="rule")

    def dispatch_at(self, rule: Rule) -> str:
        return rule.dispatch_at or self.defaults.dispatch_at


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def dispatches(severity: str, threshold: str) -> bool:
    """True when a warning of ``severity`` becomes an inspection task under ``threshold``."""
    return threshold != "never" and severity_rank(severity) >= severity_rank(threshold)


def _line_map(text: str) -> dict[tuple[Any, ...], int]:
    """YAML path (keys and list indices) → 1-based line, for error messages."""
    out: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        out[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                out[(*path, k.value)] = k.start_mark.line + 1
                walk(v, (*path, k.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, (*path, i))

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, ())
    return out


def _nearest_line(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def parse_rules(text: str, *, source: str = "<text>") -> RuleSet:
    """Parse and validate a rule-set document; every problem is reported with its line."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ConfigError(f"{where}: not valid YAML: {exc}", field="rules") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a rule set must be a mapping", field="rules")
    try:
        return RuleSet.model_validate(raw)
    except ValidationError as exc:
        lines = _line_map(text)
        problems = []
        for e in exc.errors(include_url=False, include_input=False):
            inner = (e.get("ctx") or {}).get("error")
            found = (
                [((*e["loc"], "params", *i["loc"]), i["msg"]) for i in inner.errors]
                if isinstance(inner, ParamsError)
                else [(tuple(e["loc"]), e["msg"])]
            )
            for loc, msg in found:
                line = _nearest_line(lines, loc)
                problems.append(
                    {"line": line, "field": ".".join(str(p) for p in loc) or "(root)", "problem": msg}
                )
        text_problems = "; ".join(f"{source}:{p['line']}: {p['field']}: {p['problem']}" for p in problems)
        raise ConfigError(f"invalid rule set: {text_problems}", field="rules", problems=problems) from None


def available() -> list[str]:
    return sorted(p.stem for p in RULES_DIR.glob("*.yaml"))


@lru_cache(maxsize=8)
def load_rules(rule_set: str = "samr-warnings") -> RuleSet:
    """A shipped rule set by id, or a YAML file by path."""
    path = Path(rule_set)
    if not (path.suffix in (".yaml", ".yml") and path.exists()):
        path = RULES_DIR / f"{rule_set}.yaml"
    if not path.exists():
        raise ConfigError(
            f"unknown warning rule set {rule_set!r}; shipped: {', '.join(available())}", field="rules"
        )
    return parse_rules(path.read_text(encoding="utf-8"), source=path.name)
