"""The embedded default source: a folder of gateway NDJSON log files (optionally .gz)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from pydantic import Field

from prism_dagster.errors import SourceError
from prism_dagster.normalize import parse_timestamp
from prism_dagster.schema import EVENT_TIME_COLUMNS, GATEWAY_SCHEMA, REJECT_SCHEMA
from prism_dagster.sources.base import REJECT_TIME, LogSource, SourceBatch
from prism_dagster.sources.spool_index import Span, SpoolIndex

SPOOL_PATTERNS = ("*.ndjson", "*.jsonl", "*.ndjson.gz", "*.jsonl.gz")
_RAW = pl.Struct({name: pl.String for name in GATEWAY_SCHEMA})
_LINE, _LINE_NO, _PRE = "line", "line_number", "_pre_reason"


def spool_files(root: Path) -> list[Path]:
    """Every log file under ``root``, in a stable order."""
    files = {path for pattern in SPOOL_PATTERNS for path in root.rglob(pattern)}
    return sorted(path for path in files if not path.name.startswith("."))


def _python_check(line: str) -> str | None:
    # Slow path, used only for a file the vectorised decoder refused: find which lines
    # are not JSON objects with scalar fields, so the good lines can still be archived.
    try:
        value = json.loads(line)
    except ValueError as exc:
        return f"not valid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(value, dict):
        return f"not a JSON object (got {type(value).__name__})"
    for name in GATEWAY_SCHEMA:
        if isinstance(value.get(name), dict | list):
            return f"{name}: expected a single value, got {type(value[name]).__name__}"
        if isinstance(value.get(name), float) and not math.isfinite(value[name]):
            return f"{name}: expected a finite number, got {value[name]}"
    return None


def _decode_each(lines: pl.DataFrame) -> pl.DataFrame:
    # Last resort for a file whose checked lines still do not decode together: one by one.
    decoded, reasons = [], []
    for line in lines[_LINE]:
        try:
            decoded.append(pl.Series([line]).str.json_decode(_RAW)[0])
            reasons.append(None)
        except pl.exceptions.PolarsError as exc:
            decoded.append(None)
            reasons.append(f"not decodable ({str(exc).splitlines()[0][:120]})")
    return lines.with_columns(
        pl.Series("_raw", decoded, dtype=_RAW), pl.Series(_PRE, reasons, dtype=pl.String)
    )


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
        decoded = lines.with_columns(pl.col(_LINE).str.json_decode(_RAW).alias("_raw"))
        pre = pl.when(pl.col("_raw").is_null()).then(pl.lit("not a JSON object"))
        decoded = decoded.with_columns(pre.alias(_PRE))
    except pl.exceptions.PolarsError:
        checks = pl.Series(_PRE, [_python_check(x) for x in lines[_LINE]], dtype=pl.String)
        lines = lines.with_columns(checks)
        ok = lines.filter(pl.col(_PRE).is_null())
        try:
            ok = ok.with_columns(pl.col(_LINE).str.json_decode(_RAW).alias("_raw"))
        except pl.exceptions.PolarsError:
            ok = _decode_each(ok)
        bad = lines.filter(pl.col(_PRE).is_not_null()).with_columns(
            pl.lit(None, _RAW).alias("_raw")
        )
        decoded = pl.concat([ok, bad]).sort(_LINE_NO)
    decoded = decoded.unnest("_raw")
    typed, problems = [], [pl.col(_PRE)]
    for name, dtype in GATEWAY_SCHEMA.items():
        value, expected = _typed(name, dtype)
        typed.append(value.alias(name))
        bad = pl.col(name).is_not_null() & value.is_null()
        problems.append(
            pl.when(bad).then(pl.lit(f"{name}: expected {expected}, got ") + pl.col(name))
        )
    no_time = pl.all_horizontal(pl.col(c).is_null() for c in EVENT_TIME_COLUMNS)
    problems.append(
        pl.when(no_time & pl.col(_PRE).is_null()).then(pl.lit("no started_at or created_at"))
    )
    reason = pl.concat_str(problems, separator="; ", ignore_nulls=True)
    return decoded.select(
        _LINE_NO, _LINE, *typed, pl.when(reason != "").then(reason).alias("reason")
    )


def _unreadable(file: Path, exc: Exception) -> tuple[pl.DataFrame, pl.DataFrame]:
    # A file that cannot be read at all (truncated gzip, bad encoding) is one reject, filed
    # under the hour it was last written, so it is reported once and blocks no other hour.
    mtime = datetime.fromtimestamp(file.stat().st_mtime, tz=UTC)
    reason = f"unreadable file ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
    bad = pl.DataFrame(
        {"source_file": [str(file)], "line_number": [0], "reason": [reason], "line": [""]},
        schema=REJECT_SCHEMA,
    ).with_columns(pl.lit(mtime).cast(pl.Datetime("us", "UTC")).alias(REJECT_TIME))
    good = pl.DataFrame(schema={**GATEWAY_SCHEMA, "_t": pl.Datetime("us", "UTC")})
    return good, bad


def _span(good: pl.DataFrame, bad: pl.DataFrame) -> Span:
    times = pl.concat([good.get_column("_t"), bad.get_column(REJECT_TIME)]).drop_nulls()
    return (times.min(), times.max()) if len(times) else None  # type: ignore[return-value]


class SpoolSource(LogSource):
    """Gateway log files (NDJSON, optionally gzip) in a spool folder, read with Polars."""

    path: str = Field(description="Spool folder; every *.ndjson / *.jsonl (.gz) below it is read.")

    def describe(self) -> str:
        return f"spool folder {Path(self.path).expanduser()}"

    def read_window(self, start: datetime, end: datetime) -> SourceBatch:
        root = Path(self.path).expanduser()
        if not root.is_dir():
            # An empty read here would look like quiet hours; say what is wrong instead.
            raise SourceError(
                f"spool folder {root} does not exist or is not a folder: fix source.path"
            )
        index = SpoolIndex(root)
        rows, rejects = [], []
        for file in spool_files(root):
            if index.skips(file, start, end):
                continue
            try:
                good, bad = self._read_file(file)
            except (OSError, pl.exceptions.PolarsError) as exc:
                good, bad = _unreadable(file, exc)
            index.record(file, _span(good, bad))
            rows.append(good.filter(pl.col("_t").is_between(start, end, closed="left")))
            rejects.append(bad.filter(pl.col(REJECT_TIME).is_between(start, end, closed="left")))
        index.save()
        typed = pl.DataFrame(schema=GATEWAY_SCHEMA)
        return SourceBatch(
            rows=pl.concat([typed, *(r.drop("_t") for r in rows)], how="vertical"),
            rejects=pl.concat([SourceBatch.empty_rejects(), *rejects], how="vertical"),
        )

    def _read_file(self, file: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
        lines = (
            pl.scan_lines(file, name=_LINE, row_index_name=_LINE_NO, row_index_offset=1)
            .with_columns(pl.col(_LINE_NO).cast(pl.Int64))
            .filter(pl.col(_LINE).str.strip_chars() != "")
            .collect()
        )
        decoded = _decode(lines)
        event = pl.coalesce(*(pl.col(c) for c in EVENT_TIME_COLUMNS))
        mtime = datetime.fromtimestamp(file.stat().st_mtime, tz=UTC)
        decoded = decoded.with_columns(event.alias("_t"))
        good = decoded.filter(pl.col("reason").is_null()).select(*GATEWAY_SCHEMA, "_t")
        # A bad line is filed under the hour of its own time, else its neighbours' in the
        # file (logs are written in time order), else the file's: every bad line lands in
        # exactly one hour, so it is reported once.
        attributed = pl.col("_t").forward_fill().backward_fill().fill_null(mtime)
        bad = decoded.with_columns(attributed.alias(REJECT_TIME)).filter(
            pl.col("reason").is_not_null()
        )
        bad = bad.select(
            pl.lit(str(file)).alias("source_file"), _LINE_NO, "reason", _LINE, REJECT_TIME
        ).cast(REJECT_SCHEMA)
        return good, bad
