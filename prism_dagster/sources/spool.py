"""The embedded default source: a folder of gateway NDJSON log files (optionally .gz).

Every non-blank source line is accounted for exactly once: a row, or a reject filed under one
hour. Blank (whitespace-only) lines are not source lines. A path that cannot be read at all,
and the damaged end of a gzip file, add one reject each with ``line == ""``.
"""

from __future__ import annotations

import logging
import os
import stat
from datetime import datetime
from pathlib import Path

import polars as pl
from pydantic import Field

from prism_dagster.archive.normalize import parse_timestamp, range_problems
from prism_dagster.archive.schema import EVENT_TIME_COLUMNS, GATEWAY_SCHEMA
from prism_dagster.errors import FailureCause, SourceError
from prism_dagster.sources.base import REJECT_TIME, LogSource, SourceBatch
from prism_dagster.sources.spool_index import Span, SpoolIndex
from prism_dagster.sources.spool_lines import (
    EVENT_TIMES,
    LINE,
    LINE_NO,
    PRE,
    RAW,
    REJECTS,
    decode_each,
    filed_at,
    is_symlink,
    non_blank,
    path_reject,
    python_check,
    read_slowly,
    why,
)

#: Log file names end in one of these, in any case, optionally followed by .gz. A .json file
#: is read as NDJSON too: a pretty-printed one then shows up as rejects instead of nothing.
LOG_SUFFIXES = (".ndjson", ".jsonl", ".json")
log = logging.getLogger("prism_dagster")


def is_log_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().removesuffix(".gz").endswith(LOG_SUFFIXES)


def list_spool(root: Path) -> tuple[list[Path], list[Path], list[tuple[Path, OSError, str]]]:
    """Log files under ``root``; other entries, not read; and paths that could not be read."""
    files, ignored, broken = [], [], []

    def unreadable_folder(exc: OSError) -> None:
        if Path(exc.filename) == root:
            # Like a missing folder: every hour would look empty, so fail loudly instead.
            raise SourceError(
                f"spool folder {root} cannot be read ({why(root, exc)}): "
                "grant the Dagster user read access",
                FailureCause.SOURCE_DENIED,
            ) from exc
        broken.append((Path(exc.filename), exc, "folder"))

    # Symlinked folders are not followed (as before with rglob): they could loop.
    for folder, dirs, names in os.walk(root, onerror=unreadable_folder):
        here = Path(folder)
        ignored += [here / d for d in dirs if not d.startswith(".") and is_symlink(here / d)]
        for name in names:
            path = here / name
            if name.startswith("."):
                continue
            if not is_log_name(name):
                ignored.append(path)
                continue
            try:
                regular = stat.S_ISREG(path.stat().st_mode)  # a FIFO would block the run
            except OSError as exc:  # broken or looping symlink, no permission
                broken.append((path, exc, "file"))
                continue
            (files if regular else ignored).append(path)
    return sorted(files), sorted(ignored), sorted(broken, key=lambda b: b[0])


def _typed(name: str, dtype: pl.DataType) -> tuple[pl.Expr, str]:
    raw = pl.col(name)
    if dtype == pl.Int64:
        # Exact digits first (no float rounding above 2**53); then 1e3 or 12.0 style.
        number = raw.cast(pl.Float64, strict=False)
        whole = number.is_finite() & (number == number.floor()) & (number.abs() < 2.0**62)
        spelled = pl.when(whole).then(number.cast(pl.Int64, strict=False))
        return pl.coalesce(raw.cast(pl.Int64, strict=False), spelled), "an integer"
    if dtype == pl.Float64:
        number = raw.cast(pl.Float64, strict=False)
        return pl.when(number.is_finite()).then(number), "a finite number"
    if dtype == pl.Boolean:
        return raw.replace_strict({"true": True, "false": False}, default=None), "true or false"
    if isinstance(dtype, pl.Datetime):
        return parse_timestamp(raw), "an ISO 8601 timestamp"
    return raw, "a string"


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
    decoded = decoded.unnest("_raw")
    typed, problems = [], [pl.col(PRE)]
    for name, dtype in GATEWAY_SCHEMA.items():
        value, expected = _typed(name, dtype)
        typed.append(value.alias(name))
        bad = pl.col(name).is_not_null() & value.is_null()
        problems.append(
            pl.when(bad).then(pl.lit(f"{name}: expected {expected}, got ") + pl.col(name))
        )
    no_time = pl.all_horizontal(pl.col(c).is_null() for c in EVENT_TIME_COLUMNS)
    problems.append(
        pl.when(no_time & pl.col(PRE).is_null()).then(pl.lit("no started_at or created_at"))
    )
    decoded = decoded.select(
        LINE_NO, LINE, *typed, *(p.alias(f"_p{i}") for i, p in enumerate(problems))
    )
    event = pl.coalesce(*(pl.col(c) for c in EVENT_TIME_COLUMNS))
    # Range checks need the typed values, hence a second pass.
    reason = pl.concat_str(
        [pl.col(r"^_p\d+$"), *range_problems(event)], separator="; ", ignore_nulls=True
    )
    return decoded.select(
        LINE_NO, LINE, *GATEWAY_SCHEMA, pl.when(reason != "").then(reason).alias("reason")
    )


