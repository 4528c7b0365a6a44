"""``omnicore import stock|catalog``: stream CSV or JSON lines files into the database."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from omnicore.cli.main import CliContext, main, run
from omnicore.errors import OmnicoreError

if TYPE_CHECKING:
    from omnicore.importing import ImportReport

SHOWN_REJECTS = 20


def plural(count: int, noun: str) -> str:
    """``1 row``, ``2 rows``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@main.group("import")
def import_group() -> None:
    """Import stock counts or the catalog from CSV or JSON lines files.

    Files are streamed (any size) and written in batches, one transaction each.
    Bad rows are reported with their line number and field and never stop the
    good ones. Exit code 0 when rows were imported (or the file had none), 1
    when the file is unreadable or every row was rejected.
    """


def _import_options(command: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.argument("file", type=click.Path(dir_okay=False, path_type=Path)),
        click.option("--format", "format_", type=click.Choice(["csv", "jsonl", "ndjson"]),
                     help="File format [default: from the extension .csv, .jsonl, .ndjson]."),
        click.option("--batch-size", type=click.IntRange(1, 100_000), default=2000,
                     show_default=True, help="Rows written per transaction."),
        click.option("--rejects", type=click.Path(dir_okay=False, writable=True, path_type=Path),
                     metavar="FILE", help="Write every rejected row (line,field,message) "
                                          "to this CSV file; otherwise the first 20 are printed."),
    ]
    for option in reversed(options):
        command = option(command)
    return click.pass_obj(command)


@import_group.command("stock")
@_import_options
def import_stock_command(
    cli: CliContext, file: Path, format_: str | None, batch_size: int, rejects: Path | None
) -> None:
    """Set stock levels from a physical count.

    CSV header: sku,location,on_hand[,safety_stock] — JSON lines: the same keys.
    Each row sets on_hand (the difference goes to the ledger as a count) and,
    when given, safety_stock.
    """
    _import("stock", cli, file, format_, batch_size, rejects)


@import_group.command("catalog")
@_import_options
def import_catalog_command(
    cli: CliContext, file: Path, format_: str | None, batch_size: int, rejects: Path | None
) -> None:
    """Create or update products, variants and prices.

    \b
    CSV header: handle,title,sku,variant_title,barcode,price,currency,description,family
    One row per variant; consecutive rows with the same handle form one
    product. price (with currency) sets the default price list.

    JSON lines: one product per line ({"handle", "title", "variants": [...]})
    with optional "prices": [{"sku", "amount": {"amount", "currency"}, "channel"}].
    """
    _import("catalog", cli, file, format_, batch_size, rejects)


def _import(
    kind: str, cli: CliContext, file: Path, format_: str | None, batch_size: int,
    rejects: Path | None,
) -> None:
    from omnicore.importing import detect_format, import_catalog, import_stock, open_source

    try:
        detect_format(file, format_)
        with open_source(file):  # unreadable: say so before touching the database
            pass
    except OmnicoreError as exc:
        raise click.ClickException(str(exc)) from None
    action = import_stock if kind == "stock" else import_catalog

    size = max(file.stat().st_size, 1)

    async def go() -> ImportReport:
        async with cli.open(dispatch=False) as commerce:
            with click.progressbar(length=size, label=f"importing {file.name}",
                                   file=sys.stderr) as bar:
                return await action(commerce, file, format=format_, batch_size=batch_size,
                                    progress=bar.update)

    report = run(go())
    click.echo(f"{file.name}: {plural(report.read, 'row')} read, {report.accepted} accepted, "
               f"{len(report.rejected)} rejected in {report.seconds:.1f} s")
    if rejects is not None:
        with rejects.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["line", "field", "message"])
            writer.writerows([r.line, r.field or "", r.message] for r in report.rejected)
        click.echo(f"rejected rows written to {rejects}")
    else:
        for row in report.rejected[:SHOWN_REJECTS]:
            click.echo(f"  line {row.line}: {row.field or '(row)'}: {row.message}")
        if len(report.rejected) > SHOWN_REJECTS:
            click.echo(f"  … and {len(report.rejected) - SHOWN_REJECTS} more "
                       "(--rejects FILE writes them all)")
    if report.rejected and not report.accepted:
        sys.exit(1)
