"""``creditrisk generate``: write a realistic synthetic province in the upload layout."""

from __future__ import annotations

from pathlib import Path

import click

from functions.generate.generate import DEFAULT_CHUNK, generate_province
from functions.progress import StderrProgress


@click.command("generate")
@click.option("--province", required=True, help="2-digit GB/T 2260 province code, e.g. 42 (Hubei).")
@click.option("--entities", type=click.IntRange(min=1), required=True, help="Number of market entities.")
@click.option(
    "--months", type=click.IntRange(1, 240), default=24, show_default=True, help="Months of events."
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed (same arguments → same bytes)."
)
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder."
)
@click.option("--end-month", help="Last month of the window, YYYY-MM (default: last month, China time).")
@click.option(
    "--faults",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.0,
    show_default=True,
    help="Share of bad rows injected per file (keep below the 5% whole-file rejection threshold).",
)
@click.option(
    "--formats",
    type=click.Choice(["plain", "mixed"]),
    default="plain",
    show_default=True,
    help="mixed: also GB18030 with Chinese headers, .csv.gz, .jsonl and one .parquet file.",
)
@click.option(
    "--layout",
    type=click.Choice(["contract", "national"]),
    default="contract",
    show_default=True,
    help="national: registration, penalty (双公示) and list files as government systems export them.",
)
@click.option(
    "--chunk-size", type=click.IntRange(min=1), default=DEFAULT_CHUNK, show_default=True, hidden=True
)
def command(
    province: str,
    entities: int,
    months: int,
    seed: int,
    out_dir: Path,
    end_month: str | None,
    faults: float,
    formats: str,
    layout: str,
    chunk_size: int,
) -> None:
    """Generate a synthetic province: OUT/incoming/<PP>/<dataset>/<file> plus OUT/_generator.json.

    Ready for `creditrisk ingest OUT`. Streams in chunks, so 10 million entities fit in memory.
    """
    summary = generate_province(
        out_dir,
        province=province,
        entities=entities,
        months=months,
        seed=seed,
        end_month=end_month,
        faults=faults,
        formats=formats,
        progress=StderrProgress(),
        chunk_size=chunk_size,
        layout=layout,
    )
    click.echo(summary.describe())
