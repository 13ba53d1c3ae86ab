"""Mapping profiles: which uploaded header is which contract column, as data (docs/adr/0080).

A profile (``schemas/profiles/national.yaml``, optionally overlaid by
``schemas/profiles/provinces/<PP>.yaml``) lists header synonyms per dataset, the personal-data
columns to drop, input *roles* (columns the contract lacks but derivations read, such as
行政相对人类别 or 罚款金额（万元）), value vocabularies and keyword tables. ``resolve_headers``
turns one file's header row into a ``ColumnPlan``; ``functions.ingest.normalise`` applies it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

import schemas
from functions.errors import ConfigError, FileRejected, InvalidInput
from functions.ingest.personal_data import mask_text
from schemas.datasets import DatasetSpec

PROFILE_DIR = Path(schemas.__file__).resolve().parent / "profiles"
_STRIP = re.compile(r"[\s_\-/]+")
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def norm_header(text: str) -> str:
    """Header matching key: NFKC (full-width brackets/letters → ASCII), no spaces/_/-//, lower case."""
    return _STRIP.sub("", unicodedata.normalize("NFKC", text)).lower()


def norm_value(text: str) -> str:
    """Vocabulary key: NFKC and trimmed (so full-width and half-width brackets and commas agree)."""
    return unicodedata.normalize("NFKC", text).strip()


@dataclass(frozen=True)
class KeywordTable:
    """Ordered (keyword, value) rules: the first keyword found in a value wins, else ``default``."""

    rules: tuple[tuple[str, str], ...]
    default: str | None = None


@dataclass(frozen=True)
class Derivation:
    column: str
    sources: tuple[str, ...]  # contract columns or roles read
    how: str  # one sentence, for the report and the contract document


@dataclass(frozen=True)
class DatasetProfile:
    columns: dict[str, tuple[str, ...]]  # contract column → accepted headers (as written in the profile)
    roles: dict[str, tuple[str, ...]]  # input role → accepted headers
    derive: dict[str, Derivation]
    vocabulary: dict[str, str]  # contract column → vocabulary name
    units: dict[str, str]  # column or role → unit its headers imply when they name none (wan | yuan)


@dataclass(frozen=True)
class OutOfScope:
    role: str
    values: tuple[str, ...]
    reason: str
    person_id_columns: tuple[str, ...] = ()

    @functools.cached_property
    def person_id_keys(self) -> frozenset[str]:
        return frozenset(norm_header(h) for h in self.person_id_columns)


@dataclass(frozen=True)
class Profile:
    name: str
    version: str
    personal_data_columns: tuple[str, ...]
    placeholders: tuple[str, ...]
    date_placeholders: tuple[str, ...]
    out_of_scope: OutOfScope | None
    vocabularies: dict[str, dict[str, str]]
    keywords: dict[str, KeywordTable]
    severity: dict[str, tuple[str, ...]]
    separators: tuple[str, ...]
    datasets: dict[str, DatasetProfile]
    industry_sections: dict[int, str]  # GB/T 4754 division → section letter
    sources: tuple[str, ...] = ()

    @functools.cached_property
    def personal_keys(self) -> frozenset[str]:
        return frozenset(norm_header(h) for h in self.personal_data_columns)

    def dataset(self, name: str) -> DatasetProfile:
        return self.datasets.get(name) or DatasetProfile({}, {}, {}, {}, {})

    def vocabulary(self, name: str) -> dict[str, str]:
        """Written value (NFKC, trimmed) → contract value."""
        return {norm_value(k): v for k, v in self.vocabularies.get(name, {}).items()}


@dataclass(frozen=True)
class PlannedColumn:
    header: str  # as uploaded
    target: str  # contract column or role
    role: bool  # True: an input role (kept as an extra column after use)
    # "contract": the contract's English name — the machine layout, values taken as written;
    # "alias": the contract's Chinese alias; "synonym": a profile synonym. Values under an alias
    # or a synonym are rewritten by the profile's vocabularies (docs/adr/0080).
    matched: Literal["contract", "alias", "synonym"]
    unit: str | None = None  # wan | yuan, for amounts


