"""``creditrisk county-pages``: the month's action list per county (printable HTML + CSV)."""

from __future__ import annotations

from pathlib import Path

import click

from functions.cli.common import lake_from, settings_from


@click.command("county-pages")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--province", required=True, help="two-digit province code")
@click.option(
    "--county",
    "counties",
    multiple=True,
    help="6-digit GB/T 2260 county code (repeatable); default: every county of the month",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="also save copies here (<county>.html, <county>.csv)",
)
@click.pass_context
def command(
    ctx: click.Context, month: str, province: str, counties: tuple[str, ...], out_dir: Path | None
) -> None:
    """Entities to look at this month per county: tasks, D class, new warnings, suggested measure."""
    from functions.layout import validate_scope

    validate_scope(month, province)  # a usage error before the report's engine is loaded
    from functions.report.county import write_county_pages

    lake = lake_from(ctx)
    written = write_county_pages(
        lake, month=month, province=province, counties=list(counties) or None, settings=settings_from(ctx)
    )
    for w in written:
        click.echo(f"{w['county']}: {w['rows']:,} entities → {lake.display(w['html'])}")
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            for ext in ("html", "csv"):
                (out_dir / f"{w['county']}.{ext}").write_bytes(lake.read_bytes(w[ext]))
    if out_dir is not None:
        click.echo(f"copies saved to {out_dir}")
