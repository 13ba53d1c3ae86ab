"""``creditrisk explain``: why an entity got its class in a month."""

from __future__ import annotations

import json

import click

from functions.cli.common import lake_from


@click.command("explain")
@click.option("--uscc", required=True, help="Unified Social Credit Code of the entity.")
@click.option("--month", required=True, help="Month, YYYY-MM.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def command(ctx: click.Context, uscc: str, month: str, as_json: bool) -> None:
    """Print the class, score, hard rules and top indicators behind an entity's classification."""
    from functions.classify.explain import explain, render

    info = explain(lake_from(ctx), uscc, month)
    click.echo(json.dumps(info, ensure_ascii=False, indent=2) if as_json else render(info))
