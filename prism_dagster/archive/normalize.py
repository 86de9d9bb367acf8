"""Polars expression pipeline from gateway rows to archive records (no per-row Python)."""

from __future__ import annotations

import polars as pl

from prism_dagster.archive.schema import (
    ERROR_MESSAGE_MAX_CHARS,
    EVENT_TIME,
    EVENT_TIME_COLUMNS,
    EVENT_TIME_RANGE,
    EVENT_TYPE,
    FIELD_RANGES,
    GATEWAY_SCHEMA,
    RECORD_COLUMNS,
    RECORD_SCHEMA,
    TIMESTAMP_FORMAT,
)
from prism_dagster.errors import BadRecordsError

# Offsets (Z, +02:00) first; then naive ISO, which the gateway writes in UTC.
_TIMESTAMP_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f")


def parse_timestamp(text: pl.Expr) -> pl.Expr:
    """ISO 8601 text (any offset, or none meaning UTC) to a UTC datetime; null if unparseable."""
    text = text.str.strip_chars().str.replace(" ", "T", literal=True)
    return pl.coalesce(
        [
            text.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC")
            for fmt in _TIMESTAMP_FORMATS
        ]
    )


def out_of_range(event: pl.Expr) -> list[tuple[pl.Expr, pl.Expr]]:
    """Per documented range, (whether a row's value is outside it, the reason to give).

    ``event`` is the row's event time (UTC datetime). Expects the columns of ``GATEWAY_SCHEMA``.
    """
    checks = []
    for name, (low, high) in FIELD_RANGES.items():
        value = pl.col(name)
        outside = value.is_not_null() & ((value < low) | (value > high))
        checks.append(
            (outside, pl.lit(f"{name}: expected {low} to {high}, got ") + value.cast(pl.String))
        )
    first, last = (
        pl.lit(moment).str.to_datetime(time_unit="us", time_zone="UTC")
        for moment in EVENT_TIME_RANGE
    )
    early_or_late = event.is_not_null() & ((event < first) | (event >= last))
    checks.append(
        (
            early_or_late,
            pl.lit(f"event time outside {EVENT_TIME_RANGE[0]} .. {EVENT_TIME_RANGE[1]}, got ")
            + event.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    )
    return checks


def range_problems(event: pl.Expr) -> list[pl.Expr]:
    """Per row, a reason for each typed gateway value outside its documented range (else null)."""
    return [pl.when(outside).then(reason) for outside, reason in out_of_range(event)]


def _as_utc(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if dtype == pl.String:
        return parse_timestamp(column)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return column.dt.replace_time_zone("UTC").dt.cast_time_unit("us")
        return column.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    return column.cast(pl.Datetime("us", "UTC"))


def event_time(schema: pl.Schema) -> pl.Expr:
    """``started_at``, or ``created_at`` when that is missing, as a UTC datetime."""
    parts = [_as_utc(name, schema[name]) for name in EVENT_TIME_COLUMNS if name in schema]
    if not parts:
        return pl.lit(None, dtype=pl.Datetime("us", "UTC"))
    return pl.coalesce(parts)


def _field(name: str, dtype: pl.DataType, schema: pl.Schema) -> pl.Expr:
    if name not in schema:
        value = pl.lit(None, dtype=dtype)
    elif dtype == pl.Float64:
        # Decimals (numeric(12,6) in the store) become plain floats; NaN is not JSON.
        value = pl.col(name).cast(pl.Float64).fill_nan(None)
    else:
        value = pl.col(name).cast(dtype)
    if dtype == pl.String:
        default: object = ""
    elif dtype == pl.Boolean:
        default = False
    else:
        default = 0
    return value.fill_null(pl.lit(default, dtype=dtype)).alias(name)


#: The archive's row order: time, then id, then every other column, so that equal times and
#: ids cannot reorder between reruns.
ORDER = [
    "timestamp",
    "request_id",
    *(c for c in RECORD_COLUMNS if c not in ("timestamp", "request_id")),
]


def sort_records(records: pl.DataFrame) -> pl.DataFrame:
    """Records in the archive's order (``ORDER``)."""
    return records.sort(ORDER)


def shape(rows: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """Gateway rows to archive records (exact keys, types and defaults), in read order."""
    lazy = rows.lazy()
    schema = lazy.collect_schema()
    fields = [
        _field(name, RECORD_SCHEMA[name], schema)
        for name in GATEWAY_SCHEMA
        if name in RECORD_SCHEMA
    ]
    records = (
        lazy.select(*fields, event_time(schema).alias(EVENT_TIME))
        .with_columns(
            pl.col("error_message").str.slice(0, ERROR_MESSAGE_MAX_CHARS),
            pl.col(EVENT_TIME).dt.strftime(TIMESTAMP_FORMAT).alias("timestamp"),
            pl.lit(EVENT_TYPE).alias("event_type"),
        )
        .collect()
    )
    missing = records.get_column(EVENT_TIME).null_count()
    if missing:
        raise BadRecordsError(
            f"{missing} source row(s) have neither started_at nor created_at; "
            "the source must reject them before normalisation"
        )
    return records.select(RECORD_COLUMNS)


def normalize(rows: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """Gateway rows to archive records, in the archive's order.

    Sorting by (timestamp, request_id) makes the output independent of read order,
    so a rerun of an hour writes byte-identical files.
    """
    return sort_records(shape(rows))
