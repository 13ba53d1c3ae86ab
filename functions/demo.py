"""``make demo``: the platform's main job end to end on a local lake, no AWS account needed.

Generates a sample province into the lake's landing area, ingests it, classifies the last four
months, runs the monthly follow-ups (warnings, analysis, report), draws an inspection plan, then
backtests the classifications and compares samr-general 1.1 with 1.2 (``creditrisk evaluate``).
Re-running reuses the generated province: ingestion and publication are idempotent.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from functions.errors import CreditRiskError
from functions.lake import Lake
from functions.progress import StderrProgress
from functions.settings import Settings

logger = logging.getLogger(__name__)
DEMO_RATIOS = {"A": 0.01, "B": 0.03, "C": 0.1, "D": 0.3}
BACKTEST_MONTHS = 3  # classified months before the last one, backtested against what followed


def _section(title: str) -> None:
    print(f"\n== {title}")


def run_demo(lake_uri: str, *, province: str, entities: int, months: int, seed: int, faults: float) -> int:
    from functions.classify.run import classify_month
    from functions.generate.generate import generate_province
    from functions.ingest.pipeline import ingest_tree, summarise
    from functions.months import previous_month

    settings = Settings(lake_uri=lake_uri, landing_uri=None)
    lake = Lake.from_uri(settings.lake_uri)
    progress = StderrProgress(interval=2.0)

    _section(f"1. generate a synthetic province {province} ({entities:,} entities, {months} months)")
    manifest = Path(lake.root) / "_generator.json"
    if manifest.exists():
        params = json.loads(manifest.read_text(encoding="utf-8"))
        end_month = str(params["end_month"])
        print(f"reusing the province generated earlier in {lake.root} (end month {end_month})")
    else:
        summary = generate_province(
            Path(lake.root), province=province, entities=entities, months=months, seed=seed,
            faults=faults, formats="mixed", progress=progress,
        )  # fmt: skip
        end_month = summary.months[-1]
        print(summary.describe())
    _national_province(
        lake, "23" if province != "23" else "42", months=months, seed=seed, end_month=end_month
    )

    _section("2. ingest every pending upload under incoming/")
    reports = ingest_tree(lake, lake, settings=settings, progress=progress)
    print(
        summarise(reports, per_file=False) if reports else "nothing pending: every upload was ingested before"
    )

    # Earlier months too: migration, PSI and effectiveness compare months, and the backtest
    # (step 6) judges each month by the inspections of the month after it.
    history = [end_month]
    for _ in range(BACKTEST_MONTHS):
        history.insert(0, previous_month(history[0]))
    for month in history:
        _section(f"3. classify {month} (system {settings.default_system}, engine {settings.engine})")
        # the professional fields beside the general class, for the last month only (demo time)
        fields = settings.field_systems if month == end_month else ()
        result = classify_month(
            lake, month=month, province=province, settings=settings, progress=progress, fields=fields
        )
        total = sum(result.counts.values()) or 1
        for cls in ("A", "B", "C", "D"):
            n = result.counts.get(cls, 0)
            print(f"  class {cls}: {n:>9,}  ({100.0 * n / total:5.1f}%)")
        print(f"  run {result.run_id} published to {lake.display(_published_key(month, province))}")
        for name, info in result.fields.items():
            c = info["counts"]
            print(
                f"  field {name:<18} {info['model']:<22} {sum(c.values()):>7,} entities  "
                f"A {c['A']:,} B {c['B']:,} C {c['C']:,} "
                f"D {c['D']:,}  (sampling: {info['sampling_counts']})"
            )

    _follow_ups(lake, settings, end_month, province)
    _draw_plan(lake, settings, end_month, province, seed)
    _backtest(lake, settings, history[0], history[-2], province)
    print(f"\nlake: {lake.root}   (creditrisk --lake {lake.root} --help for more)")
    return 0


def _national_province(lake: Lake, province: str, *, months: int, seed: int, end_month: str) -> None:
    """A second, small province uploaded as government systems export it (registration export,
    双公示 penalties in 万元, list files with Chinese reasons; GB18030): ingest maps it through
    the national profile (docs/adr/0082)."""
    import shutil
    import tempfile

    from functions.generate.generate import generate_province

    target = Path(lake.root) / "incoming" / province
    if target.exists():
        return
    with tempfile.TemporaryDirectory() as tmp:
        summary = generate_province(
            Path(tmp), province=province, entities=2_000, months=months, seed=seed,
            end_month=end_month, layout="national",
        )  # fmt: skip
        shutil.copytree(Path(tmp) / "incoming" / province, target)
    print(f"province {province} in the national export layouts: {summary.entities:,} entities, "
          f"{sum(summary.rows.values()):,} rows")  # fmt: skip


def _published_key(month: str, province: str) -> str:
    from functions import layout

    return layout.classification_key(month, province)


def _follow_ups(lake: Lake, settings: Settings, month: str, province: str) -> None:
    """Warnings, regional/industry analysis and the HTML report, as the monthly run does."""
    import datetime as dt

    from functions.analysis import after_classification

    _section("4. warnings, regional and industry risk, report")
    out = after_classification(
        lake, month=month, province=province, settings=settings, now=dt.datetime.now(dt.UTC)
    )
    for line in out.get("summary", []):
        print(f"  {line}")
    if "report_key" in out:
        print(f"  report: {lake.display(out['report_key'])}")
    _county_page(lake, settings, month, province)


def _county_page(lake: Lake, settings: Settings, month: str, province: str) -> None:
    """One county's action list: the county with the most D-class entities."""
    from functions import layout
    from functions.report.county import write_county_pages

    regions = lake.read_parquet(layout.analysis_table_key("regions", month, province)).to_pylist()
    counties = [r for r in regions if r["level"] == "county" and r["code"]]
    if not counties:
        return
    top = max(counties, key=lambda r: (r["d"], r["entities"]))
    page = write_county_pages(
        lake, month=month, province=province, counties=[top["code"]], settings=settings
    )[0]
    print(f"  county page {top['code']} {top['name']}: {page['rows']:,} entities to act on")
    print(f"    {lake.display(page['html'])}  (CSV beside it)")


