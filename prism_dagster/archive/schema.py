"""The archive record: the one place that defines what every archived line holds."""

from __future__ import annotations

import polars as pl

#: The gateway prices requests in US dollars; ``cost`` is in this currency.
COST_CURRENCY = "USD"
COST_CURRENCY_NAME = "US dollars"

#: Every archive line is one JSON object with exactly these keys, in this order.
RECORD_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.String(),
    "model": pl.String(),
    "provider": pl.String(),
    "resolved_model": pl.String(),
    "latency_ms": pl.Int64(),
    "input_tokens": pl.Int64(),
    "output_tokens": pl.Int64(),
    "total_tokens": pl.Int64(),
    "cost": pl.Float64(),
    "status_code": pl.Int64(),
    "is_stream": pl.Boolean(),
    "is_error": pl.Boolean(),
    "error_message": pl.String(),
    "cache_hit": pl.Boolean(),
    "fallback_used": pl.Boolean(),
    "guardrail_triggered": pl.Boolean(),
    "routing_strategy": pl.String(),
    "timestamp": pl.String(),
    "event_type": pl.String(),
}
RECORD_COLUMNS: tuple[str, ...] = tuple(RECORD_SCHEMA)

#: One line per field: what it means (shown as the assets' column schema and in queries).
FIELD_DESCRIPTIONS: dict[str, str] = {
    "request_id": "The gateway's id of the request.",
    "model": "Model name the caller asked for.",
    "provider": "LLM provider that served the request (openai, anthropic, ...).",
    "resolved_model": "Exact model version the provider ran.",
    "latency_ms": "Time from request to complete response, in milliseconds.",
    "input_tokens": "Prompt tokens billed.",
    "output_tokens": "Completion tokens billed.",
    "total_tokens": "Input plus output tokens.",
    "cost": f"Price of the request in {COST_CURRENCY_NAME}.",
    "status_code": "HTTP status the gateway returned.",
    "is_stream": "Whether the response was streamed.",
    "is_error": "Whether the request failed.",
    "error_message": "The error, cut to 500 characters; empty when none.",
    "cache_hit": "Whether the gateway answered from its cache.",
    "fallback_used": "Whether routing fell back to another model or provider.",
    "guardrail_triggered": "Whether a guardrail blocked or changed the request.",
    "routing_strategy": "The gateway's routing strategy for the request; empty when none.",
    "timestamp": "When the request started (else was logged), UTC ISO 8601 with milliseconds.",
    "event_type": "Always 'request': one line per LLM request.",
}

ERROR_MESSAGE_MAX_CHARS = 500
EVENT_TYPE = "request"
#: ISO 8601 UTC with milliseconds and a literal Z, e.g. 2026-03-31T14:22:10.000Z.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S%.3fZ"

EVENT_TIME_COLUMNS: tuple[str, str] = ("started_at", "created_at")
#: Internal column (never archived): a row's event time, and the time a reject is filed under.
EVENT_TIME = "_event_time"
_DERIVED = ("timestamp", "event_type")  # made by normalisation, not read from the gateway

#: The gateway's own columns that feed the record, with the type each is read as: the record's
#: fields under their own names, and the two event times that become ``timestamp``.
GATEWAY_SCHEMA: dict[str, pl.DataType] = {
    **{name: dtype for name, dtype in RECORD_SCHEMA.items() if name not in _DERIVED},
    **{name: pl.Datetime("us", "UTC") for name in EVENT_TIME_COLUMNS},
}
GATEWAY_DESCRIPTIONS: dict[str, str] = {
    **{name: FIELD_DESCRIPTIONS[name] for name in GATEWAY_SCHEMA if name in FIELD_DESCRIPTIONS},
    "started_at": "When the request started (may be null).",
    "created_at": "When the gateway logged the request.",
}
#: Which gateway columns each archived field is made from (``event_type`` is a constant).
FIELD_SOURCES: dict[str, tuple[str, ...]] = {
    **{name: (name,) for name in RECORD_COLUMNS if name not in _DERIVED},
    "timestamp": EVENT_TIME_COLUMNS,
    "event_type": (),
}

#: A source line that could not become a record, kept verbatim beside the archive.
REJECT_SCHEMA: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "line_number": pl.Int64(),
    "reason": pl.String(),
    "line": pl.String(),
}

#: The documented range of each numeric field, bounds included. A value outside it is a
#: reject (kept verbatim in ``_rejects``), never archived: a negative latency or cost is a
#: gateway bug, not traffic. Missing values are not range errors (they take the default).
FIELD_RANGES: dict[str, tuple[int | float, int | float]] = {
    "latency_ms": (0, 86_400_000),  # at most a day
    "input_tokens": (0, 1_000_000_000),
    "output_tokens": (0, 1_000_000_000),
    "total_tokens": (0, 2_000_000_000),
    "cost": (0.0, 1_000_000.0),
    "status_code": (0, 999),
}
#: Event times outside [from, to) are rejects: no hour partition could ever hold them.
EVENT_TIME_RANGE: tuple[str, str] = ("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")
