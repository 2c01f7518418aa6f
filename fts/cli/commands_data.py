"""Data commands: `fts ingest sample|csv|yfinance` and `fts sql` (see fts/cli/__init__.py)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fts.cli.common import get_project
from fts.core.atomic import atomic_path, atomic_write_text
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

@click.command("sql")
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the result to FILE instead of printing it: CSV, JSON or Parquet by "
                   "its extension (.csv, .json, .parquet), replaced atomically.")
@click.option("--write", is_flag=True, help="Open the warehouse read-write, unsandboxed: any "
              "statement DuckDB runs (INSERT, CREATE, COPY, SET, INSTALL, ...).")
@click.pass_context
def sql(ctx: click.Context, query: str, fmt: str, output: str | None, write: bool) -> None:
    """Run SQL QUERY over the warehouse and print the result of its last statement.

    Without --write only statements that read run (SELECT, WITH, EXPLAIN, DESCRIBE, SHOW,
    SUMMARIZE, PIVOT), sandboxed: no file outside the project, no extension, no setting.
    Tables: raw.ohlcv (each ticker's latest load), raw.loads, raw.ohlcv_history,
    meta.manifests, hpo_trials, hpo_studies, and one view per built tier.
    """
    writer = _output_writer(output) if output else None  # a bad extension fails before the query
    table = get_project(ctx).sql(query, write=write)
    if writer is None:
        click.echo(FORMATTERS[fmt](table), nl=False)
        return
    writer(table, Path(output))  # type: ignore[arg-type]
    click.echo(f"wrote {table.num_rows} row{'' if table.num_rows == 1 else 's'} to {output}")


def _output_writer(output: str) -> Callable[[Any, Path], None]:
    suffix = Path(output).suffix.lower()
    if suffix not in WRITERS:
        raise FtsError(f"--output {output}: unknown extension {suffix or '(none)'}; use "
                       ".csv, .json or .parquet")
    return WRITERS[suffix]


def _write_text(formatter: Callable[[Any], str]) -> Callable[[Any, Path], None]:
    def write(table: Any, path: Path) -> None:
        atomic_write_text(path, formatter(table))
    return write


def _write_parquet(table: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


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
WRITERS = {".csv": _write_text(format_csv), ".json": _write_text(format_json),
           ".parquet": _write_parquet}

COMMANDS: list[click.Command] = [ingest, sql]
