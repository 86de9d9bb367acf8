"""Gateway fields as JSON text to typed columns, with a reason for every line that is bad.

Both spool readers end here: the fast one (Polars' NDJSON reader, each field read as text)
and the careful one (line by line). The text each field arrives as is the same from both,
so the typed values and the reasons are too.
"""

from __future__ import annotations

import polars as pl

from prism_dagster.archive.normalize import out_of_range, parse_timestamp, range_problems
from prism_dagster.archive.schema import EVENT_TIME_COLUMNS, GATEWAY_SCHEMA

#: Every gateway field as JSON text: what both readers decode a line into.
RAW_FIELDS = pl.Schema({name: pl.String for name in GATEWAY_SCHEMA})
REASON = "reason"
PRE = "_pre_reason"


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


_TYPED = "__typed"  # suffix of a field's typed value beside its text while both are needed


def _with_typed(raw: pl.DataFrame, keep: list[str], pre: pl.Expr) -> pl.DataFrame:
    """``raw`` plus each field typed (``name + _TYPED``), each typed once, and ``PRE``."""
    typed = (_typed(name, dtype)[0].alias(name + _TYPED) for name, dtype in GATEWAY_SCHEMA.items())
    return raw.select(*keep, *GATEWAY_SCHEMA, *typed, pre.alias(PRE))


def _checks() -> list[tuple[pl.Expr, pl.Expr]]:
    """Per check, over ``_with_typed``'s columns: (whether a line fails it, the reason)."""
    pre = pl.col(PRE)
    checks = [(pre.is_not_null(), pre)]
    for name, dtype in GATEWAY_SCHEMA.items():
        bad = pl.col(name).is_not_null() & pl.col(name + _TYPED).is_null()
        expected = _typed(name, dtype)[1]
        checks.append((bad, pl.lit(f"{name}: expected {expected}, got ") + pl.col(name)))
    no_time = pl.all_horizontal(pl.col(c).is_null() for c in EVENT_TIME_COLUMNS)
    checks.append((no_time & pre.is_null(), pl.lit("no started_at or created_at")))
    return checks


_AS_TYPED = [pl.col(name + _TYPED).alias(name) for name in GATEWAY_SCHEMA]


def _event() -> pl.Expr:
    return pl.coalesce(*(pl.col(c) for c in EVENT_TIME_COLUMNS))


def typed_with_reasons(raw: pl.DataFrame, pre: pl.Expr, keep: list[str]) -> pl.DataFrame:
    """``keep`` columns, the typed gateway fields, and ``reason`` (null when the line is good).

    ``raw`` holds the fields as text (``RAW_FIELDS``); ``pre`` is a reason found before the
    fields were read (e.g. not JSON), null for lines without one.
    """
    both = _with_typed(raw, keep, pre)
    found = (pl.when(bad).then(reason) for bad, reason in _checks())
    decoded = both.select(*keep, *_AS_TYPED, *(p.alias(f"_p{i}") for i, p in enumerate(found)))
    # Range checks need the typed values, hence a second pass.
    reason = pl.concat_str(
        [pl.col(r"^_p\d+$"), *range_problems(_event())], separator="; ", ignore_nulls=True
    )
    return decoded.select(*keep, *GATEWAY_SCHEMA, pl.when(reason != "").then(reason).alias(REASON))


def typed_if_all_good(raw: pl.DataFrame) -> pl.DataFrame | None:
    """The typed gateway fields when no line of ``raw`` has a problem, else None.

    The same checks as ``typed_with_reasons``, without spelling out reasons nobody reads.
    """
    both = _with_typed(raw, [], pl.lit(None, pl.String))
    if both.select(pl.any_horizontal(bad for bad, _ in _checks()).any()).item():
        return None
    typed = both.select(_AS_TYPED)
    if typed.select(pl.any_horizontal(bad for bad, _ in out_of_range(_event())).any()).item():
        return None
    return typed
