"""``creditrisk classify``: classify a month by hand (the scheduled handler does it monthly)."""

from __future__ import annotations

import datetime as dt

import click

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
@click.pass_context
def command(
    ctx: click.Context,
    month: str,
    province: str | None,
    system_id: str | None,
    engine: str | None,
    type_systems: tuple[str, ...],
    cutoff: str | None,
) -> None:
    """Classify every entity of a province (or of all provinces) for MONTH and publish the results."""
    from functions.classify.run import classify_all, classify_month

    settings = settings_from(ctx)
    lake = lake_from(ctx)
    systems = _type_systems(type_systems)
    if province is None:
        summary = classify_all(
            lake,
            month=month,
            settings=settings,
            engine=engine,
            system_id=system_id,
            systems=systems,
            cutoff=_cutoff(cutoff),
            progress=StderrProgress(),
        )
        if summary.get("message"):
            click.echo(f"{summary['message']} ({lake.uri})")
        for p, info in summary["provinces"].items():
            click.echo(_line(p, info))
        return
    result = classify_month(
        lake,
        month=month,
        province=province,
        system_id=system_id,
        systems=systems,
        engine=engine or settings.engine,
        cutoff=_cutoff(cutoff),
        settings=settings,
        progress=StderrProgress(),
    )
    click.echo(_line(province, {"status": "published", "run_id": result.run_id, "counts": result.counts}))


def _type_systems(values: tuple[str, ...]) -> dict[str, str] | None:
    """``TYPE=SYSTEM`` pairs; the classification itself checks the types and systems exist."""
    out: dict[str, str] = {}
    for value in values:
        entity_type, sep, system = value.partition("=")
        if not sep or not entity_type.strip() or not system.strip():
            raise InvalidInput(f"--type-system takes TYPE=SYSTEM, got {value!r}", field="type_system")
        out[entity_type.strip()] = system.strip()
    return out or None


def _line(province: str, info: dict[str, object]) -> str:
    if info["status"] != "published":
        return f"province {province}: {info['status']}: {info['message']}"
    counts = info["counts"]
    assert isinstance(counts, dict)
    total = sum(counts.values()) or 1
    dist = "  ".join(f"{c} {n:,} ({100 * n / total:.1f}%)" for c, n in counts.items())
    return f"province {province}: published run {info['run_id']}: {dist}"
