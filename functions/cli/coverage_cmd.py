"""``creditrisk coverage``: what a province delivered (datasets, dates, report years)."""

from __future__ import annotations

import json

import click

from functions.cli.common import lake_from


@click.command("coverage")
@click.option("--province", required=True, help="two-digit province code")
@click.option(
    "--rebuild",
    is_flag=True,
    help="first record coverage for curated files that have none (lakes ingested before coverage)",
)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
def command(ctx: click.Context, province: str, rebuild: bool, as_json: bool) -> None:
    """Data coverage (数据完整性): the inputs the rules' requirements are checked on."""
    from functions import layout
    from functions.coverage.store import rebuild as rebuild_coverage
    from functions.coverage.store import summary
    from functions.errors import InvalidInput

    if not layout.PROVINCE_RE.match(province):
        raise InvalidInput("province must be a two-digit GB/T 2260 code", field="province")
    lake = lake_from(ctx)
    added = rebuild_coverage(lake, province) if rebuild else []
    cov = summary(lake, province).to_dict()
    if as_json:
        click.echo(json.dumps({**cov, "recorded": len(added)}, ensure_ascii=False, indent=2))
        return
    if rebuild:
        click.echo(f"recorded coverage for {len(added)} curated files", err=True)
    for name, c in cov["datasets"].items():
        years = f"  report years {', '.join(map(str, c['report_years']))}" if c["report_years"] else ""
        click.echo(
            f"{name:<24} {c['rows']:>10} rows  {c['first_event_on'] or '-'} … {c['last_event_on'] or '-'}"
            f"  ({c['ingests']} ingests){years}"
        )
    if not cov["datasets"]:
        click.echo(f"province {province}: nothing delivered")
