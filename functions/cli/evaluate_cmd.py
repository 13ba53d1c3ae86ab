"""``creditrisk evaluate``: backtest, champion / challenger, cut-off suggestions (docs/analysis.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from functions.analysis import stats
from functions.cli.common import lake_from, settings_from
from functions.errors import InvalidInput
from functions.layout import MONTH_RE


def _province(lake: Any, given: str | None) -> str:
    """``--province``, or the only province with published classifications."""
    if given:
        return given
    found = sorted(
        {
            p.split("=", 1)[1]
            for m in lake.list_dirs("results/classifications")
            if m.startswith("month=")
            for p in lake.list_dirs(f"results/classifications/{m}")
            if p.startswith("province=")
        }
    )
    if len(found) != 1:
        raise InvalidInput(
            "--province is needed: published provinces are " + (", ".join(found) or "none"), field="province"
        )
    return str(found[0])


@click.command("evaluate")
@click.option("--from", "first", required=True, help="first classification month (YYYY-MM)")
@click.option("--to", "last", required=True, help="last classification month (YYYY-MM)")
@click.option("--province", default=None, help="two-digit province code (default: the only one published)")
@click.option(
    "--system",
    "system_id",
    default=None,
    help="champion: ID[@version] or a YAML file; a field system (e.g. food) backtests that field's results",
)
@click.option("--challenger", default=None, help="candidate: ID[@version] or a YAML file, re-classified")
@click.option("--reference", default=None, help="fixed PSI reference month (YYYY-MM)")
@click.option("--seed", type=int, default=stats.DEFAULT_SEED, show_default=True, help="bootstrap seed")
@click.option(
    "--replicates",
    type=click.IntRange(100, 100_000),
    default=stats.BOOTSTRAP_REPLICATES,
    show_default=True,
    help="bootstrap / random-order replicates",
)
@click.option("--engine", type=click.Choice(["duckdb", "athena"]), default=None, help="default: settings")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of the table")
@click.option(
    "--target-mix", default=None, help="suggest cut-offs for a class mix, e.g. A=0.7,B=0.2,C=0.07,D=0.03"
)
@click.option("--target-d-rate", type=float, default=None, help="suggest a D cut-off for this finding rate")
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="the suggested new system version (a new file; never overwritten)",
)
@click.pass_context
def command(
    ctx: click.Context,
    first: str,
    last: str,
    province: str | None,
    system_id: str | None,
    challenger: str | None,
    reference: str | None,
    seed: int,
    replicates: int,
    engine: str | None,
    as_json: bool,
    target_mix: str | None,
    target_d_rate: float | None,
    out_file: Path | None,
) -> None:
    """Rolling backtest of the published classifications FROM..TO against the inspections of
    the month after each: discovery rates with Wilson intervals, AUC with a bootstrap interval,
    precision in the top k %, calibration, "days earlier" against a random order, PSI on the
    cut-off bands. With --challenger, the same for a candidate system re-classified over the
    same history, side by side, with the class changes. With --target-mix or --target-d-rate,
    a new system version with suggested cut-offs is written to --out. A field system as
    --system (food, drug, special-equipment, industrial-product) backtests and recalibrates
    that field's published results on the field's own inspections."""
    from functions.analysis import backtest as bt
    from functions.classify.load import load_system

    suggesting = target_mix is not None or target_d_rate is not None
    if suggesting and challenger:
        raise click.UsageError("cut-off suggestions take no --challenger")
    if target_mix is not None and target_d_rate is not None:
        raise click.UsageError("give --target-mix or --target-d-rate, not both")
    if suggesting and out_file is None:
        raise click.UsageError("a cut-off suggestion needs --out FILE for the new system version")
    if out_file is not None and out_file.exists():
        raise click.UsageError(f"{out_file} exists: a new version is never written over a file")
    if reference is not None and not MONTH_RE.match(reference):
        raise InvalidInput(f"--reference must be YYYY-MM, got {reference!r}", field="reference")
    settings = settings_from(ctx)
    lake = lake_from(ctx)
    prov = _province(lake, province)
    bt.month_range(first, last)  # usage errors before any work
    system = load_system(system_id) if system_id else None
    field = system.field.name if system is not None and system.field is not None else None
    if challenger:
        from functions.analysis.challenger import compare, render_text

        if field is not None or load_system(challenger).field is not None:
            raise InvalidInput(
                "champion / challenger re-classifies the general system; backtest a field with "
                "--system FIELD and suggest its cut-offs with --target-mix",
                field="challenger",
            )
        champion = system or load_system(settings.default_system)
        result = compare(
            lake, first=first, last=last, province=prov, champion=champion,
            challenger=load_system(challenger), settings=settings, reference=reference,
            seed=seed, replicates=replicates, engine=engine,
        )  # fmt: skip
        click.echo(
            json.dumps(result, ensure_ascii=False, indent=2, default=str) if as_json else render_text(result)
        )
        return
    result = bt.backtest(
        lake, first=first, last=last, province=prov, system=system, reference=reference,
        settings=settings, engine=engine, seed=seed, replicates=replicates, keep_cells=suggesting,
        field=field,
    )  # fmt: skip
    suggestion = None
    if suggesting:
        assert out_file is not None
        suggestion = _suggest(lake, settings, engine, result, system_id, target_mix, target_d_rate, out_file)
        result["suggestion"] = suggestion
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    else:
        click.echo(bt.render_text(result))
        if suggestion:
            click.echo(_suggestion_text(suggestion))


def _suggest(
    lake: Any,
    settings: Any,
    engine: str | None,
    result: dict[str, Any],
    system_id: str | None,
    target_mix: str | None,
    target_d_rate: float | None,
    out_file: Path,
) -> dict[str, Any]:
    import datetime as dt

    from functions.analysis import backtest as bt
    from functions.analysis import suggest
    from functions.classify.load import load_system

    model = result.get("model")
    if not model:
        raise InvalidInput("the published months name no shipped model to start from", field="system")
    system = load_system(system_id or str(model))
    if system.classes.method != "cutoffs" or not system.classes.cutoffs:
        raise InvalidInput(f"{system.model_ref} has no cut-offs to suggest", field="system")
    current: dict[str, float] = {str(c): float(v) for c, v in system.classes.cutoffs.items()}
    source = bt.open_backtest_source(
        lake, result["province"], [result["last"]], dt.datetime.now(dt.UTC), settings=settings, engine=engine
    )
    table = bt.field_results(result["field"]) if result.get("field") else bt.PUBLISHED
    try:
        rows = source.query(
            suggest.score_counts_sql(result["province"], result["last"], table), label="score counts"
        ).to_pylist()
    finally:
        source.close()
    scores = [(float(r["risk_score"]), int(r["n"])) for r in rows]
    achieved = None
    if target_mix is not None:
        mix = suggest.parse_mix(target_mix)
        cutoffs = suggest.cutoffs_for_mix(scores, mix)
        note = f"cut-offs for the class mix {target_mix} on {result['last']}"
    else:
        assert target_d_rate is not None
        cells = [(float(s), int(n), int(k)) for s, n, k in result["score_cells"]]
        d_cut, achieved = suggest.cutoff_for_d_rate(cells, target_d_rate, current)
        cutoffs = {"B": current["B"], "C": current["C"], "D": d_cut}
        note = (
            f"D cut-off for a D finding rate of {target_d_rate:.0%} over {result['first']}..{result['last']}"
        )
    version = suggest.next_version(system.id, system.version)
    text, new = suggest.new_version_text(
        suggest.source_text(system, system_id), system, cutoffs, version=version,
        note=note + " (creditrisk evaluate)",
    )  # fmt: skip
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with out_file.open("x", encoding="utf-8") as fh:  # never over an existing file
        fh.write(text)
    result.pop("score_cells", None)
    return {
        "from": system.model_ref,
        "model": new.model_ref,
        "file": str(out_file),
        "cutoffs": cutoffs,
        "previous_cutoffs": current,
        "projected_mix": suggest.projected_mix(scores, cutoffs),
        "current_mix": suggest.projected_mix(scores, current),
        "d_rate": achieved,
        "field": result.get("field"),
        "note": "shares before hard rules; "
        + (
            "backtest it over the field's months once published with it"
            if result.get("field")
            else "compare it with --challenger FILE before adopting it"
        ),
    }


def _suggestion_text(s: dict[str, Any]) -> str:
    cut = ", ".join(f"{c} ≥ {v:g}" for c, v in s["cutoffs"].items())
    was = ", ".join(f"{c} ≥ {v:g}" for c, v in s["previous_cutoffs"].items())
    mix = " ".join(f"{c} {v:.1%}" for c, v in s["projected_mix"].items())
    now = " ".join(f"{c} {v:.1%}" for c, v in s["current_mix"].items())
    lines = [
        f"suggested {s['model']} (from {s['from']}) written to {s['file']}",
        f"  cut-offs {cut} (were {was})",
        f"  class mix on the last month, before hard rules: {mix} (now {now})",
    ]
    if s.get("d_rate"):
        lines.append(f"  D finding rate over the window: {bt_fmt(s['d_rate'])}")
    if s.get("field"):
        lines.append(
            f"  next: review it, ship it beside the field's other versions (the monthly run takes the "
            f"newest), then creditrisk evaluate … --system {s['model']}"
        )
    else:
        lines.append(f"  next: creditrisk evaluate … --challenger {s['file']}")
    return "\n".join(lines)


def bt_fmt(f: dict[str, Any]) -> str:
    from functions.analysis.backtest import fmt_figure

    return fmt_figure(f)