def _draw_plan(lake: Lake, settings: Settings, month: str, province: str, seed: int) -> None:
    """Test plans (the demo picks the seed), on the audit chain as ``test_plan`` (docs/adr/0141)."""
    from functions.auth.tokens import Principal
    from functions.sampling.signing import signer_from_settings
    from functions.sampling.tasks import create_plan
    from schemas.api import PlanRequest

    _section(f"5. draw a double-random inspection plan (ratios {DEMO_RATIOS})")
    req = PlanRequest.model_validate({"month": month, "province": province, "ratios": DEMO_RATIOS,
                                      "seed": f"demo-{seed}", "mode": "test"})  # fmt: skip
    principal = Principal(token_id="demo", name="make demo", provinces=frozenset({province}))
    signer = signer_from_settings(settings, lake)
    plan_id, text = create_plan(lake, req, principal, signer)
    plan = json.loads(text)
    print(f"  plan {plan_id} (seed {plan['seed']}, run {plan['run_id']})")
    for stratum in plan["strata"]:
        ratio = "-" if stratum["ratio"] is None else stratum["ratio"]
        print(f"  class {stratum['risk_class']}: population {stratum['population']:>9,}  ratio {ratio!s:<5}  "
              f"sampled {stratum['sampled']:>6,}")  # fmt: skip
    # the same draw in the food field: its population by the stricter of general and food class
    food = PlanRequest.model_validate({"month": month, "province": province, "ratios": DEMO_RATIOS,
                                       "seed": f"demo-{seed}", "frame_field": "food", "mode": "test",
                                       "inspectors": {"field": "food"}})  # fmt: skip
    try:
        food_id, food_text = create_plan(lake, food, principal, signer)
    except CreditRiskError as exc:  # e.g. a roster without food inspectors: say so, go on
        print(f"  food-field plan not drawn: {exc.message}")
        return
    fplan = json.loads(food_text)
    strata = ", ".join(f"{s['risk_class']} {s['sampled']}/{s['population']}" for s in fplan["strata"])
    print(f"  food-field plan {food_id} (run {fplan['run_id']}): sampled/population {strata}")


def _backtest(lake: Lake, settings: Settings, first: str, last: str, province: str) -> None:
    """``creditrisk evaluate``: the backtest, then samr-general 1.1 against 1.2 on the same history."""
    from functions.analysis import backtest, challenger
    from functions.classify.load import load_system

    _section(f"6. backtest {first}..{last} against the inspections that followed (creditrisk evaluate)")
    result = backtest.backtest(lake, first=first, last=last, province=province, settings=settings)
    print("\n".join(f"  {line}" for line in backtest.render_text(result).splitlines()))
    _section("7. champion / challenger: samr-general 1.1 vs 1.2 over the same months")
    both = challenger.compare(
        lake, first=first, last=last, province=province, champion=load_system("samr-general@1.1"),
        challenger=load_system("samr-general@1.2"), settings=settings,
    )  # fmt: skip
    print("\n".join(f"  {line}" for line in challenger.render_text(both).splitlines()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m functions.demo", description=__doc__)
    parser.add_argument("--lake", default="./demo-lake", help="local lake folder (default ./demo-lake)")
    parser.add_argument("--province", default="42", help="2-digit province code (default 42, Hubei)")
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--faults", type=float, default=0.01, help="share of injected bad rows per file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    from functions.errors import CreditRiskError

    try:
        return run_demo(args.lake, province=args.province, entities=args.entities, months=args.months,
                        seed=args.seed, faults=args.faults)  # fmt: skip
    except CreditRiskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
