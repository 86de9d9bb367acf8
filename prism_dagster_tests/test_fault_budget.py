"""A run gives up within its retry budget: under a lasting store outage only the failed request
retries for the whole budget; clean-up after it (aborting the upload, letting go of the lease)
is tried briefly, and the next run finishes it.

A real proxy in front of moto answers 500 InternalError to every request from the first
upload of a batch on; what it recorded shows which request retried how often.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from prism_dagster.archive import layout
from prism_dagster.archive.writer import Writer
from prism_dagster.config import parse_config
from prism_dagster.defs.resources import live
from prism_dagster.destinations import Destination
from prism_dagster.destinations.settings import CLEANUP_ATTEMPTS
from prism_dagster.errors import DestinationError, FailureCause
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.archive_reader import read_hour
from prism_dagster_tests.support.fault_proxy import FaultyProxy, Seen, faulty_proxy
from prism_dagster_tests.support.rows import records
from prism_dagster_tests.support.runs import failure_message, materialise, spool_config
from prism_dagster_tests.support.stores import S3Store
from prism_dagster_tests.support.writing import H14, PREFIX, write

S3_INTERNAL_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)
#: A budget of 8 attempts, soon spent: each request retries until the 8th, whatever the
#: machine's speed, unless it is a clean-up's (``CLEANUP_ATTEMPTS``).
ATTEMPTS = 8
BUDGET = {"attempts": ATTEMPTS, "initial_backoff_s": 0.05, "max_backoff_s": 0.2}


def _kind(request: Seen) -> str:
    """What an S3 request was, from its method and path."""
    if request.method == "PUT" and "partNumber=" in request.path:
        return "upload part"
    if request.method == "PUT" and "/batch_" in request.path:
        return "put batch"
    if request.method == "DELETE" and "uploadId=" in request.path:
        return "abort upload"
    if request.method == "GET" and "list-type=2" in request.path:
        return "list"
    if request.method == "GET" and request.path.endswith(layout.LEASE_NAME):
        return "read lease"
    return f"{request.method} {request.path}"


def _after_the_outage_began(proxy: FaultyProxy) -> dict[str, int]:
    """Requests by kind from the first failed one on."""
    seen = proxy.seen[len(proxy.seen) - proxy.failed :]
    counts: dict[str, int] = {}
    for request in seen:
        counts[_kind(request)] = counts.get(_kind(request), 0) + 1
    return counts


def _through(store: S3Store, proxy: FaultyProxy | None, monkeypatch) -> Destination:
    for name, value in store.env.items():
        monkeypatch.setenv(name, value)
    endpoint = {"endpoint_url": proxy.url} if proxy else {}
    integration = {"name": "prod", "start": "2026-03-01T00", "part_size_mb": 5, "retry": BUDGET}
    integration |= store.integration(**endpoint)
    config = parse_config(
        {"source": {"kind": "spool", "path": "/x"}, "integrations": [integration]}
    )
    return live(config.integrations[0].destination())


def _large_hour() -> pl.DataFrame:
    """Rows that compress to more than one 5 MiB part: an upload in parts."""
    frame = records(48_000)
    noise = [os.urandom(128).hex() for _ in range(frame.height)]
    return frame.with_columns(pl.Series("error_message", noise))


def test_a_lasting_outage_fails_within_the_budget_and_the_next_run_finishes(
    moto, monkeypatch
) -> None:
    store = S3Store(moto)
    frame = _large_hour()
    with faulty_proxy(moto.endpoint_url, 0, status=500, body=S3_INTERNAL_ERROR) as proxy:
        dest = _through(store, proxy, monkeypatch)
        proxy.fail_from(lambda method, path: method == "PUT" and "partNumber=" in path)
        with pytest.raises(DestinationError) as caught:
            write(dest, frame, writer=Writer("run-1"), slice_rows=4000)
        counts = _after_the_outage_began(proxy)
    error = caught.value
    assert error.cause is FailureCause.SERVER_ERROR
    # What the run says is the upload's failure, after its whole budget of attempts ...
    first_line = str(error).splitlines()[0]
    assert first_line.startswith(f"integration 'prod' (s3 bucket '{store.name}'): writing ")
    assert "/batch_" in first_line and f"Gave up after {error.attempts} attempt(s)" in first_line
    assert counts.pop("upload part") == error.attempts == ATTEMPTS
    # ... and each clean-up request was tried briefly, not for a budget of its own.
    cleanup = {"abort upload", "read lease", "list"}
    assert counts == dict.fromkeys(cleanup, CLEANUP_ATTEMPTS) and CLEANUP_ATTEMPTS < ATTEMPTS

    # The store is back; Dagster has marked run-1 failed: the next run takes the hour over,
    # aborts the upload left open and archives the hour.
    dest = _through(store, None, monkeypatch)
    again = write(dest, frame, writer=Writer("run-2", lambda run: run == "run-1"), slice_rows=4000)
    assert len(again.cleaned) == 1 and layout.is_batch_key(again.cleaned[0])
    assert dest.client().list_multipart_uploads(Bucket=store.name).get("Uploads", []) == []
    assert read_hour(dest, PREFIX, H14).equals(frame)
    assert not dest.exists(layout.lease_key(PREFIX, H14))


def test_a_run_under_a_lasting_outage_reports_the_upload_and_cleans_up_briefly(
    moto, spool: Path, monkeypatch
) -> None:
    store = S3Store(moto)
    simulate(spool, H14, H14.replace(hour=15), rate=40, seed=6)
    with faulty_proxy(moto.endpoint_url, 0, status=500, body=S3_INTERNAL_ERROR) as proxy:
        extra: dict[str, Any] = {"endpoint_url": proxy.url, "retry": BUDGET}
        config = spool_config(spool, store, PREFIX, **extra)
        for name, value in store.env.items():
            monkeypatch.setenv(name, value)
        proxy.fail_from(lambda method, path: method == "PUT" and "/batch_" in path)
        result = materialise(config, H14, check=False)
        counts = _after_the_outage_began(proxy)
    assert not result.success
    first_line = failure_message(result).splitlines()[0]
    assert "storage service error" in first_line and "/batch_" in first_line
    assert counts.pop("put batch") == ATTEMPTS
    assert f"Gave up after {ATTEMPTS} attempt(s)" in first_line
    # Letting go of the lease: a read, then whether it is there at all; briefly each.
    assert counts == {"read lease": CLEANUP_ATTEMPTS, "list": CLEANUP_ATTEMPTS}
