"""Normalisation: exact keys and types, defaults, time handling, truncation."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import polars as pl
import pytest

from prism_dagster.archive.normalize import normalize
from prism_dagster.archive.schema import ERROR_MESSAGE_MAX_CHARS, RECORD_COLUMNS
from prism_dagster.errors import BadRecordsError


def _one(**columns: object) -> dict:
    frame = pl.DataFrame({k: [v] for k, v in columns.items()})
    [line] = normalize(frame).write_ndjson().splitlines()
    return json.loads(line)


def test_record_has_exactly_the_19_keys_in_order() -> None:
    record = _one(request_id="r1", started_at="2026-03-31T14:22:10Z")
    assert list(record) == list(RECORD_COLUMNS)
    assert len(record) == 19
    assert record["event_type"] == "request"


def test_missing_started_at_falls_back_to_created_at() -> None:
    frame = pl.DataFrame(
        {
            "request_id": ["a", "b"],
            "started_at": [None, "2026-03-31T14:00:00Z"],
            "created_at": ["2026-03-31T14:22:10.5Z", "2026-03-31T15:00:00Z"],
        }
    )
    out = normalize(frame)
    assert out["timestamp"].to_list() == ["2026-03-31T14:00:00.000Z", "2026-03-31T14:22:10.500Z"]
    assert out["request_id"].to_list() == ["b", "a"]


def test_decimal_cost_becomes_float() -> None:
    frame = pl.DataFrame(
        {
            "request_id": ["a"],
            "started_at": ["2026-03-31T14:00:00Z"],
            "cost": [Decimal("0.012345")],
        },
        schema_overrides={"cost": pl.Decimal(12, 6)},
    )
    out = normalize(frame)
    assert out.schema["cost"] == pl.Float64
    assert json.loads(out.write_ndjson())["cost"] == pytest.approx(0.012345)


def test_nulls_become_defaults_by_type() -> None:
    record = _one(
        request_id=None,
        model=None,
        latency_ms=None,
        cost=None,
        is_error=None,
        cache_hit=None,
        started_at="2026-03-31T14:00:00Z",
    )
    assert record["request_id"] == "" and record["model"] == "" and record["provider"] == ""
    assert record["latency_ms"] == 0 and record["total_tokens"] == 0 and record["cost"] == 0.0
    assert record["is_error"] is False and record["guardrail_triggered"] is False
    assert isinstance(record["cost"], float)


def test_nan_cost_is_written_as_zero_not_invalid_json() -> None:
    record = _one(request_id="a", started_at="2026-03-31T14:00:00Z", cost=float("nan"))
    assert record["cost"] == 0.0


def test_error_message_is_cut_to_500_characters() -> None:
    message = "é" * 450 + "x" * 300  # multi-byte characters count as one each
    record = _one(request_id="a", started_at="2026-03-31T14:00:00Z", error_message=message)
    assert len(record["error_message"]) == ERROR_MESSAGE_MAX_CHARS
    assert record["error_message"] == message[:ERROR_MESSAGE_MAX_CHARS]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("2026-03-31T16:22:10+02:00", "2026-03-31T14:22:10.000Z"),
        ("2026-03-31T09:22:10.123-05:00", "2026-03-31T14:22:10.123Z"),
        ("2026-04-01T00:30:00+05:30", "2026-03-31T19:00:00.000Z"),
        ("2026-03-31 14:22:10", "2026-03-31T14:22:10.000Z"),
        ("2026-03-31T14:22:10.123456Z", "2026-03-31T14:22:10.123Z"),
    ],
)
def test_timestamps_are_utc_with_milliseconds(source: str, expected: str) -> None:
    assert _one(request_id="a", started_at=source)["timestamp"] == expected


def test_datetime_columns_in_other_zones_are_converted() -> None:
    tokyo = timezone(timedelta(hours=9))
    moment = datetime(2026, 3, 31, 23, 0, tzinfo=tokyo)
    frame = pl.DataFrame({"request_id": ["a"], "started_at": [moment]})
    frame = frame.with_columns(pl.col("started_at").dt.convert_time_zone("Asia/Tokyo"))
    assert normalize(frame)["timestamp"].to_list() == ["2026-03-31T14:00:00.000Z"]


def test_row_without_any_event_time_is_refused() -> None:
    frame = pl.DataFrame({"request_id": ["a"], "started_at": [None], "created_at": [None]})
    with pytest.raises(BadRecordsError, match="neither started_at nor created_at"):
        normalize(frame.cast(pl.String))
