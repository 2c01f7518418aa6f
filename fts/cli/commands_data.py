"""Data commands: `fts ingest sample|csv|yfinance` and `fts sql` (see fts/cli/__init__.py)."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import click

from fts.cli.common import get_project
from fts.core.errors import FtsError


def _progress(line: str) -> None:
    """Progress lines go to stdout; warning lines to stderr, where they belong."""
    click.echo(line, err=line.startswith("warning:"))


@click.group("ingest")
def ingest() -> None:
    """Load daily OHLCV into the warehouse (append-only; each load keeps a manifest).

    A load stores the ticker's complete series: the new rows laid over its latest load, so
    downloading recent days extends history. Identical data is reported as "unchanged".
    """


@ingest.command("sample")
@click.pass_context
def ingest_sample(ctx: click.Context) -> None:
    """Load the embedded sample: ^GSPC daily OHLCV 1999-2018 and ^VIX closes 2014-2019."""
    get_project(ctx).ingest_sample(progress=_progress)


@ingest.command("csv")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--ticker", "-t", required=True, help="Symbol the file holds, e.g. AAPL or ^GSPC.")
@click.option("--raw-close", is_flag=True,
              help="Use the raw Close column even when the file has Adj Close "
                   "(default: Adj Close, with open/high/low scaled by the same factor).")
@click.pass_context
def ingest_csv(ctx: click.Context, path: str, ticker: str, raw_close: bool) -> None:
    """Load a Yahoo-style daily CSV: Date,Open,High,Low,Close[,Adj Close],Volume."""
    get_project(ctx).ingest_csv(path, ticker, adjusted=not raw_close, progress=_progress)


@ingest.command("yfinance")
@click.argument("tickers", nargs=-1, required=True)
@click.option("--start", default=None, help="First date to download, YYYY-MM-DD (inclusive; "
              "default: the whole history).")
@click.option("--end", default=None, help="Date to stop at, YYYY-MM-DD (exclusive; "
              "default: today).")
@click.pass_context
def ingest_yfinance(ctx: click.Context, tickers: tuple[str, ...], start: str | None,
                    end: str | None) -> None:
    """Download daily adjusted bars from Yahoo Finance; one load per ticker."""
    get_project(ctx).ingest_yfinance(list(tickers), start=start, end=end, progress=_progress)


# -- sql ---------------------------------------------------------------------------------------

#: Statement kinds that modify the database: refused without --write, before DuckDB's own
#: read-only mode would refuse them with a less helpful message.
_WRITE_STATEMENTS = {
    "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "COPY", "EXPORT", "VACUUM",
    "ATTACH", "DETACH", "COPY_DATABASE", "MERGE_INTO", "CREATE_FUNC",
}


def _refuse_writes(query: str) -> None:
    import duckdb

    try:
        kinds = [s.type.name for s in duckdb.extract_statements(query)]
    except duckdb.Error:
        return  # a syntax error: let the query itself report it
    writes = sorted({k for k in kinds if k in _WRITE_STATEMENTS})
    if writes:
        raise FtsError(
            f"sql: {'/'.join(writes)} statements modify the warehouse, which `fts sql` opens "
            "read-only; pass --write to run them"
        )


@click.command("sql")
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="Output format.")
@click.option("--write", is_flag=True, help="Open the warehouse read-write (needed for INSERT, "
              "CREATE, ...).")
@click.pass_context
def sql(ctx: click.Context, query: str, fmt: str, write: bool) -> None:
    """Run one SQL QUERY over the warehouse (read-only unless --write) and print the result.

    Tables: raw.ohlcv (each ticker's latest load), raw.loads, raw.ohlcv_history,
    meta.manifests, and one view per built tier.
    """
    if not write:
        _refuse_writes(query)
    table = get_project(ctx).sql(query, write=write)
    click.echo(FORMATTERS[fmt](table), nl=False)


def _cell(value: Any) -> str:
    return "NULL" if value is None else str(value)


def format_table(table: Any) -> str:
    """An aligned text table (numbers right-aligned) followed by a row count."""
    if table.num_columns == 0:
        return "ok\n"
    import pyarrow as pa

    names = table.column_names
    columns = [[_cell(v) for v in table.column(n).to_pylist()] for n in names]
    numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
               for t in table.schema.types]
    widths = [max([len(n), *map(len, col)]) for n, col in zip(names, columns, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w)
                         for c, w, num in zip(cells, widths, numeric, strict=True)).rstrip()

    out = [line(names), line(["-" * w for w in widths])]
    out += [line(list(row)) for row in zip(*columns, strict=True)]
    out.append(f"({table.num_rows} row{'' if table.num_rows == 1 else 's'})")
    return "\n".join(out) + "\n"


def format_csv(table: Any) -> str:
    """CSV with a header row, quoting only where needed; empty cells for NULL."""
    if table.num_columns == 0:
        return ""
    sink = io.StringIO()
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(table.column_names)
    writer.writerows(zip(*(table.column(n).to_pylist() for n in table.column_names),
                         strict=True))
    return sink.getvalue()


def format_json(table: Any) -> str:
    """A JSON array of row objects; dates as ISO strings, NaN/inf as null."""
    def clean(v: Any) -> Any:
        return None if isinstance(v, float) and not math.isfinite(v) else v

    rows = [{k: clean(v) for k, v in row.items()} for row in table.to_pylist()]
    return json.dumps(rows, default=str, ensure_ascii=False) + "\n"


FORMATTERS = {"table": format_table, "csv": format_csv, "json": format_json}

COMMANDS: list[click.Command] = [ingest, sql]
