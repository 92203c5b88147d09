"""`medsynergy mssp ...`: Medicare Shared Savings Program commands (Typer sub-app).

    medsynergy mssp settle-puf FILE [--year Y] [--format table|json|csv]

recomputes every ACO's earned shared savings / owed losses of a CMS results file with the
settlement rules (`contracts.mssp_settle`) and sets them next to the published amounts.
A user error prints one line on stderr and exits with code 2.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from medsynergy.contracts.mssp_puf import compare_rows, match_rates, read_puf
from medsynergy.errors import UserError

mssp_app = typer.Typer(
    name="mssp",
    help="Medicare Shared Savings Program: settle ACOs, check against CMS results files.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

COLUMNS = ("aco_id", "track", "two_sided", "n_ab", "computed_earned", "published_earned",
           "difference", "match", "msr_used", "msr_published", "msr_disagrees", "notes")
TABLE_COLUMNS = ("aco_id", "track", "n_ab", "computed_earned", "published_earned",
                 "difference", "match", "msr_disagrees")


@mssp_app.callback()
def _mssp() -> None:
    """Medicare Shared Savings Program: settle ACOs, check against CMS results files."""
    # a callback keeps `mssp` a command group even while it has a single command


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


@mssp_app.command("settle-puf")
def settle_puf(
    file: Annotated[Path, typer.Argument(help="A CMS MSSP results file (PUF, CSV).")],
    year: Annotated[int | None, typer.Option(
        "--year", help="Performance year (default: from the layout or the file name).")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")
                   ] = OutputFormat.table,
    mismatches: Annotated[bool, typer.Option(
        "--mismatches", help="Table: list only the ACOs that do not match.")] = False,
) -> None:
    """Recompute each ACO's settlement and compare it with the published EarnSaveLoss."""
    try:
        puf = read_puf(file, year)
        rows = compare_rows(puf)
    except UserError as exc:
        Console(stderr=True).print(f"error: {exc}", markup=False, highlight=False,
                                   soft_wrap=True)
        raise typer.Exit(2) from None
    if fmt is OutputFormat.json:
        sys.stdout.write(orjson.dumps([_plain(r) for r in rows], default=_decimal,
                                      option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt is OutputFormat.csv:
        sys.stdout.write(_csv(rows))
    else:
        _table(rows, f"{file.name}: {puf.layout}, PY{puf.year}", mismatches)


def _plain(row: Mapping[str, object]) -> dict[str, object]:
    return {c: row[c] for c in COLUMNS}


def _decimal(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return str(value)


def _csv(rows: Sequence[Mapping[str, object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(row[c]) for c in COLUMNS])
    return buf.getvalue()


def _table(rows: Sequence[Mapping[str, object]], title: str, mismatches: bool) -> None:
    out = Console(width=None if sys.stdout.isatty() else 200)
    table = Table(title=title)
    for column in TABLE_COLUMNS:
        table.add_column(column, justify="right" if column.endswith("earned")
                         or column in ("n_ab", "difference") else "left")
    for row in rows:
        if mismatches and row["match"] is True:
            continue
        table.add_row(*(_cell(row[c]) for c in TABLE_COLUMNS))
    out.print(table)
    for key, (matched, total) in match_rates(rows).items():
        share = f"{100 * matched / total:.1f} %" if total else "n/a"
        out.print(f"{key.replace('_', '-')} ACOs: {matched} of {total} match ({share})",
                  highlight=False)
    disagree = [str(r["aco_id"]) for r in rows if r["msr_disagrees"] is True]
    out.print(f"one-sided ACOs whose published MSR is not the size table's: {len(disagree)}"
              + (f" ({', '.join(disagree)})" if disagree else ""), highlight=False)
