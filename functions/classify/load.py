"""Load and fully validate an indicator system; every problem points at ``file:line``.

YAML is composed (not just parsed) so each node keeps its start mark; pydantic errors and our own
semantic checks carry a path into the document, which we map back to a line. All problems are
collected and reported together (one ``ConfigError`` listing them), never only the first.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

import sqlglot
import yaml
from pydantic import ValidationError
from sqlglot import exp

from functions.classify.system import Indicator, System
from functions.errors import ConfigError
from schemas.datasets import DATASETS

logger = logging.getLogger(__name__)

Path_ = tuple[str | int, ...]
PLACEHOLDERS = ("period_end", "period_start")
SHIPPED_PACKAGE = "functions.classify.systems"
# date_diff counts complete units on Trino but boundaries on DuckDB; date_add returns DATE on Trino
# but TIMESTAMP on DuckDB (ADR 0032): user expressions may not use them.
UNPORTABLE: tuple[type[exp.Expression], ...] = (
    exp.DateDiff,
    exp.DateAdd,
    exp.DateSub,
    exp.TsOrDsAdd,
    exp.TimestampDiff,
)


# libyaml's loader when PyYAML was built with it (the wheels are): composing is most of the cost
# of loading a system, and a run loads one before anything else
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _to_python(node: yaml.Node, path: Path_, lines: dict[Path_, int], scalar: Any) -> Any:
    """The node as plain Python, recording the line of every path on the way (``scalar`` builds
    a scalar node's value with the safe loader's own rules)."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.MarkedYAMLError(
                    problem="a key must be a plain value", problem_mark=key_node.start_mark
                )
            key = scalar(key_node)
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, (*path, key), lines, scalar)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*path, i), lines, scalar) for i, item in enumerate(node.value)]
    return scalar(node)


