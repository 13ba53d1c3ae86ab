"""Calibration of the general and the professional-field systems on the synthetic province
(docs/adr/0146, 0154).

A system's classes of one month are compared with the later inspections (after the period end,
never seen by the classification; a field counts only its own domain): share, inspections and
finding rate per class, and the ROC AUC of the score. The same figures check the calibration
in ``tests/functional/test_calibration.py`` and fill the "Calibration" table of each system
document (between the markers below), so the documented numbers cannot go stale: one tool for
samr-general and the four fields, one reference province for all five.

``python -m functions.analysis.calibration docs`` rebuilds the reference province and
rewrites the tables; ``... suggest OUT_DIR`` reproduces the cut-offs of the published versions
on the (larger, other-seed) suggestion province with the cut-off suggestion mode
(``functions.analysis.suggest.cutoffs_for_mix``): new version files, never an edit in place.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.analysis.backtest import PROBLEM_RESULTS
from functions.analysis.metrics import auc
from functions.errors import ConfigError, InvalidInput, Unprocessable
from functions.months import month_end
from schemas.fields import FIELDS
from schemas.results import RISK_CLASSES

if TYPE_CHECKING:
    from functions.lake import Lake

BEGIN = "<!-- calibration-table:begin (generated: python -m functions.analysis.calibration docs) -->"
END = "<!-- calibration-table:end -->"
# the documented (and tested) province: the one samr-general 1.1 was checked on
REFERENCE = {"province": "42", "entities": 30_000, "months": 24, "seed": 2026, "end_month": "2026-11"}
REFERENCE_MONTH = "2026-05"
# where the cut-offs were suggested: another seed, more entities, the same month
SUGGESTION = {**REFERENCE, "entities": 100_000, "seed": 7}
TARGET_MIX = "A=0.75,B=0.17,C=0.06,D=0.02"
SOURCE_VERSION = "1.0"  # the reasoned version the cut-offs were suggested from (scores are the same)


@dataclass(frozen=True)
class ClassFigures:
    risk_class: str
    entities: int
    share: float
    inspections: int
    findings: int

    @property
    def rate(self) -> float | None:
        return self.findings / self.inspections if self.inspections else None


GENERAL = "general"  # the general system's key beside the field names
SYSTEMS = (GENERAL, *sorted(FIELDS))


@dataclass(frozen=True)
class Figures:
    system: str  # GENERAL or a field name
    model: str
    month: str
    province: str
    last_inspection: str | None
    classes: tuple[ClassFigures, ...]
    auc: float | None

    @property
    def population(self) -> int:
        return sum(c.entities for c in self.classes)

    @property
    def inspections(self) -> int:
        return sum(c.inspections for c in self.classes)

    @property
    def system_id(self) -> str:
        return self.model.partition("@")[0]

    def of(self, risk_class: str) -> ClassFigures:
        return next(c for c in self.classes if c.risk_class == risk_class)


def result_key(system: str, month: str, province: str) -> str:
    """Where the published classes of ``system`` (GENERAL or a field) lie."""
    if system == GENERAL:
        return layout.classification_key(month, province)
    return layout.field_classification_key(system, month, province)


def figures(lake: Lake, system: str, month: str, province: str) -> Figures:
    """The published classes of ``month`` against the inspections after it (a field: only its own)."""
    import duckdb

    if system != GENERAL and system not in FIELDS:
        raise InvalidInput(f"unknown system {system!r}: {', '.join(SYSTEMS)}", field="system")
    classes = _quoted(lake.path(result_key(system, month, province)))
    inspections = _quoted(lake.path(layout.curated_prefix("inspections", province)))
    own = (
        ""
        if system == GENERAL
        else " AND i.domain IN (" + ", ".join(f"'{d}'" for d in FIELDS[system].domains) + ")"
    )
    problems = ", ".join(f"'{r}'" for r in PROBLEM_RESULTS)
    con = duckdb.connect()
    try:
        mix = dict(
            con.execute(f"SELECT risk_class, count(*) FROM read_parquet('{classes}') GROUP BY 1").fetchall()
        )
        models = con.execute(f"SELECT DISTINCT model FROM read_parquet('{classes}')").fetchall()
        rows = con.execute(
            f"""SELECT c.risk_class, c.risk_score, i.result IN ({problems}), i.inspected_on
            FROM read_parquet('{inspections}/*/*.parquet') i JOIN read_parquet('{classes}') c USING (uscc)
            WHERE i.inspected_on > ?{own}""",
            [month_end(month)],
        ).fetchall()
    finally:
        con.close()
    if len(models) != 1:
        raise Unprocessable(f"{system} of {month} names {len(models)} models, not one", field="system")
    total = sum(mix.values())
    out = []
    for cls in RISK_CLASSES:
        hits = [bool(hit) for c, _, hit, _ in rows if c == cls]
        n = int(mix.get(cls, 0))
        out.append(ClassFigures(cls, n, n / total if total else 0.0, len(hits), sum(hits)))
    last = max((str(r[3]) for r in rows), default=None)
    return Figures(
        system=system,
        model=str(models[0][0]),
        month=month,
        province=province,
        last_inspection=last,
        classes=tuple(out),
        auc=auc([float(s) for _, s, _, _ in rows], [bool(h) for _, _, h, _ in rows]),
    )


def _quoted(path: str) -> str:
    return path.replace("'", "''")


def figures_table(fig: Figures) -> str:
    """The Markdown block of a system document (markers included)."""

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.1f}%"

    mix = ", ".join(f"{c} {float(v):.0%}" for c, v in (p.split("=") for p in TARGET_MIX.split(",")))
    if fig.system == GENERAL:
        origin = "Checked out of time:"
        scope = f"{fig.population:,} entities) against all its {fig.inspections:,} inspections (every domain)"
    else:
        origin = (
            f"Cut-offs suggested for the class mix {mix} on {REFERENCE_MONTH} of the suggestion province "
            f"({SUGGESTION['entities']:,} entities, seed {SUGGESTION['seed']}); checked here out of time:"
        )
        scope = (
            f"{fig.population:,} entities in the field) against its {fig.inspections:,} "
            "inspections of domain " + ", ".join(f"`{d}`" for d in FIELDS[fig.system].domains)
        )
    lines = [
        BEGIN,
        origin,
        f"`{fig.model}` on the synthetic province {fig.province} ({REFERENCE['entities']:,} entities, "
        f"seed {REFERENCE['seed']}), classified for {fig.month} ({scope}"
        + f" after {month_end(fig.month).isoformat()}"
        + (f" (to {fig.last_inspection})" if fig.last_inspection else "")
        + ".",
        "",
        "| Class | Share | Later inspections | Finding rate |",
        "| --- | --- | --- | --- |",
    ]
    for c in fig.classes:
        lines.append(f"| {c.risk_class} | {pct(c.share)} | {c.inspections:,} | {pct(c.rate)} |")
    lines.append("")
    lines.append(
        "ROC AUC of the risk score on those inspections: "
        + ("–" if fig.auc is None else f"{fig.auc:.2f}")
        + "."
    )
    lines.append(END)
    return "\n".join(lines)


def sync(text: str, fig: Figures) -> str:
    """``text`` with its calibration block replaced by ``fig``'s (the text must hold the markers)."""
    head, found, rest = text.partition(BEGIN)
    if not found or END not in rest:
        raise ConfigError("the document has no calibration-table markers", field="doc")
    _, _, tail = rest.partition(END)
    return head + figures_table(fig) + tail


