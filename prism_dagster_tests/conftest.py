"""Shared fixtures: gateway rows, spool folders and an independent reader of the archive."""

from __future__ import annotations

import gzip
import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from prism_dagster_tests import servers

warnings.filterwarnings("ignore", module="dagster")

UTC = UTC


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


def read_archive_lines(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Every batch file under ``root`` decoded with the standard library, by file path."""
    return {
        str(p.relative_to(root)): [
            json.loads(line) for line in gzip.decompress(p.read_bytes()).splitlines()
        ]
        for p in sorted(root.rglob("batch_*.jsonl.gz"))
    }


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes, for byte-identity checks."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    folder = tmp_path / "spool"
    folder.mkdir()
    return folder


@pytest.fixture
def archive_root(tmp_path: Path) -> Path:
    folder = tmp_path / "archive"
    folder.mkdir()
    return folder


# --- real storage servers, started once per test session ---------------------------------


@pytest.fixture(scope="session")
def moto() -> Iterator[servers.MotoServer]:
    with servers.moto_server() as server:
        yield server


@pytest.fixture(scope="session")
def azurite() -> Iterator[servers.AzuriteServer]:
    with servers.azurite() as server:
        yield server


@pytest.fixture(scope="session")
def gcs() -> Iterator[servers.GcsEmulator]:
    with servers.gcs_emulator() as server:
        yield server