def _line(lines: dict[Path_, int], path: Path_) -> int:
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def parse_system(text: str, source: str = "<system>") -> System:
    """Parse and validate YAML text; raise one ``ConfigError`` naming every problem with its line."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(f"{source}:{line}: not valid YAML: {exc}", field="system") from None
    if node is None:
        raise ConfigError(f"{source}:1: empty indicator system", field="system")
    lines: dict[Path_, int] = {}
    try:
        data = _to_python(node, (), lines, yaml.constructor.SafeConstructor().construct_object)
    except yaml.YAMLError as exc:  # e.g. a key that is itself a mapping
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(f"{source}:{line}: not valid YAML: {exc}", field="system") from None
    problems: list[tuple[int, str]] = []
    try:
        system = System.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            loc = tuple(err["loc"])
            where = ".".join(str(p) for p in loc)
            problems.append((_line(lines, loc), f"{where}: {err['msg']}"))
        _raise(source, problems)
        raise AssertionError("unreachable") from None
    for path, message in check_system(system):
        problems.append((_line(lines, path), message))
    _raise(source, problems)
    return system


def _raise(source: str, problems: list[tuple[int, str]]) -> None:
    if problems:
        problems.sort()
        text = "\n".join(f"{source}:{line}: {msg}" for line, msg in problems)
        raise ConfigError(
            f"invalid indicator system ({len(problems)} problem(s)):\n{text}",
            field="system",
            problems=[{"line": line, "problem": msg} for line, msg in problems],
        )


def check_system(system: System) -> list[tuple[Path_, str]]:
    """Semantic checks pydantic cannot express; returns (path, message) pairs."""
    problems: list[tuple[Path_, str]] = []
    _check_weights(system.indicators, ("indicators",), problems)
    codes: dict[str, Path_] = {}

    def walk(ind: Indicator, path: Path_, dim: str | None) -> None:
        if ind.code in codes:
            problems.append(((*path, "code"), f"indicator code {ind.code} is used twice"))
        codes[ind.code] = path
        if ind.dimension and dim and ind.dimension != dim:
            problems.append(
                (
                    (*path, "dimension"),
                    f"{ind.code}: dimension {ind.dimension} differs from its parent's {dim}",
                )
            )
        d = ind.dimension or dim
        if d is None:
            problems.append((path, f"{ind.code}: a top-level indicator needs a dimension"))
        if ind.children:
            if ind.definition or ind.scoring:
                problems.append(
                    (path, f"{ind.code}: a group indicator has children, not a definition/scoring")
                )
            _check_weights(ind.children, (*path, "children"), problems)
            for i, child in enumerate(ind.children):
                walk(child, (*path, "children", i), d)
        else:
            if ind.definition is None or ind.scoring is None:
                problems.append((path, f"{ind.code}: a leaf indicator needs a definition and a scoring"))
            else:
                problems.extend(_check_definition(ind, path))
                problems.extend(_check_scoring(ind, path))

    for i, top in enumerate(system.indicators):
        walk(top, ("indicators", i), None)
    leaf_codes = {ind.code for ind, _, _ in system.leaves()}
    for i, rule in enumerate(system.rules):
        problems.extend(
            _check_sql(
                rule.when, leaf_codes, ("rules", i, "when"), f"rule {rule.code}", "indicator code", upper=True
            )
        )
    problems.extend(_check_classes(system))
    problems.extend(_check_field(system))
    return problems


def _check_field(system: System) -> list[tuple[Path_, str]]:
    """A field system names a known field whose system it is; its population definitions are
    plain counts over known columns (checked like an indicator's)."""
    from schemas.fields import FIELDS

    if system.field is None:
        return []
    path: Path_ = ("field",)
    known = FIELDS.get(system.field.name)
    if known is None:
        return [((*path, "name"), f"unknown field {system.field.name!r}; known: {', '.join(FIELDS)}")]
    problems: list[tuple[Path_, str]] = []
    if known.system != system.id:
        problems.append(
            (
                (*path, "name"),
                f"field {system.field.name} is classified by system {known.system}, not {system.id}",
            )
        )
    for i, d in enumerate(system.field.population):
        where = (*path, "population", i)
        if d.aggregate != "count" or d.dataset == "entities":
            problems.append((where, "a population definition counts rows of a record dataset"))
            continue
        probe = Indicator(code="POPULATION", label_zh="-", label_en="-", weight=1, definition=d)
        for p, message in _check_definition(probe, where):
            problems.append(((*where, *p[len(where) + 1 :]), message.replace("POPULATION: ", "population: ")))
    return problems


def _check_weights(items: list[Indicator], path: Path_, problems: list[tuple[Path_, str]]) -> None:
    total = sum(i.weight for i in items)
    if abs(total - 1.0) > 1e-6:
        codes = ", ".join(i.code for i in items)
        problems.append((path, f"weights of {codes} sum to {total:g}, not 1"))


def _check_definition(ind: Indicator, path: Path_) -> list[tuple[Path_, str]]:
    assert ind.definition is not None
    d = ind.definition
    dpath = (*path, "definition")
    spec = DATASETS.get(d.dataset)
    if spec is None:
        return [
            ((*dpath, "dataset"), f"{ind.code}: unknown dataset {d.dataset!r}; known: {', '.join(DATASETS)}")
        ]
    problems: list[tuple[Path_, str]] = []
    columns = set(spec.columns)
    if d.aggregate == "value" and d.dataset != "entities":
        problems.append(
            ((*dpath, "aggregate"), f"{ind.code}: aggregate 'value' only reads the entities dataset")
        )
    if d.aggregate != "count" and not d.expression:
        problems.append((dpath, f"{ind.code}: aggregate {d.aggregate} needs an expression"))
    if d.date_column is not None and (
        d.date_column not in columns or spec.column(d.date_column).type != "date"
    ):
        problems.append(
            (
                (*dpath, "date_column"),
                f"{ind.code}: {d.date_column!r} is not a date column of {d.dataset}",
            )
        )
    if d.window_months is not None and d.dataset == "entities":
        problems.append(
            ((*dpath, "window_months"), f"{ind.code}: entities has one row per entity; no window")
        )
    for field in ("expression", "where"):
        text = getattr(d, field)
        if text:
            problems.extend(_check_sql(text, columns, (*dpath, field), ind.code, f"column of {d.dataset}"))
    return problems


def _check_sql(
    text: str, allowed: set[str], path: Path_, who: str, what: str, *, upper: bool = False
) -> list[tuple[Path_, str]]:
    try:
        tree = sqlglot.parse_one(text, read="trino")
    except sqlglot.errors.ParseError as exc:
        return [(path, f"{who}: cannot parse {text!r} as Trino SQL: {str(exc).splitlines()[0]}")]
    problems: list[tuple[Path_, str]] = []
    if tree.find(exp.Select, exp.Subquery) is not None:
        problems.append((path, f"{who}: sub-queries are not allowed in {text!r}"))
    for func in tree.find_all(*UNPORTABLE):
        problems.append(
            (
                path,
                f"{who}: {func.sql(dialect='trino')!r} behaves differently on Athena and DuckDB; "
                "compare dates with period_end/period_start or a window instead",
            )
        )
    names = set(allowed) | set(PLACEHOLDERS)
    for column in tree.find_all(exp.Column):
        name = column.name
        if (name.upper() if upper else name) not in names and name not in names:
            problems.append((path, f"{who}: unknown {what} {name!r} in {text!r}"))
    return problems


def _check_scoring(ind: Indicator, path: Path_) -> list[tuple[Path_, str]]:
    assert ind.scoring is not None
    s = ind.scoring
    spath = (*path, "scoring")
    if (s.bins is None) == (s.linear is None):
        return [(spath, f"{ind.code}: give exactly one of bins or linear")]
    problems: list[tuple[Path_, str]] = []
    if s.bins is not None:
        bins = s.bins
        if not bins:
            return [((*spath, "bins"), f"{ind.code}: bins are empty")]
        for i, b in enumerate(bins):
            if b.max is not None and b.max <= b.min:
                problems.append(((*spath, "bins", i), f"{ind.code}: bin [{b.min:g}, {b.max:g}) is empty"))
            if b.max is None and i != len(bins) - 1:
                problems.append(((*spath, "bins", i), f"{ind.code}: only the last bin may be open-ended"))
        for i in range(1, len(bins)):
            prev, cur = bins[i - 1], bins[i]
            if prev.max is None:
                continue
            if cur.min < prev.max:
                problems.append(
                    (
                        (*spath, "bins", i),
                        f"{ind.code}: bin starting at {cur.min:g} overlaps the one ending at {prev.max:g}",
                    )
                )
            elif cur.min > prev.max:
                problems.append(
                    ((*spath, "bins", i), f"{ind.code}: gap between {prev.max:g} and {cur.min:g}")
                )
    return problems


def _check_classes(system: System) -> list[tuple[Path_, str]]:
    c = system.classes
    path: Path_ = ("classes",)
    if c.method == "cutoffs":
        if not c.cutoffs or set(c.cutoffs) != {"B", "C", "D"}:
            return [((*path, "cutoffs"), "cutoffs needs exactly B, C and D")]
        values = [c.cutoffs[k] for k in ("B", "C", "D")]
        if not all(0 < v <= 100 for v in values):
            return [((*path, "cutoffs"), f"cut-offs must lie in (0, 100]: {values}")]
        if not values[0] < values[1] < values[2]:
            return [
                (
                    (*path, "cutoffs"),
                    f"cut-offs out of order: B {values[0]:g}, C {values[1]:g}, D {values[2]:g}",
                )
            ]
    elif c.method == "shares":
        if not c.shares or set(c.shares) != {"A", "B", "C", "D"}:
            return [((*path, "shares"), "shares needs exactly A, B, C and D")]
        if any(v < 0 for v in c.shares.values()) or abs(sum(c.shares.values()) - 1) > 1e-6:
            return [((*path, "shares"), f"shares must be ≥ 0 and sum to 1 (got {sum(c.shares.values()):g})")]
    elif c.cutoffs or c.shares:
        return [(path, "method 'rules' takes no cutoffs or shares")]
    return []


def load_system_file(path: str | Path) -> System:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read indicator system {p}: {exc}", field="system") from exc
    return parse_system(text, str(p))


def shipped_system_ids() -> list[str]:
    """Ids of the shipped systems (each may ship several versions)."""
    return sorted(
        f.name[: -len(".yaml")]
        for f in resources.files(SHIPPED_PACKAGE).iterdir()
        if f.name.endswith(".yaml") and "@" not in f.name
    )


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _shipped(name: str) -> System:
    res = resources.files(SHIPPED_PACKAGE).joinpath(name)
    return parse_system(res.read_text(encoding="utf-8"), name)


def shipped_versions(system_id: str) -> dict[str, str]:
    """version → file of every shipped version of ``system_id``, oldest first.

    ``<id>.yaml`` holds the version first published under the bare id; later versions are
    published beside it as ``<id>@<version>.yaml`` and never edited (docs/adr/0107)."""
    found: dict[str, str] = {}
    for f in resources.files(SHIPPED_PACKAGE).iterdir():
        if f.name == f"{system_id}.yaml":
            found[_shipped(f.name).version] = f.name
        elif f.name.startswith(f"{system_id}@") and f.name.endswith(".yaml"):
            found[f.name[len(system_id) + 1 : -len(".yaml")]] = f.name
    return dict(sorted(found.items(), key=lambda kv: _version_key(kv[0])))


def load_system(system_id: str) -> System:
    """A shipped system by ``id`` (its newest version: what the monthly run uses by default,
    docs/adr/0107) or ``id@version``, or a path to a YAML file."""
    if system_id.endswith((".yaml", ".yml")) or "/" in system_id:
        return load_system_file(system_id)
    base, _, version = system_id.partition("@")
    if base not in shipped_system_ids():
        raise ConfigError(
            f"unknown indicator system {base!r}; shipped: {', '.join(shipped_system_ids())}",
            field="system",
        )
    versions = shipped_versions(base)
    if version and version not in versions:
        raise ConfigError(
            f"indicator system {base} has no version {version!r}; shipped: {', '.join(versions)}",
            field="system",
        )
    chosen = version or list(versions)[-1]
    system = _shipped(versions[chosen])
    if system.id != base or system.version != chosen:
        raise ConfigError(
            f"{versions[chosen]} declares {system.model_ref}, not {base}@{chosen}", field="system"
        )
    return system