def doc_path(system_id: str) -> Path:
    """The document of an indicator system (by id, e.g. ``samr-general``, ``food``)."""
    return Path(__file__).resolve().parents[2] / "docs" / "indicator-systems" / f"{system_id}.md"


def build_province(root: Path, params: dict[str, Any], month: str) -> Lake:
    """Generate, ingest and classify ``month`` with the general system and every field (the
    newest shipped versions)."""
    from functions.classify.run import classify_month
    from functions.generate.generate import generate_province
    from functions.ingest.pipeline import ingest_tree
    from functions.lake import Lake
    from functions.settings import Settings

    generate_province(root, **params)
    settings = Settings(lake_uri=str(root), landing_uri=None)
    lake = Lake.from_uri(settings.lake_uri)
    ingest_tree(lake, lake, settings=settings)
    classify_month(
        lake, month=month, province=str(params["province"]), settings=settings, fields=tuple(FIELDS)
    )
    return lake


def score_counts(lake: Lake, field: str, month: str, province: str) -> list[tuple[float, int]]:
    """Entities per score value of a published field result (the suggestion mode's input)."""
    import duckdb

    path = _quoted(lake.path(layout.field_classification_key(field, month, province)))
    con = duckdb.connect()
    try:
        rows = con.execute(f"SELECT risk_score, count(*) FROM read_parquet('{path}') GROUP BY 1").fetchall()
    finally:
        con.close()
    return [(float(s), int(n)) for s, n in rows]


