"""The indicator table of a system as Markdown (docs/indicator-systems/ embed it; a test keeps
the documents in sync with the YAML)."""

from __future__ import annotations

from functions.classify.system import Indicator, System
from schemas.datasets import DATASETS
from schemas.results import DIMENSION_LABELS

BEGIN = "<!-- indicator-table:begin (generated from the YAML; do not edit by hand) -->"
END = "<!-- indicator-table:end -->"


def _definition(ind: Indicator) -> str:
    d = ind.definition
    if d is None:
        return ""
    what = "count" if d.aggregate == "count" else f"{d.aggregate}(`{d.expression}`)"
    parts = [f"{what} over `{d.dataset}`"]
    if d.where:
        parts.append(f"where `{' '.join(d.where.split())}`")
    if d.window_months:
        parts.append(
            f"in the last {d.window_months} months" + (f" by `{d.date_column}`" if d.date_column else "")
        )
    return "; ".join(parts).replace("|", "\\|")


def _points(ind: Indicator) -> str:
    s = ind.scoring
    if s is None:
        return ""
    if s.linear is not None:
        lin = s.linear
        off = f" − {lin.offset:g}" if lin.offset else ""
        return f"min({lin.cap:g}, max(0, (v{off}) × {lin.slope:g}))"
    assert s.bins is not None
    return "; ".join(f"[{b.min:g}, {'∞' if b.max is None else f'{b.max:g}'}) → {b.points:g}" for b in s.bins)


def indicator_table(system: System) -> str:
    weights = {ind.code: (w, dim) for ind, w, dim in system.leaves()}
    rows = [
        "| Level | Code | 中文 | English | Dimension | Definition | Points | Weight (effective) | Why |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    dim_of: dict[str, str] = {}
    for ind, level in system.all_indicators():
        dim = ind.dimension or dim_of.get(ind.code, "")
        for child in ind.children:
            dim_of[child.code] = dim
        zh, en = DIMENSION_LABELS.get(dim, ("", dim))
        eff = weights.get(ind.code, (None, ""))[0]
        weight = f"{ind.weight:g}" + (f" ({eff:.4g})" if eff is not None else "")
        rows.append(
            f"| {level} | `{ind.code}` | {ind.label_zh} | {ind.label_en} | {zh} {en} | {_definition(ind)} | "
            f"{_points(ind)} | {weight} | {' '.join(ind.why.split())} |"
        )
    rows.append("")
    rows.append("| Hard rule | When | Class | Mode |")
    rows.append("| --- | --- | --- | --- |")
    for r in system.rules:
        rows.append(f"| `{r.code}` {r.label} | `{r.when}` | {r.risk_class} | {r.mode.replace('_', ' ')} |")
    m = system.classes
    if m.method == "cutoffs" and m.cutoffs:
        c = m.cutoffs
        mapping = f"fixed cut-offs: score ≥ {c['B']:g} → B, ≥ {c['C']:g} → C, ≥ {c['D']:g} → D"
    elif m.method == "shares" and m.shares:
        mapping = "target shares: " + ", ".join(f"{k} {v:.0%}" for k, v in m.shares.items())
    else:
        mapping = "by hard rules only: A unless a rule fires"
    rows.append("")
    rows.append(f"Class mapping: {mapping}. Model: `{system.model_ref}`.")
    if system.field is not None:
        rows.append("")
        rows.append(
            f"Population (field `{system.field.name}`, docs/adr/0118): the entities for which any of "
            "these counts at least one row; only they are classified."
        )
        rows.append("")
        for d in system.field.population:
            probe = Indicator(code="POPULATION", label_zh="-", label_en="-", weight=1, definition=d)
            rows.append(f"- {_definition(probe)}")
    rows.append("")
    rows.extend(conventions(system))
    return "\n".join([BEGIN, *rows, END])


def conventions(system: System) -> list[str]:
    """What the compiler does that the table cannot show: the order of reasons and how a record
    without a date counts (generated, so it cannot go stale)."""
    from functions.classify.compile import MAX_REASONS

    undated: list[str] = []
    dated: list[str] = []
    for ind, _, _ in system.leaves():
        d = ind.definition
        if d is None or d.dataset not in DATASETS:
            continue
        spec = DATASETS[d.dataset]
        column = d.date_column or spec.event_date
        if spec.column(column).required or spec.date_is_fulfilment:
            continue
        (undated if d.window_months else dated).append(f"`{ind.code}` (`{d.dataset}.{column}`)")
    lines = [
        f"Reasons: the {MAX_REASONS} leaves with the most weighted points (zero points never "
        "show); equal points are ordered by indicator code, A to Z.",
        "Undated records: a record whose date is empty is kept at every period end (the as-of "
        "view reads it as on or before the period end).",
    ]
    if undated:
        lines.append(
            "It never counts for a windowed indicator, whose window needs a date inside it: "
            + ", ".join(undated)
            + "."
        )
    if dated:
        lines.append("It counts for an indicator without a window: " + ", ".join(dated) + ".")
    return [f"- {line}" for line in lines]


def sync(text: str, system: System) -> str:
    """``text`` with its generated table replaced by the current one."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + indicator_table(system) + tail
