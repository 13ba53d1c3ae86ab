"""Why an entity got its class: the published row, the run that made it, and the model's rules."""

from __future__ import annotations

from typing import Any

import pyarrow.compute as pc

from functions import layout
from functions import uscc as uscc_mod
from functions.classify.load import load_system
from functions.errors import ConfigError, InvalidInput, NotFound
from functions.lake import Lake
from functions.objections.adjust import approved_adjustments


def explain(lake: Lake, uscc: str, month: str) -> dict[str, Any]:
    """The published classification of ``uscc`` for ``month`` with its reasons and provenance."""
    code = uscc.strip().upper()
    if not uscc_mod.is_well_formed(code):
        raise InvalidInput(f"not a Unified Social Credit Code: {uscc!r}", field="uscc")
    if not layout.MONTH_RE.match(month):
        raise InvalidInput(f"month must be YYYY-MM, got {month!r}", field="month")
    province = uscc_mod.province_of(code)
    key = layout.classification_key(month, province)
    if not lake.exists(key):
        raise NotFound(f"no published classification for province {province} in {month}", field="month")
    table = lake.read_parquet(key)
    rows = table.filter(pc.equal(table.column("uscc"), code)).to_pylist()
    if not rows:
        raise NotFound(
            f"{code} was not classified in {month} (unknown, cancelled or moved out)", field="uscc"
        )
    row = rows[0]
    pointer: dict[str, Any] = {}
    if lake.exists(layout.classification_pointer_key(month, province)):
        pointer = lake.read_json(layout.classification_pointer_key(month, province))
    manifest_key = f"{layout.run_prefix(row['run_id'])}/manifest.json"
    manifest = lake.read_json(manifest_key) if lake.exists(manifest_key) else {}
    out: dict[str, Any] = {
        "uscc": code,
        "month": month,
        "name": row["name"],
        "risk_class": row["risk_class"],
        "previous_class": row["previous_class"],
        "risk_score": row["risk_score"],
        "dimension_scores": row["dimension_scores"],
        "reasons": row["reasons"],
        "rules": row["rules"],
        "model": row["model"],
        "run_id": row["run_id"],
        "cutoff": manifest.get("cutoff") or pointer.get("cutoff"),
        "model_hash": (manifest.get("model_hashes") or {}).get(row["model"])
        or manifest.get("model_hash")
        or pointer.get("model_hash"),
    }
    adjustment = approved_adjustments(lake, month, province).get(code)
    # a field's sampling class combines the class to use: the adjusted one when approved (ADR 0145)
    general = str(adjustment["adjusted_class"] if adjustment else row["risk_class"])
    fields = _field_explanations(lake, month, province, code, general)
    if fields:  # the field classes beside the general one (docs/adr/0117)
        out["fields"] = fields
    if adjustment is not None:  # a manual adjustment approved by a second person (ADR 0113)
        out["adjustment"] = adjustment
    if pointer.get("correction"):
        out["correction"] = pointer["correction"]
    try:  # the exact version the row was classified with (docs/adr/0107)
        system = load_system(str(row["model"]))
    except ConfigError:
        return out
    if system.model_ref == row["model"]:
        labels = {r.code: r.label for r in system.rules}
        out["rule_labels"] = [labels.get(r, r) for r in row["rules"]]
        m = system.classes
        if m.method == "cutoffs" and m.cutoffs:
            out["class_mapping"] = (
                f"score ≥ {m.cutoffs['B']:g} → B, ≥ {m.cutoffs['C']:g} → C, ≥ {m.cutoffs['D']:g} → D"
            )
        elif m.method == "shares" and m.shares:
            out["class_mapping"] = "target shares " + ", ".join(f"{k} {v:.0%}" for k, v in m.shares.items())
        else:
            out["class_mapping"] = "A unless a hard rule fires"
    return out


def _field_explanations(
    lake: Lake, month: str, province: str, code: str, general_class: str
) -> dict[str, dict[str, Any]]:
    """Each professional field the entity is classified in: its class, reasons and rules, and
    its sampling class in that field (the combination rule)."""
    from functions.classify.fields import stricter
    from functions.sampling.lookup import field_rows

    out: dict[str, dict[str, Any]] = {}
    for name, row in field_rows(lake, month, province, code).items():
        out[name] = {
            "risk_class": row["risk_class"],
            "sampling_class": stricter(general_class, str(row["risk_class"])),
            "previous_class": row["previous_class"],
            "risk_score": row["risk_score"],
            "reasons": row["reasons"],
            "rules": row["rules"],
            "model": row["model"],
            "run_id": row["run_id"],
        }
    return out


def render(info: dict[str, Any]) -> str:
    """A human-readable explanation (the CLI prints this)."""
    lines = [
        f"{info['uscc']} {info['name']} — {info['month']}: class {info['risk_class']}"
        + (f" (previous month {info['previous_class']})" if info.get("previous_class") else ""),
        f"  risk score {info['risk_score']:.2f} / 100 under {info['model']} "
        f"(run {info['run_id']}, cutoff {info.get('cutoff')})",
    ]
    adj = info.get("adjustment")
    if adj:
        lines.append(
            f"  MANUALLY ADJUSTED to class {adj['adjusted_class']} (model class {adj['model_class']}): "
            f"{adj['reason']} — proposed by {adj['proposed_by']}, approved by {adj['approved_by']} "
            f"({adj['adjustment_id']})"
        )
    if info.get("correction"):
        lines.append(f"  correction run after objection {info['correction'].get('objection_id')}")
    if info.get("class_mapping"):
        lines.append(f"  class mapping: {info['class_mapping']}")
    lines.append(
        "  dimension scores: " + ", ".join(f"{k} {v:.2f}" for k, v in info["dimension_scores"].items())
    )
    if info["rules"]:
        lines.append("  hard rules fired:")
        for code, label in zip(info["rules"], info.get("rule_labels", info["rules"]), strict=False):
            lines.append(f"    - {code}: {label}")
    else:
        lines.append("  no hard rule fired")
    if info["reasons"]:
        lines.append("  top contributing indicators:")
        for r in info["reasons"]:
            lines.append(f"    - {r['code']} {r['label']}: {r['points']:.2f} points")
    else:
        lines.append("  no indicator contributed points")
    lines.extend(_render_fields(info))
    return "\n".join(lines)


def _render_fields(info: dict[str, Any]) -> list[str]:
    """The general and each field's reasons side by side, one column each."""
    fields: dict[str, dict[str, Any]] = info.get("fields") or {}
    if not fields:
        return ["  professional fields: not in any field's population"]
    lines = ["  general and professional-field classes (sampling in a field takes the stricter):"]
    columns = {"general": info}
    columns.update(fields)
    heads = [
        f"{name}: {c['risk_class']}"
        + (f" (sampling {c['sampling_class']})" if "sampling_class" in c else "")
        + f" {c['risk_score']:.2f}"
        for name, c in columns.items()
    ]
    cells = [
        [f"{r['code']} {r['points']:.2f}" for r in c["reasons"]] + [f"rule {x}" for x in c["rules"]]
        for c in columns.values()
    ]
    width = max(len(x) for x in heads + [y for col in cells for y in col]) + 2
    lines.append("    " + "".join(h.ljust(width) for h in heads).rstrip())
    for i in range(max(len(col) for col in cells)):
        lines.append(
            "    " + "".join((col[i] if i < len(col) else "").ljust(width) for col in cells).rstrip()
        )
    return lines