@dataclass(frozen=True)
class ColumnPlan:
    """How one file's columns become contract columns; recorded in the ingest report."""

    dataset: str
    profile: str
    profile_version: str
    headers: tuple[str, ...]  # uploaded headers, in order
    columns: tuple[PlannedColumn, ...]  # mapped contract columns and roles
    dropped_personal: tuple[str, ...]  # personal-data columns, dropped before anything else
    ignored: tuple[str, ...]  # headers neither mapped nor dropped (kept as extras, scanned)
    derived: dict[str, str] = field(default_factory=dict)  # contract column → how it was derived

    @property
    def header_mapping(self) -> dict[str, str]:
        """Uploaded header → contract column (roles as ``role:<name>``)."""
        return {c.header: (f"role:{c.target}" if c.role else c.target) for c in self.columns}

    @property
    def targets(self) -> dict[str, PlannedColumn]:
        return {c.target: c for c in self.columns}

    @property
    def is_identity(self) -> bool:
        """The file is in the contract's own layout: nothing to drop, derive or convert by unit."""
        return (
            not self.dropped_personal
            and not self.derived
            and all(not c.role and c.matched != "synonym" for c in self.columns)
        )


def _reject(reason: str, message: str, **details: Any) -> FileRejected:
    return FileRejected(mask_text(message), reason=reason, **details)


def _unit_of_header(header: str) -> str | None:
    h = unicodedata.normalize("NFKC", header)
    if "万元" in h or "万人民币" in h:
        return "wan"
    if "(元)" in h or "元)" in h:
        return "yuan"
    return None


def resolve_headers(headers: list[str], spec: DatasetSpec, profile: Profile) -> ColumnPlan:
    """Match uploaded headers to contract columns, roles, personal-data columns or extras.

    Raises ``FileRejected`` (``duplicate_column``, ``missing_column``) like the contract reader."""
    dp = profile.dataset(spec.name)
    own: dict[str, tuple[str, str]] = {}
    for f in spec.fields:
        own[norm_header(f.zh)] = (f.name, "alias")
        own[norm_header(f.name)] = (f.name, "contract")
    syn: dict[str, str] = {}
    for colname, hs in dp.columns.items():
        for h in hs:
            syn.setdefault(norm_header(h), colname)
    roles: dict[str, tuple[str, int]] = {}  # header key → (role, priority: its place in the list)
    for role, hs in dp.roles.items():
        for rank, h in enumerate(hs):
            roles.setdefault(norm_header(h), (role, rank))
    planned: list[PlannedColumn] = []
    dropped: list[str] = []
    ignored: list[str] = []
    seen: dict[str, str] = {}
    role_pick: dict[str, tuple[int, str]] = {}
    for raw in headers:
        key = norm_header(raw)
        if key in profile.personal_keys:
            dropped.append(raw)
            continue
        target, matched = own[key] if key in own else (syn.get(key), "synonym")
        if target is not None:
            if target in seen:
                raise _reject(
                    "duplicate_column",
                    f"columns {seen[target]!r} and {raw!r} both map to {target!r}",
                    column=target,
                )
            seen[target] = raw
            unit = _unit_of_header(raw) or dp.units.get(target)
            planned.append(PlannedColumn(raw, target, False, matched, unit))  # type: ignore[arg-type]
            continue
        if key in roles:
            role, rank = roles[key]
            best = role_pick.get(role)
            if best is None or rank < best[0]:
                if best is not None:
                    ignored.append(best[1])
                role_pick[role] = (rank, raw)
            else:
                ignored.append(raw)
            continue
        ignored.append(raw)
    # Two headers for one role (2021 CF_WFXW and 2016 CF_SY): the earlier synonym in the profile wins.
    for role, (_, raw) in role_pick.items():
        seen[f"role:{role}"] = raw
        planned.append(PlannedColumn(raw, role, True, "synonym", _unit_of_header(raw) or dp.units.get(role)))
    planned.sort(key=lambda c: headers.index(c.header))
    ignored.sort(key=headers.index)
    present = set(seen)
    # Derivations apply to exports only (some header matched a profile synonym or role): a file
    # in the contract's own layout is taken as it is, and a missing column there stays missing.
    derived: dict[str, str] = {}
    if any(c.role or c.matched == "synonym" for c in planned):
        for colname, d in dp.derive.items():
            if any(s in present or f"role:{s}" in present for s in d.sources if s != colname) or (
                colname in present and any(f"role:{s}" in present for s in d.sources)
            ):
                derived[colname] = d.how
    missing = [f.name for f in spec.fields if f.required and f.name not in present and f.name not in derived]
    if missing:
        raise _reject(
            "missing_column",
            "missing required column(s): " + ", ".join(f"{m} ({spec.column(m).zh})" for m in missing),
            columns=missing,
        )
    return ColumnPlan(
        dataset=spec.name,
        profile=profile.name,
        profile_version=profile.version,
        headers=tuple(headers),
        columns=tuple(planned),
        dropped_personal=tuple(dropped),
        ignored=tuple(ignored),
        derived=derived,
    )


