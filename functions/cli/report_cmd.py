"""``creditrisk report``: write the month's self-contained HTML report."""

from __future__ import annotations

from pathlib import Path

import click

from functions.cli.common import lake_from, settings_from


@click.command("report")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--province", required=True, help="two-digit province code")
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="also save a copy here",
)
@click.pass_context
def command(ctx: click.Context, month: str, province: str, out_file: Path | None) -> None:
    """Class distribution, regions, industries, migration, warnings and effectiveness (one file)."""
    from functions.layout import validate_scope

    validate_scope(month, province)  # a usage error before the report's engine is loaded
    from functions.report.html import write_report

    lake = lake_from(ctx)
    key = write_report(lake, month=month, province=province, settings=settings_from(ctx), refresh=True)
    click.echo(f"report written to {lake.display(key)}")
    if out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_bytes(lake.read_bytes(key))
        click.echo(f"copy saved to {out_file}")
