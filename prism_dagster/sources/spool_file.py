"""One spool file to typed rows and rejects: Polars' own NDJSON reader first, in one go.

The fast path is taken only when every line of the file is a good one. Anything else (bad
bytes, damaged gzip, a line that is not a JSON object, a value of the wrong type or out of
range) sends the whole file to the careful reader, which accounts for each bad line; both
give the same rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from prism_dagster.archive.schema import EVENT_TIME_COLUMNS, GATEWAY_SCHEMA
from prism_dagster.names import hour_text
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

log = logging.getLogger("prism_dagster")

#: JSON nested deeper than this is a reject before any parser sees it: Polars before 2.1
#: overflows its stack (the process dies, nothing is raised) on a line nested some thousands
#: deep, and Python's json gives up near 1000 anyway.
MAX_DEPTH = 500
TOO_DEEP = "not valid JSON (nested too deeply)"
_BRACKETS = pl.col(LINE).str.count_matches(r"[\[{]")
_POLARS_DEPTH_SAFE = tuple(int(x) for x in pl.__version__.split(".")[:2]) >= (2, 1)

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
        if not _POLARS_DEPTH_SAFE and _may_nest_deeply(source):
            return None
        raw = pl.read_ndjson(source, schema=RAW_FIELDS)  # gzip too, by its magic bytes
    except (OSError, pl.exceptions.PolarsError):
        return None
    if raw.select(NESTED.any()).item():
        return None
    typed = typed_if_all_good(raw)
    return None if typed is None else typed.with_columns(IN_RANGE)


def _may_nest_deeply(source: Path | bytes) -> bool:
    """Whether a line of ``source`` has more than ``MAX_DEPTH`` brackets (a cheap upper bound
    of its depth); read with Polars' line reader, which parses no JSON."""
    lines = pl.scan_lines(source, name=LINE, glob=False)
    most = lines.select(_BRACKETS.max()).collect().item()
    return most is not None and most > MAX_DEPTH


def nesting_depth(line: str) -> int:
    """The deepest nesting of arrays and objects in a JSON text (brackets in strings ignored)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in line:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _decode(lines: pl.DataFrame) -> pl.DataFrame:
    """Lines to typed gateway columns plus a ``reason`` for each line that is bad."""
    deep = _too_deep(lines)
    if deep.any():
        decoded = _decode_raw(lines.filter(~deep))
        refused = lines.filter(deep).with_columns(
            pl.lit(None, RAW).alias("_raw"), pl.lit(TOO_DEEP, pl.String).alias(PRE)
        )
        decoded = pl.concat([decoded, refused.select(decoded.columns)]).sort(LINE_NO)
    else:
        decoded = _decode_raw(lines)
    return typed_with_reasons(decoded.unnest("_raw"), pl.col(PRE), [LINE_NO, LINE])


def _too_deep(lines: pl.DataFrame) -> pl.Series:
    """Which lines nest deeper than ``MAX_DEPTH`` (counted exactly only where the brackets
    could reach it)."""
    suspects = lines.select(_BRACKETS > MAX_DEPTH).to_series().fill_null(False)
    if not suspects.any():
        return suspects
    deep = [s and nesting_depth(x) > MAX_DEPTH for x, s in zip(lines[LINE], suspects, strict=True)]
    return pl.Series(deep, dtype=pl.Boolean)


def _decode_raw(lines: pl.DataFrame) -> pl.DataFrame:
    """Lines with ``_raw`` (the decoded object, or null) and ``PRE`` (why it is not one)."""
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
    return decoded


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
    read = rows_and_rejects(file, lines, early)
    if read.first is not None or not read.bad.height:
        return read.good, read.bad
    moment = undated(file, start, read.bad.height)
    return read.good, read.bad.with_columns(pl.col(REJECT_TIME).fill_null(moment))


@dataclass(frozen=True)
class Lines:
    """Some lines of a file as rows and rejects, and the times that date their neighbours."""

    good: pl.DataFrame  # typed gateway columns, plus ``_t``
    bad: pl.DataFrame  # ``REJECTS``; the time is null where no line dates a reject
    first: datetime | None  # the first dated line's time
    last: datetime | None  # the last dated line's time


def rows_and_rejects(
    file: Path, lines: pl.DataFrame, early: pl.DataFrame | None, after: datetime | None = None
) -> Lines:
    """Numbered lines of ``file`` (and those that failed before JSON) to rows and rejects.

    ``after``: the time of the last dated line before these, in the file.
    """
    decoded = _decode(lines)
    if early is not None and early.height:
        decoded = pl.concat([decoded, early], how="diagonal").sort(LINE_NO)
    decoded = decoded.with_columns(IN_RANGE)
    good = decoded.filter(pl.col("reason").is_null()).select(*GATEWAY_SCHEMA, "_t")
    # A bad line is filed under the hour of its own (plausible) time, else its neighbours'
    # in the file (logs are written in time order): the last dated line before it, else
    # the first after it. Every bad line lands in exactly one hour, so it is reported once.
    attributed = pl.col("_t").forward_fill()
    if after is not None:
        attributed = attributed.fill_null(after)
    bad = decoded.with_columns(attributed.backward_fill().alias(REJECT_TIME))
    bad = bad.filter(pl.col("reason").is_not_null()).select(
        pl.lit(str(file)).alias("source_file"), LINE_NO, "reason", LINE, REJECT_TIME
    )
    times = decoded.get_column("_t").drop_nulls()
    first, last = (times[0], times[-1]) if len(times) else (None, None)
    return Lines(good, bad.cast(REJECTS), first, last)


def undated(file: Path, start: datetime, count: int) -> datetime:
    """When ``count`` bad lines of ``file`` that no line of it dates are filed: the file's
    time (see ``filed_at``). Said in the run's log: nothing in the file tells their hour."""
    moment = filed_at(file, start)
    log.warning(
        "spool file %s: %d bad line(s) and no line with a readable time; filed as rejects "
        "under hour %s (when the file was last written)",
        file,
        count,
        hour_text(moment.replace(minute=0, second=0, microsecond=0)),
    )
    return moment