# -- loading ---------------------------------------------------------------------------------


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: a mapping profile must be a YAML mapping")
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Overlay: mappings merge key by key, lists are extended (overlay entries first), scalars replace."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        elif isinstance(v, list) and isinstance(out.get(k), list):
            out[k] = (
                list(dict.fromkeys([*v, *out[k]])) if all(isinstance(x, str) for x in v) else [*v, *out[k]]
            )
        else:
            out[k] = v
    return out


def _strs(v: Any, where: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str | int) for x in v):
        raise ConfigError(f"{where}: expected a list of strings")
    return tuple(str(x) for x in v)


def _build(data: dict[str, Any], sources: tuple[str, ...]) -> Profile:
    try:
        datasets: dict[str, DatasetProfile] = {}
        for ds, body in (data.get("datasets") or {}).items():
            derive = {
                c: Derivation(c, _strs(d.get("from", []), f"{ds}.derive.{c}.from"), str(d.get("how", "")))
                for c, d in (body.get("derive") or {}).items()
            }
            datasets[ds] = DatasetProfile(
                columns={c: _strs(h, f"{ds}.columns.{c}") for c, h in (body.get("columns") or {}).items()},
                roles={r: _strs(h, f"{ds}.roles.{r}") for r, h in (body.get("roles") or {}).items()},
                derive=derive,
                vocabulary={str(c): str(v) for c, v in (body.get("vocabulary") or {}).items()},
                units={str(c): str(v) for c, v in (body.get("units") or {}).items()},
            )
        keywords = {
            name: KeywordTable(
                tuple((str(k), str(v)) for k, v in (t.get("rules") or [])),
                None if t.get("default") is None else str(t["default"]),
            )
            for name, t in (data.get("keywords") or {}).items()
        }
        oos = data.get("out_of_scope")
        sections: dict[int, str] = {}
        for letter, (lo, hi) in (data.get("industry_sections") or {}).items():
            for div in range(int(lo), int(hi) + 1):
                sections[div] = str(letter)
        return Profile(
            name=str(data["name"]),
            version=str(data["version"]),
            personal_data_columns=_strs(data.get("personal_data_columns", []), "personal_data_columns"),
            placeholders=_strs(data.get("placeholders", []), "placeholders"),
            date_placeholders=_strs(data.get("date_placeholders", []), "date_placeholders"),
            out_of_scope=None
            if not oos
            else OutOfScope(
                str(oos["role"]),
                _strs(oos["values"], "out_of_scope.values"),
                str(oos["reason"]),
                _strs(oos.get("person_id_columns", []), "out_of_scope.person_id_columns"),
            ),
            vocabularies={
                str(n): {str(k): str(v) for k, v in (m or {}).items()}
                for n, m in (data.get("vocabularies") or {}).items()
            },
            keywords=keywords,
            severity={str(n): _strs(v, f"severity.{n}") for n, v in (data.get("severity") or {}).items()},
            separators=_strs(data.get("separators", []), "separators"),
            datasets=datasets,
            industry_sections=sections,
            sources=sources,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"mapping profile {', '.join(sources)}: {exc!r}") from None


@functools.lru_cache(maxsize=64)
def load_profile(province: str | None = None, name: str = "national") -> Profile:
    """The named profile, with the province's overlay when ``provinces/<PP>.yaml`` exists."""
    if province is not None and not re.fullmatch(r"[0-9]{2}", province):
        raise InvalidInput(f"province must be a 2-digit code, not {province!r}", field="province")
    if not re.fullmatch(r"[a-z0-9_-]{1,40}", name):
        raise InvalidInput(f"not a profile name: {name!r}", field="name")
    base_path = PROFILE_DIR / f"{name}.yaml"
    if not base_path.is_file():
        raise ConfigError(f"no mapping profile {name!r} (looked for {base_path.name})")
    data = _read_yaml(base_path)
    sources = [f"schemas/profiles/{base_path.name}"]
    if province:
        over_path = PROFILE_DIR / "provinces" / f"{province}.yaml"
        if over_path.is_file():
            over = _read_yaml(over_path)
            version = f"{data.get('version')}+{province}.{over.pop('version', '0')}"
            over.pop("name", None)
            data = _merge(data, over)
            data["name"] = f"{data['name']}/{province}"
            data["version"] = version
            sources.append(f"schemas/profiles/provinces/{over_path.name}")
    return _build(data, tuple(sources))
