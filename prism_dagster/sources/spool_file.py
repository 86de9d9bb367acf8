"""One spool file to typed rows and rejects: Polars' own NDJSON reader first, in one go.

The fast path is taken only when every line of the file is a good one. Anything else (bad
bytes, damaged gzip, a line that is not a JSON object, a value of the wrong type or out of
range) sends the whole file to the careful reader, which accounts for each bad line; both
give the same rows.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl

from prism_dagster.archive.schema import EVENT_TIME_COLUMNS, GATEWAY_SCHEMA
from prism_dagster.sources.base import REJECT_TIME
from prism_dagster.sources.spool_lines import (
    EVENT_TIMES,
    LINE,
    LINE_NO,
    PRE,
    RAW,
    REJECTS,
    decode_each,
    filed_at,
    non_blank,
    python_check,
    read_slowly,
)
from prism_dagster.sources.spool_typing import (
    RAW_FIELDS,
    typed_if_all_good,
    typed_with_reasons,
)

# Read as text, a JSON object or array in a text field arrives as its JSON ('{"a": 1}'),
# which the careful reader rejects; a real text value starting so is read carefully too.
_TEXT_FIELDS = [name for name, dtype in GATEWAY_SCHEMA.items() if dtype == pl.String]
NESTED = pl.any_horizontal(
    pl.col(_TEXT_FIELDS).str.starts_with("{") | pl.col(_TEXT_FIELDS).str.starts_with("[")
)


def read_clean(source: Path | bytes) -> pl.DataFrame | None:
    """A file's (or a block of lines') rows as typed gateway columns, plus ``_t``; None if
    any line needs the careful reader."""
    try:
        raw = pl.read_ndjson(source, schema=RAW_FIELDS)  # gzip too, by its magic bytes
    except (OSError, pl.exceptions.PolarsError):
        return None
    if raw.select(NESTED.any()).item():
        return None
    typed = typed_if_all_good(raw)
    return None if typed is None else typed.with_columns(IN_RANGE)


def _decode(lines: pl.DataFrame) -> pl.DataFrame:
    """Lines to typed gateway columns plus a ``reason`` for each line that is bad."""
    try:
        decoded = lines.with_columns(pl.col(LINE).str.json_decode(RAW).alias("_raw"))
        pre = pl.when(pl.col("_raw").is_null()).then(pl.lit("not a JSON object"))
        decoded = decoded.with_columns(pre.alias(PRE))
    except pl.exceptions.PolarsError:
        checks = pl.Series(PRE, [python_check(x) for x in lines[LINE]], dtype=pl.String)
        lines = lines.with_columns(checks)
        ok = lines.filter(pl.col(PRE).is_null())
        try:
            ok = ok.with_columns(pl.col(LINE).str.json_decode(RAW).alias("_raw"))
        except pl.exceptions.PolarsError:
            ok = decode_each(ok)
        bad = lines.filter(pl.col(PRE).is_not_null()).with_columns(pl.lit(None, RAW).alias("_raw"))
        decoded = pl.concat([ok, bad]).sort(LINE_NO)
    return typed_with_reasons(decoded.unnest("_raw"), pl.col(PRE), [LINE_NO, LINE])


_EVENT = pl.coalesce(*(pl.col(c) for c in EVENT_TIME_COLUMNS))
#: ``_t``: the row's event time when plausible, which files it under an hour.
IN_RANGE = pl.when(_EVENT.is_between(*EVENT_TIMES, closed="left")).then(_EVENT).alias("_t")


def read_file(file: Path, start: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``file``'s good rows (typed, plus their hour ``_t``) and its rejects.

    ``start``: the hour a problem of the whole file is filed under when its time is unknown.
    """
    clean = read_clean(file)
    if clean is not None:
        return clean, pl.DataFrame(schema=REJECTS)
    return read_carefully(file, start)


def read_carefully(file: Path, start: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``read_file`` line by line: every bad line becomes a reject, the good ones are kept."""
    try:
        first = pl.col(LINE_NO) == 1
        lines = (
            pl.scan_lines(file, name=LINE, row_index_name=LINE_NO, row_index_offset=1)
            .with_columns(pl.col(LINE_NO).cast(pl.Int64))
            .with_columns(
                pl.when(first)
                .then(pl.col(LINE).str.strip_prefix("\ufeff"))
                .otherwise(pl.col(LINE))
                .alias(LINE)
            )
            .pipe(non_blank)
            .collect()
        )
        early = None
    except (OSError, pl.exceptions.PolarsError):
        # Invalid UTF-8 or damaged gzip: recover line by line (raises OSError if unreadable).
        lines, early = read_slowly(file)
    return rows_and_rejects(file, start, lines, early)


def rows_and_rejects(
    file: Path, start: datetime, lines: pl.DataFrame, early: pl.DataFrame | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Numbered lines of ``file`` (and those that failed before JSON) to rows and rejects."""
    decoded = _decode(lines)
    if early is not None and early.height:
        decoded = pl.concat([decoded, early], how="diagonal").sort(LINE_NO)
    decoded = decoded.with_columns(IN_RANGE)
    good = decoded.filter(pl.col("reason").is_null()).select(*GATEWAY_SCHEMA, "_t")
    # A bad line is filed under the hour of its own (plausible) time, else its neighbours'
    # in the file (logs are written in time order), else the file's: every bad line lands
    # in exactly one hour, so it is reported once.
    attributed = pl.col("_t").forward_fill().backward_fill().fill_null(filed_at(file, start))
    bad = decoded.with_columns(attributed.alias(REJECT_TIME)).filter(pl.col("reason").is_not_null())
    bad = bad.select(
        pl.lit(str(file)).alias("source_file"), LINE_NO, "reason", LINE, REJECT_TIME
    ).cast(REJECTS)
    return good, bad
