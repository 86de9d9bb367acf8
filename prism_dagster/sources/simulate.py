"""Realistic gateway traffic for the spool: deterministic per hour, so reruns match."""

from __future__ import annotations

import gzip
import hashlib
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from prism_dagster.archive import layout

# (model, provider, resolved model, $ per 1k input tokens, $ per 1k output tokens)
MODELS = (
    ("gpt-4o", "openai", "gpt-4o-2024-08-06", 0.0025, 0.01),
    ("gpt-4o-mini", "openai", "gpt-4o-mini-2024-07-18", 0.00015, 0.0006),
    ("claude-sonnet-4", "anthropic", "claude-sonnet-4-20250514", 0.003, 0.015),
    ("gemini-2.0-flash", "google", "gemini-2.0-flash-001", 0.0001, 0.0004),
    ("llama-3.1-70b", "groq", "llama-3.1-70b-versatile", 0.00059, 0.00079),
)
ERRORS = (
    (429, "Rate limit reached for requests per minute; retry after 20s"),
    (500, "Upstream provider returned an internal error"),
    (504, "Upstream provider timed out after 60000 ms"),
    (400, "Request blocked by guardrail: prompt matched PII policy"),
)
ROUTING = ("", "latency", "cost", "round_robin", "fallback")
QUIET_EVERY = 8  # about one hour in eight has no traffic at all


@dataclass(frozen=True)
class HourTraffic:
    """What was written for one simulated hour."""

    hour: datetime
    path: Path | None
    rows: int
    bad_lines: int


def _rng(seed: int, hour: datetime) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}|{hour:%Y-%m-%dT%H}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def hour_rows(hour: datetime, rate: int, seed: int = 0) -> pl.DataFrame:
    """One hour of gateway rows in the gateway's own column names (may be empty)."""
    rng = _rng(seed, hour)
    if rng.integers(QUIET_EVERY) == 0:
        return pl.DataFrame()
    diurnal = 0.6 + 0.4 * math.sin((hour.hour - 6) / 24 * 2 * math.pi)
    n = int(rng.poisson(max(rate * diurnal, 1)))
    pick = rng.integers(len(MODELS), size=n)
    model = [MODELS[i] for i in range(len(MODELS))]
    cache_hit = rng.random(n) < 0.12
    error_pick = rng.integers(len(ERRORS), size=n)
    is_error = (rng.random(n) < 0.06) & ~cache_hit
    guardrail = is_error & (error_pick == 3)
    fallback = (rng.random(n) < 0.05) | (is_error & (error_pick == 1))
    latency = np.where(cache_hit, rng.integers(2, 30, n), rng.gamma(2.0, 400.0, n).astype(int) + 40)
    tokens_in = rng.integers(20, 4000, n)
    tokens_out = np.where(is_error, 0, rng.integers(1, 1200, n))
    price_in = np.array([m[3] for m in model])[pick]
    price_out = np.array([m[4] for m in model])[pick]
    cost = np.where(cache_hit, 0.0, (tokens_in * price_in + tokens_out * price_out) / 1000).round(6)
    offset_us = np.sort(rng.integers(0, 3_600_000_000, n))
    started = pl.Series(offset_us, dtype=pl.Duration("us")) + hour
    no_start = rng.random(n) < 0.03  # older gateway versions only set created_at
    codes = np.where(is_error, np.array([e[0] for e in ERRORS])[error_pick], 200)
    messages = pl.Series(np.array([e[1] for e in ERRORS])[error_pick])
    ids = rng.integers(0, 2**63, n, dtype=np.int64)
    frame = pl.DataFrame(
        {
            "request_id": [f"req_{i:016x}" for i in ids],
            "model": np.array([m[0] for m in model])[pick],
            "provider": np.array([m[1] for m in model])[pick],
            "resolved_model": np.array([m[2] for m in model])[pick],
            "latency_ms": latency,
            "started_at": started,
            "created_at": started + pl.Series(latency * 1000, dtype=pl.Duration("us")),
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "cost": cost,
            "status_code": codes,
            "is_stream": rng.random(n) < 0.4,
            "is_error": is_error,
            "error_message": messages.zip_with(
                pl.Series(is_error), pl.Series([None] * n, dtype=pl.String)
            ),
            "cache_hit": cache_hit,
            "fallback_used": fallback,
            "guardrail_triggered": guardrail,
            "api_key_id": [f"key_{k}" for k in rng.integers(1, 9, n)],
            "user_id": [f"user_{u}" for u in rng.integers(1, 200, n)],
            "session_id": [f"sess_{s:06d}" for s in rng.integers(0, 5000, n)],
            "routing_strategy": np.array(ROUTING)[rng.integers(len(ROUTING), size=n)],
        }
    )
    stamp = "%Y-%m-%dT%H:%M:%S%.3fZ"
    return frame.with_columns(
        pl.col("input_tokens").add(pl.col("output_tokens")).alias("total_tokens"),
        pl.when(pl.Series(no_start))
        .then(None)
        .otherwise(pl.col("started_at").dt.strftime(stamp))
        .alias("started_at"),
        pl.col("created_at").dt.strftime(stamp),
        pl.struct(team=pl.lit("platform"), region=pl.lit("eu-west-1")).alias("metadata"),
    )


