"""``creditrisk``: the operator's command line. Each sub-command lives in its own module here."""

from __future__ import annotations

import importlib
import logging
import sys

import click
import pydantic

from functions.errors import CreditRiskError, InvalidInput

# Command name -> the module that exposes it as ``command`` (a click command or group). A module
# is imported only when its command runs (or for the top-level help): a command pays for its own
# imports, not for pandas, DuckDB and sqlglot of the others (docs/adr/0137). Add new ones here;
# tests/unit/test_cli_lazy.py checks each name against its module.
COMMANDS = {
    "generate": "functions.cli.generate_cmd",
    "ingest": "functions.cli.ingest_cmd",
    "plan": "functions.cli.plan_cmd",
    "audit": "functions.cli.audit_cmd",
    "token": "functions.cli.token_cmd",
    "query": "functions.cli.query_cmd",
    "classify": "functions.cli.classify_cmd",
    "explain": "functions.cli.explain_cmd",
    "warnings": "functions.cli.warnings_cmd",
    "coverage": "functions.cli.coverage_cmd",
    "report": "functions.cli.report_cmd",
    "evaluate": "functions.cli.evaluate_cmd",
    "county-pages": "functions.cli.county_cmd",
    "dlq": "functions.cli.dlq_cmd",
    "contract": "functions.cli.contract_cmd",
    "objection": "functions.cli.objection_cmd",
    "adjust": "functions.cli.adjust_cmd",
    "disclose": "functions.cli.disclose_cmd",
    "migrate": "functions.cli.migrate_cmd",
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported by name, on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            command: click.Command = importlib.import_module(COMMANDS[cmd_name]).command
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit status: 0 done; 1 the command ran and failed (a file rejected whole, a plan that "
    "does not verify, not found, storage or engine errors); 2 usage error (bad option or value).",
)
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


def main(argv: list[str] | None = None) -> None:
    """Entry point; the exit status means what it says (docs/adr/0089):

    0 done; 1 the command ran and its outcome is a failure (a file rejected whole, a plan that
    does not verify, a province that failed) or a domain error (not found, storage, engine);
    2 a usage error (bad option or argument, click's usage errors and ``InvalidInput``);
    130 interrupted. Errors are one clear line on stderr, never a stack trace.
    """
    try:
        # standalone_mode=False: click returns ``ctx.exit(n)``'s code instead of exiting itself.
        code = cli.main(args=argv, prog_name="creditrisk", standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CreditRiskError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2 if isinstance(exc, InvalidInput) else 1)
    except pydantic.ValidationError as exc:  # an option value a contract refuses: a usage error
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        click.echo(f"error: {where + ': ' if where else ''}{first['msg']}", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)