def _span(good: pl.DataFrame, bad: pl.DataFrame) -> Span:
    times = pl.concat([good.get_column("_t"), bad.get_column(REJECT_TIME)]).drop_nulls()
    return (times.min(), times.max()) if len(times) else None  # type: ignore[return-value]


class SpoolSource(LogSource):
    """Gateway log files (NDJSON, optionally gzip) in a spool folder, read with Polars."""

    path: str = Field(
        description="Spool folder; every *.ndjson / *.jsonl / *.json (.gz) below it is read."
    )

    def describe(self) -> str:
        return f"spool folder {Path(self.path).expanduser()}"

    def read_window(self, start: datetime, end: datetime) -> SourceBatch:
        root = Path(self.path).expanduser()
        if not root.is_dir():
            # An empty read here would look like quiet hours; say what is wrong instead.
            raise SourceError(
                f"spool folder {root} does not exist or is not a folder: fix source.path"
            )
        files, ignored, broken = list_spool(root)
        if ignored:
            names = ", ".join(p.relative_to(root).as_posix() for p in ignored[:10])
            log.warning(
                "spool %s: %d entries not read (not regular *.ndjson/*.jsonl/*.json[.gz] files)"
                ": %s",
                root,
                len(ignored),
                names,
            )
        index = SpoolIndex(root)
        rows, rejects = [], [path_reject(path, exc, start, kind) for path, exc, kind in broken]
        unreadable = [f"{path}: {why(path, exc)}" for path, exc, _ in broken]
        for file in files:
            key = index.key(file)  # before reading: a file growing meanwhile is read again
            if index.skips(key, start, end):
                continue
            try:
                good, bad = self._read_file(file, start)
            except Exception as exc:  # one file, whatever is wrong with it, never fails the run
                rejects.append(path_reject(file, exc, start, "file"))
                unreadable.append(f"{file}: {why(file, exc)}")
                continue  # and is not indexed, so the next run reads it again
            index.record(key, _span(good, bad))
            rows.append(good.filter(pl.col("_t").is_between(start, end, closed="left")))
            rejects.append(bad)
        index.save()
        typed = pl.DataFrame(schema=GATEWAY_SCHEMA)
        in_window = pl.col(REJECT_TIME).is_between(start, end, closed="left")
        return SourceBatch(
            rows=pl.concat([typed, *(r.drop("_t") for r in rows)], how="vertical"),
            rejects=pl.concat([SourceBatch.empty_rejects(), *rejects]).filter(in_window),
            ignored=tuple(p.relative_to(root).as_posix() for p in ignored),
            unreadable=tuple(unreadable),
        )

    def _read_file(self, file: Path, start: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
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
        decoded = _decode(lines)
        if early is not None and early.height:
            decoded = pl.concat([decoded, early], how="diagonal").sort(LINE_NO)
        event = pl.coalesce(*(pl.col(c) for c in EVENT_TIME_COLUMNS))
        decoded = decoded.with_columns(
            pl.when(event.is_between(*EVENT_TIMES, closed="left")).then(event).alias("_t")
        )
        good = decoded.filter(pl.col("reason").is_null()).select(*GATEWAY_SCHEMA, "_t")
        # A bad line is filed under the hour of its own (plausible) time, else its neighbours'
        # in the file (logs are written in time order), else the file's: every bad line lands
        # in exactly one hour, so it is reported once.
        attributed = pl.col("_t").forward_fill().backward_fill().fill_null(filed_at(file, start))
        bad = decoded.with_columns(attributed.alias(REJECT_TIME)).filter(
            pl.col("reason").is_not_null()
        )
        bad = bad.select(
            pl.lit(str(file)).alias("source_file"), LINE_NO, "reason", LINE, REJECT_TIME
        ).cast(REJECTS)
        return good, bad
