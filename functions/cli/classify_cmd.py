"""``creditrisk classify``: classify a month by hand (the scheduled handler does it monthly).

``--follow-ups`` also runs what the scheduled run does after publishing (warnings, analysis,
effectiveness, report: ``functions.monthly.run_follow_ups``), as of the same cutoff."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from functions import layout
from functions.cli.common import lake_from, settings_from
from functions.errors import InvalidInput
from functions.progress import StderrProgress


def _cutoff(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"--cutoff must be an ISO timestamp, got {value!r}", field="cutoff") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@click.command("classify")
@click.option("--month", required=True, help="Month to classify, YYYY-MM.")
@click.option("--province", help="2-digit province code; default: every province with curated data.")
@click.option("--system", "system_id", help="Indicator system id or YAML path (default: settings).")
@click.option("--engine", type=click.Choice(["duckdb", "athena"]), help="Query engine (default: settings).")
@click.option(
    "--type-system",
    "type_systems",
    multiple=True,
    metavar="TYPE=SYSTEM",
    help="Classify one entity type with its own system, e.g. individual=langfang-public-credit (repeatable).",
)
@click.option(
    "--cutoff", help="Use only data ingested at or before this ISO time (default: now; UTC if no zone)."
)
@click.option(
    "--follow-ups",
    is_flag=True,
    help="Then raise warnings, analyse and write the report, as the scheduled run does.",
)
@click.pass_context
def command(
    ctx: click.Context,
    month: str,
    province: str | None,
    system_id: str | None,
    engine: str | None,
    type_systems: tuple[str, ...],
    cutoff: str | None,
    follow_ups: bool,
) -> None:
    """Classify every entity of a province (or of all provinces) for MONTH and publish the results."""
    from functions.classify.run import classify_all, classify_month
    from functions.monthly import run_follow_ups

    if not layout.MONTH_RE.match(month):  # a usage error (2), not a failed province (1)
        raise click.BadParameter(f"{month!r} is not YYYY-MM", param_hint="--month")
    if province is not None and province not in layout.PROVINCES:
        raise click.BadParameter(f"{province!r} is not a GB/T 2260 province code", param_hint="--province")
    settings = settings_from(ctx)
    lake = lake_from(ctx)
    systems = _type_systems(type_systems)
    # one instant for the classification and its follow-ups, as in the scheduled run
    cut = _cutoff(cutoff) or dt.datetime.now(dt.UTC)
    if province is None:
        summary = classify_all(
            lake,
            month=month,
            settings=settings,
            engine=engine,
            system_id=system_id,
            systems=systems,
            cutoff=cut,
            progress=StderrProgress(),
        )
        if summary.get("message"):
            click.echo(f"{summary['message']} ({lake.uri})")
    else:
        result = classify_month(
            lake,
            month=month,
            province=province,
            system_id=system_id,
            systems=systems,
            engine=engine or settings.engine,
            cutoff=cut,
            settings=settings,
            progress=StderrProgress(),
            fields=settings.field_systems,  # one province like all: the fields follow its general run
        )
        summary = {"month": month, "provinces": {province: result.summary_entry()}}
    if follow_ups:
        summary = run_follow_ups(lake, summary, settings=settings, now=cut)
    for p, info in summary["provinces"].items():
        click.echo(_line(p, info))
        if "follow_up" in info:
            click.echo(_follow_up_line(p, info["follow_up"], lake))
    failed = [
        p
        for p, info in summary["provinces"].items()
        if info["status"] == "failed" or info.get("follow_up", {}).get("status") == "failed"
    ]
    if failed:  # the others are published; a script still has to see that something failed
        click.echo(f"failed: province {', '.join(failed)}", err=True)
        ctx.exit(1)


def _type_systems(values: tuple[str, ...]) -> dict[str, str] | None:
    """``TYPE=SYSTEM`` pairs; the classification itself checks the types and systems exist."""
    out: dict[str, str] = {}
    for value in values:
        entity_type, sep, system = value.partition("=")
        if not sep or not entity_type.strip() or not system.strip():
            raise InvalidInput(f"--type-system takes TYPE=SYSTEM, got {value!r}", field="type_system")
        out[entity_type.strip()] = system.strip()
    return out or None


def _follow_up_line(province: str, info: dict[str, Any], lake: Any) -> str:
    if info["status"] != "done":
        return f"province {province}: follow-ups failed: {info['error']}: {info['message']}"
    w = info["warnings"]
    return (
        f"province {province}: {w['raised']} warnings raised ({w['duplicates']} already known), "
        f"{w['tasks']} inspection tasks; report {lake.display(info['report_key'])}"
    )


def _line(province: str, info: dict[str, object]) -> str:
    if info["status"] != "published":
        return f"province {province}: {info['status']}: {info['message']}"
    counts = info["counts"]
    assert isinstance(counts, dict)
    total = sum(counts.values()) or 1
    dist = "  ".join(f"{c} {n:,} ({100 * n / total:.1f}%)" for c, n in counts.items())
    again = f" (supersedes {info['supersedes']})" if info.get("supersedes") else ""
    return f"province {province}: published run {info['run_id']}{again}: {dist}"
