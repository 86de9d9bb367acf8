"""Test data: hours by name, gateway rows, spool files and normalised record frames."""

from __future__ import annotations

import base64
import gzip
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from prism_dagster.archive.normalize import normalize


def hour(text: str) -> datetime:
    """``2026-03-31T14`` as an aware UTC datetime."""
    return datetime.fromisoformat(text + ":00").replace(tzinfo=UTC)


def gateway_row(request_id: str, started_at: str | None, **fields: Any) -> dict[str, Any]:
    """A gateway log row with sensible values; override any field."""
    row: dict[str, Any] = {
        "request_id": request_id,
        "model": "gpt-4o",
        "provider": "openai",
        "resolved_model": "gpt-4o-2024-08-06",
        "latency_ms": 842,
        "started_at": started_at,
        "created_at": started_at,
        "input_tokens": 1200,
        "output_tokens": 323,
        "total_tokens": 1523,
        "cost": 0.02,
        "status_code": 200,
        "is_stream": False,
        "is_error": False,
        "error_message": None,
        "cache_hit": False,
        "fallback_used": False,
        "guardrail_triggered": False,
        "api_key_id": "key_1",
        "user_id": "user_1",
        "session_id": "sess_1",
        "routing_strategy": "",
        "metadata": {"team": "platform"},
    }
    row.update(fields)
    return row


def write_spool(path: Path, rows: list[dict[str, Any] | str], compress: bool = False) -> Path:
    """Write rows (dicts become JSON, strings are written verbatim) as one spool file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    if compress:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def records(n: int, minute_step: float = 0.001) -> pl.DataFrame:
    """``n`` normalised records of hour 2026-03-31T14, ``minute_step`` seconds apart."""
    seconds = [i * minute_step for i in range(n)]
    return normalize(
        pl.DataFrame(
            {
                "request_id": [f"req_{i:07d}" for i in range(n)],
                "started_at": [
                    f"2026-03-31T14:{int(s // 60) % 60:02d}:{s % 60:06.3f}Z" for s in seconds
                ],
                "cost": [i / 1000 for i in range(n)],
                "error_message": ["x" * (i % 50) for i in range(n)],
            }
        )
    )


def incompressible_frame(rows: int) -> pl.DataFrame:
    """Records whose gzip is about 370 bytes a row: multi-part uploads from few rows."""
    noise = [base64.b64encode(os.urandom(360)).decode() for _ in range(rows)]
    return normalize(
        pl.DataFrame(
            {
                "request_id": [f"r{i:06d}" for i in range(rows)],
                "started_at": ["2026-03-31T23:10:00Z"] * rows,
                "error_message": noise,
            }
        )
    )
