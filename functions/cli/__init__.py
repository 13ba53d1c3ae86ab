"""``creditrisk``: the operator's command line. Each sub-command lives in its own module here."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from functions.errors import CreditRiskError

# Modules that each expose ``command`` (a click command or group). Add new ones here.
COMMAND_MODULES = (
    "functions.cli.generate_cmd",
    "functions.cli.ingest_cmd",
    "functions.cli.plan_cmd",
    "functions.cli.token_cmd",
    "functions.cli.query_cmd",
    "functions.cli.classify_cmd",
    "functions.cli.explain_cmd",
    "functions.cli.warnings_cmd",
    "functions.cli.report_cmd",
    "functions.cli.contract_cmd",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--lake", envvar="CREDITRISK_LAKE_URI", help="Lake URI: s3://bucket[/prefix] or a folder.")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.pass_context
def cli(ctx: click.Context, lake: str | None, verbose: bool) -> None:
    """Enterprise credit risk classification (企业信用风险分类管理) — operator tools."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s %(message)s"
    )
    ctx.ensure_object(dict)
    ctx.obj["lake"] = lake


for _name in COMMAND_MODULES:
    cli.add_command(importlib.import_module(_name).command)


def main() -> None:
    """Entry point: domain errors become one clear line on stderr and exit status 2."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CreditRiskError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
