"""``creditrisk``: the operator's command line. Each sub-command lives in its own module here."""

from __future__ import annotations

import importlib
import logging
import sys

import click
import pydantic

from functions.errors import CreditRiskError, InvalidInput

# Command name -> the module that exposes it as ``command`` (a click command or group). A module
# is imported only when its command runs (never for the top-level help): a command pays for its own
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
# Command name -> its one-line help, as click derives it from the command's docstring (its first
# sentence): the top-level ``--help`` lists the commands from here without importing any module,
# which cost ~1.1 CPU-s (docs/adr/0155). tests/unit/test_cli_lazy.py checks each against its
# module: a new command adds a line here too.
HELP = {
    "generate": "Generate a synthetic province: OUT/incoming/<PP>/<dataset>/<file> plus OUT/_generator.json.",
    "ingest": "Validate uploads and curate the good rows (see docs/upload-contract.md).",
    "plan": "Double-random (双随机) sampling plans (the REST API draws them too).",
    "audit": "The sampling audit chain (tasks, plans, supersessions; docs/adr/0095, 0140).",
    "token": "API tokens for inspection platforms, each scoped to provinces.",
    "query": "Run Athena SQL (as auditors write it against the Glue tables) on the lake with DuckDB.",
    "classify": (
        "Classify every entity of a province (or of all provinces) for MONTH and publish the results."
    ),
    "explain": "Print the class, score, hard rules and top indicators behind an entity's classification.",
    "warnings": (
        "Early warnings (监测预警): run the rules (new warnings open, gone ones resolved or retracted, "
        "data gaps named) or list the stored warnings with their state."
    ),
    "coverage": "Data coverage (数据完整性): the inputs the rules' requirements are checked on.",
    "report": "Class distribution, regions, industries, migration, warnings and effectiveness (one file).",
    "evaluate": (
        "Rolling backtest of the published classifications FROM..TO against the inspections of the "
        "month after each: discovery rates with Wilson intervals, AUC with a bootstrap interval, "
        'precision in the top k %, calibration, "days earlier" against a random order, PSI on the '
        "cut-off bands."
    ),
    "county-pages": (
        "Entities to look at this month per county: tasks, D class, new warnings, suggested measure."
    ),
    "dlq": "The dead-letter queue of failed uploads and monthly runs.",
    "contract": "The upload contract (docs/upload-contract.md).",
    "objection": "Objections (异议处理), decided within 5 working days of receipt.",
    "adjust": "Manual class adjustments with a second person's approval.",
    "disclose": (
        "Build PLAN_ID's public record from its inspection results and publish it (JSON and CSV "
        "under results/disclosures/, served by GET /v1/public/disclosures/{plan_id})."
    ),
    "migrate": "One-off migrations; each is idempotent (a second run changes nothing).",
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported by name, on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands' list from :data:`HELP`, shortened to the width as click would do."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            if name in HELP:
                rows.append((name, click.Command(name, help=HELP[name]).get_short_help_str(limit)))
            elif not self.commands[name].hidden:  # a command added in code rather than by name
                rows.append((name, self.commands[name].get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

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
