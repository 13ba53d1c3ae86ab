"""Cut-off suggestions: a new system version for a target class mix or a target D finding rate.

The output is always a new YAML file (the source version's text with its ``version`` and
``cutoffs`` replaced and a change note on top), validated like any shipped system; the source
is never edited (docs/adr/0108). Inputs are engine aggregates: entities per score value of a
month, and inspections/problems per score value from the backtest.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from functions.analysis import stats
from functions.analysis.backtest import PUBLISHED, Classes
from functions.classify.load import SHIPPED_PACKAGE, parse_system, shipped_system_ids, shipped_versions
from functions.classify.system import System
from functions.errors import InvalidInput

CLASS_ORDER = ("A", "B", "C", "D")
_CUTOFFS_LINE = re.compile(r"^(?P<indent>[ \t]*)cutoffs:[ \t]*\{[^}\n]*\}[ \t]*$", re.MULTILINE)
_VERSION_LINE = re.compile(r"^version:[ \t]*.*$", re.MULTILINE)


def score_counts_sql(province: str, month: str, table: Classes = PUBLISHED) -> str:
    """Entities per score value of one month (``table``: the general or a field's results)."""
    where = table.where(f"province = '{province}' AND month = '{month}'")
    return f"SELECT risk_score, count(*) AS n FROM {table.table} WHERE {where} GROUP BY 1"


def projected_mix(scores: Sequence[tuple[float, int]], cutoffs: Mapping[str, float]) -> dict[str, float]:
    """Class shares the cut-offs give on a score distribution (before hard rules)."""
    total = sum(n for _, n in scores) or 1
    out = dict.fromkeys(CLASS_ORDER, 0.0)
    for s, n in scores:
        cls = "D" if s >= cutoffs["D"] else "C" if s >= cutoffs["C"] else "B" if s >= cutoffs["B"] else "A"
        out[cls] += n / total
    return out


def parse_mix(text: str) -> dict[str, float]:
    """``A=0.7,B=0.2,C=0.07,D=0.03`` → shares (must name A–D and sum to 1)."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, value = part.partition("=")
        try:
            out[name.strip().upper()] = float(value)
        except ValueError:
            raise InvalidInput(
                f"bad class share {part!r} (expected e.g. A=0.7)", field="target_mix"
            ) from None
    if set(out) != set(CLASS_ORDER) or any(v < 0 for v in out.values()) or abs(sum(out.values()) - 1) > 1e-6:
        raise InvalidInput("--target-mix needs A, B, C and D shares ≥ 0 summing to 1", field="target_mix")
    return out


def cutoffs_for_mix(scores: Sequence[tuple[float, int]], mix: Mapping[str, float]) -> dict[str, float]:
    """Cut-offs whose score bands hold the shares closest to ``mix`` (before hard rules).

    ``scores``: (score, entities) per distinct score. A cut-off is a score value present in the
    data: everyone at or above it is at least that class."""
    total = sum(n for _, n in scores)
    if not total:
        raise InvalidInput("no classified entities to set cut-offs on", field="target_mix")
    ordered = sorted(scores, key=lambda c: -c[0])
    # share of entities at or above each distinct score, from the top
    above: list[tuple[float, float]] = []
    acc = 0
    for s, n in ordered:
        acc += n
        above.append((s, acc / total))
    out: dict[str, float] = {}
    target = 0.0
    for cls in ("D", "C", "B"):
        target += mix[cls]
        s, _ = min(above, key=lambda a: (abs(a[1] - target), -a[0]))
        out[cls] = round(max(s, 0.0001), 4)
    out = {c: out[c] for c in ("B", "C", "D")}
    if not (0 < out["B"] < out["C"] < out["D"] <= 100):
        raise InvalidInput(
            f"the scores are too coarse for that mix (cut-offs would be B {out['B']:g}, "
            f"C {out['C']:g}, D {out['D']:g})",
            field="target_mix",
        )
    return out


def cutoff_for_d_rate(
    cells: Sequence[tuple[float, int, int]], target: float, current: Mapping[str, float]
) -> tuple[float, dict[str, Any]]:
    """The lowest D cut-off whose inspections (score ≥ it) found problems at ``target`` or
    more, over at least ``stats.MIN_RATE_N`` inspections; with that rate and its interval."""
    if not 0 < target <= 1:
        raise InvalidInput("--target-d-rate must lie in (0, 1]", field="target_d_rate")
    best: tuple[float, int, int] | None = None
    n = k = 0
    for s, cn, ck in sorted(cells, key=lambda c: -c[0]):
        n, k = n + cn, k + ck
        if n >= stats.MIN_RATE_N and k / n >= target and s > current["C"]:
            best = (s, n, k)
    if best is None:
        raise InvalidInput(
            f"no D cut-off above C {current['C']:g} reaches a finding rate of {target:.0%} over at "
            f"least {stats.MIN_RATE_N} inspections",
            field="target_d_rate",
        )
    s, n, k = best
    return round(s, 4), stats.rate(k, n)


def next_version(system_id: str, version: str) -> str:
    """The next minor version not shipped yet (``1.2`` → ``1.3``)."""
    taken = set(shipped_versions(system_id)) if system_id in shipped_system_ids() else set()
    parts = [int(p) for p in version.split(".")] + [0]
    major, minor = parts[0], parts[1]
    while True:
        minor += 1
        candidate = f"{major}.{minor}"
        if candidate not in taken:
            return candidate


def source_text(system: System, path: str | None = None) -> str:
    """The YAML the system was loaded from (a file path, or the shipped version)."""
    if path and (path.endswith((".yaml", ".yml")) or "/" in path):
        return Path(path).read_text(encoding="utf-8")
    name = shipped_versions(system.id)[system.version]
    return resources.files(SHIPPED_PACKAGE).joinpath(name).read_text(encoding="utf-8")


def new_version_text(
    text: str, system: System, cutoffs: Mapping[str, float], *, version: str, note: str
) -> tuple[str, System]:
    """``text`` as a new version with ``cutoffs``; validated (a ``ConfigError`` otherwise)."""
    if system.classes.method != "cutoffs":
        raise InvalidInput(
            f"{system.model_ref} maps classes by {system.classes.method}, not cut-offs", field="system"
        )
    if len(_CUTOFFS_LINE.findall(text)) != 1 or len(_VERSION_LINE.findall(text)) != 1:
        raise InvalidInput(
            "the system file needs one `version:` line and one `cutoffs: {B: …, C: …, D: …}` line",
            field="system",
        )
    values = ", ".join(f"{c}: {cutoffs[c]:g}" for c in ("B", "C", "D"))
    out = _CUTOFFS_LINE.sub(lambda m: f"{m.group('indent')}cutoffs: {{{values}}}", text)
    out = _VERSION_LINE.sub(f'version: "{version}"', out)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    header = f"# {version} ({today}, from {system.model_ref}): {note}\n"
    out = header + out
    return out, parse_system(out, f"{system.id}@{version}.yaml")
