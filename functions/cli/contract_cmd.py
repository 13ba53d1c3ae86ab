"""``creditrisk contract check FILE``: dry-run one file against the upload contract (no lake)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from functions.cli.common import settings_from
from functions.ingest.check import check_bytes, render
from schemas.datasets import DATASETS


@click.group("contract")
def command() -> None:
    """The upload contract (docs/upload-contract.md)."""


@command.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", type=click.Choice(list(DATASETS)), help="Default: the file's folder name.")
@click.option("--province", help="Two-digit province code. Default: from the path, else from the data.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def check(ctx: click.Context, file: Path, dataset: str | None, province: str | None, as_json: bool) -> None:
    """Would FILE be accepted? Shows the mapping used, the first problems per column and the
    outcome; writes nothing. Exit status 0: accepted; 1: rejected."""
    result = check_bytes(
        file.read_bytes(), file, dataset=dataset, province=province, settings=settings_from(ctx)
    )
    click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2) if as_json else render(result))
    sys.exit(0 if result.accepted else 1)  # the group's return value is not the exit status