def _bad_line(hour: datetime, i: int) -> str:
    # Alternate the two ways a spool line goes bad: cut-off JSON and a wrongly typed field.
    stamp = f"{hour:%Y-%m-%dT%H}:30:00.000Z"
    if i % 2:
        return f'{{"request_id": "bad_{i}", "started_at": "{stamp}", "latency_'
    return f'{{"request_id": "bad_{i}", "started_at": "{stamp}", "latency_ms": "slow"}}'


def spool_path(spool: Path, hour: datetime) -> Path:
    """The spool file of one simulated hour."""
    return spool / f"{hour:%Y/%m/%d}" / f"{hour:%H}.ndjson.gz"


def write_hour(
    spool: Path, hour: datetime, rate: int, seed: int = 0, bad_lines: int = 0
) -> HourTraffic:
    """Write one hour's spool file (replacing it); ``bad_lines`` malformed lines are appended."""
    rows = hour_rows(hour, rate, seed)
    path = spool_path(spool, hour)
    if rows.is_empty() and not bad_lines:
        path.unlink(missing_ok=True)
        return HourTraffic(hour, None, 0, 0)
    text = rows.write_ndjson() if not rows.is_empty() else ""
    body = text + "".join(_bad_line(hour, i) + "\n" for i in range(bad_lines))
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name("." + path.name)
    # mtime=0 keeps the file byte-identical when the same hour is simulated again.
    with gzip.GzipFile(temp, "wb", compresslevel=6, mtime=0) as handle:
        handle.write(body.encode())
    temp.replace(path)
    return HourTraffic(hour, path, rows.height, bad_lines)


def simulate(
    spool: Path, start: datetime, end: datetime, rate: int, seed: int = 0, bad_lines: int = 0
) -> list[HourTraffic]:
    """Write traffic for every hour in ``[start, end)``."""
    hours = layout.hours_between(start, end)
    return [write_hour(spool, hour, rate, seed, bad_lines) for hour in hours]


def summary(hours: list[HourTraffic]) -> str:
    """What was written, as ``simulate`` reports it: requests, malformed lines, quiet hours.

    An hour is quiet when it holds no requests, malformed lines or not.
    """
    bad = sum(h.bad_lines for h in hours)
    quiet = sum(1 for h in hours if not h.rows)
    lines = f" and {bad} malformed lines (--bad-lines {bad // len(hours)} per hour)" if bad else ""
    return (
        f"{sum(h.rows for h in hours)} requests{lines} over {len(hours)} hours "
        f"({quiet} quiet: no requests)"
    )