def suggest_versions(lake: Lake, month: str, province: str, mix: str, out_dir: Path) -> list[Path]:
    """A new version file per field with the cut-offs that give ``mix`` on ``month``."""
    from functions.analysis import suggest
    from functions.classify.load import load_system

    written = []
    for field, spec in FIELDS.items():
        system = load_system(f"{spec.system}@{SOURCE_VERSION}")
        cutoffs = suggest.cutoffs_for_mix(score_counts(lake, field, month, province), suggest.parse_mix(mix))
        version = suggest.next_version(system.id, system.version)
        text, new = suggest.new_version_text(
            suggest.source_text(system), system, cutoffs, version=version,
            note=f"cut-offs for the class mix {mix} on {month} of the suggestion province (docs/adr/0146)",
        )  # fmt: skip
        path = out_dir / f"{new.id}@{new.version}.yaml"
        with path.open("x", encoding="utf-8") as fh:  # never over an existing file
            fh.write(text)
        written.append(path)
    return written


def suggestion_targets(out_dir: Path) -> list[Path]:
    """The files ``suggest_versions`` writes into ``out_dir`` (checked before any work)."""
    from functions.analysis import suggest

    return [
        out_dir / f"{spec.system}@{suggest.next_version(spec.system, SOURCE_VERSION)}.yaml"
        for spec in FIELDS.values()
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m functions.analysis.calibration")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("docs", help="rewrite the calibration tables of samr-general and the field documents")
    sug = sub.add_parser("suggest", help="new field system versions from the suggestion province")
    sug.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    if args.command == "suggest":
        taken = [str(p) for p in suggestion_targets(args.out_dir) if p.exists()]
        if taken:
            parser.error(f"a new version is never written over a file: {', '.join(taken)}")
    with tempfile.TemporaryDirectory(prefix="creditrisk-fieldcal-") as tmp:
        if args.command == "docs":
            lake = build_province(Path(tmp), REFERENCE, REFERENCE_MONTH)
            for system in SYSTEMS:
                fig = figures(lake, system, REFERENCE_MONTH, str(REFERENCE["province"]))
                path = doc_path(fig.system_id)
                path.write_text(sync(path.read_text(encoding="utf-8"), fig), encoding="utf-8")
                print(f"{path}: {fig.model}")
        else:
            args.out_dir.mkdir(parents=True, exist_ok=True)
            lake = build_province(Path(tmp), SUGGESTION, REFERENCE_MONTH)
            for path in suggest_versions(
                lake, REFERENCE_MONTH, str(SUGGESTION["province"]), TARGET_MIX, args.out_dir
            ):
                print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
