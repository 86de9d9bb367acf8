"""Transient failures are retried with backoff; permanent ones are not; attempts are bounded.

A real proxy in front of each real emulator answers the first requests the way the service
throttles (S3 503 SlowDown, Azure 503 ServerBusy, GCS 429), then forwards to the emulator.
"""

from __future__ import annotations

import logging
from typing import Any

import dagster as dg
import pytest

from prism_dagster.config import parse_config
from prism_dagster.defs.resources import live
from prism_dagster.destinations import Destination, ObjectKind
from prism_dagster.errors import DestinationError, FailureCause
from prism_dagster_tests.support.fault_proxy import (
    AZURE_SERVER_BUSY,
    AZURE_SERVER_BUSY_HEADERS,
    GCS_RATE_LIMITED,
    S3_SLOW_DOWN,
    faulty_proxy,
    gcs_bucket_metadata,
)
from prism_dagster_tests.support.stores import AzureStore, GcsStore, S3Store, Store

FAST = {"attempts": 4, "initial_backoff_s": 0.05, "max_backoff_s": 0.2}
THROTTLE = {
    "s3": {"status": 503, "body": S3_SLOW_DOWN},
    "azure": {
        "status": 503,
        "body": AZURE_SERVER_BUSY,
        "headers": AZURE_SERVER_BUSY_HEADERS,
    },
    "gcs": {
        "status": 429,
        "body": GCS_RATE_LIMITED,
        "headers": {"Content-Type": "application/json"},
        "ignore": gcs_bucket_metadata,
    },
}


def _through(
    store: Store, proxy_url: str, upstream: str, monkeypatch: pytest.MonkeyPatch, **extra: Any
) -> Destination:
    integration = {
        "name": "prod",
        "start": "2026-03-01T00",
        "retry": FAST,
        **store.integration(**extra),
    }
    if isinstance(store, AzureStore):
        monkeypatch.setenv(
            "TEST_AZURE_CONNECTION", store.env["TEST_AZURE_CONNECTION"].replace(upstream, proxy_url)
        )
    else:
        integration["endpoint_url"] = proxy_url
    for name, value in store.env.items():
        if name != "TEST_AZURE_CONNECTION":
            monkeypatch.setenv(name, value)
    config = parse_config(
        {"source": {"kind": "spool", "path": "/x"}, "integrations": [integration]}
    )
    return live(config.integrations[0].destination())


def _store(kind: str, moto, azurite, gcs, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, str]:
    if kind == "s3":
        return S3Store(moto), moto.endpoint_url
    if kind == "azure":
        store = AzureStore(azurite)
        monkeypatch.setenv("TEST_AZURE_CONNECTION", store.env["TEST_AZURE_CONNECTION"])
        return store, azurite.blob_endpoint.rsplit("/", 1)[0]
    return GcsStore(gcs), gcs.endpoint


@pytest.mark.parametrize("kind", ["s3", "azure", "gcs"])
def test_throttled_requests_are_retried_until_they_pass(
    kind, moto, azurite, gcs, monkeypatch
) -> None:
    store, upstream = _store(kind, moto, azurite, gcs, monkeypatch)
    with faulty_proxy(upstream, fail_first=2, **THROTTLE[kind]) as proxy:
        dest = _through(store, proxy.url, upstream, monkeypatch)
        dest.put_object("prism/a.json", b'{"a": 1}', ObjectKind.JSON)
        assert proxy.failed == 2
        proxy.fail_next(2)
        assert dest.get_object("prism/a.json") == b'{"a": 1}'
        assert dest.list_keys("prism/") == ["prism/a.json"]
        assert proxy.failed == 4
        stored = store.objects()
    assert stored["prism/a.json"].data == b'{"a": 1}'


@pytest.mark.parametrize("kind", ["s3", "azure", "gcs"])
def test_attempts_are_bounded_and_the_cause_is_throttling(
    kind, moto, azurite, gcs, monkeypatch
) -> None:
    store, upstream = _store(kind, moto, azurite, gcs, monkeypatch)
    with faulty_proxy(upstream, fail_first=100, **THROTTLE[kind]) as proxy:
        dest = _through(store, proxy.url, upstream, monkeypatch)
        with pytest.raises(DestinationError) as caught:
            dest.put_object("prism/a.json", b"{}", ObjectKind.JSON)
        assert proxy.requests == FAST["attempts"]
    assert caught.value.cause is FailureCause.THROTTLED and caught.value.transient
    assert "integration 'prod'" in str(caught.value)


@pytest.mark.parametrize("kind", ["s3", "azure", "gcs"])
def test_permanent_failures_are_not_retried(kind, moto, azurite, gcs, monkeypatch) -> None:
    store, upstream = _store(kind, moto, azurite, gcs, monkeypatch)
    field = "container" if kind == "azure" else "bucket"
    ignore = gcs_bucket_metadata if kind == "gcs" else None
    with faulty_proxy(upstream, fail_first=0, ignore=ignore) as proxy:
        dest = _through(store, proxy.url, upstream, monkeypatch, **{field: "prism-missing-bucket"})
        with pytest.raises(DestinationError) as caught:
            dest.put_object("prism/a.json", b"{}", ObjectKind.JSON)
        assert proxy.requests == 1
    assert caught.value.cause is FailureCause.MISSING_BUCKET and not caught.value.transient


def test_a_materialisation_rides_out_a_throttled_store(moto, monkeypatch, tmp_path) -> None:
    from prism_dagster.definitions import build_definitions
    from prism_dagster.names import archive_job_name
    from prism_dagster.sources.simulate import simulate
    from prism_dagster_tests.support.rows import hour

    store = S3Store(moto)
    h = hour("2026-03-31T14")
    simulate(tmp_path, h, h.replace(hour=15), rate=100, seed=4)
    with faulty_proxy(moto.endpoint_url, fail_first=3, **THROTTLE["s3"]) as proxy:
        for name, value in store.env.items():
            monkeypatch.setenv(name, value)
        integration = {
            "name": "prod",
            "start": "2026-03-01T00",
            "retry": FAST,
            **store.integration(endpoint_url=proxy.url),
        }
        config = parse_config(
            {"source": {"kind": "spool", "path": str(tmp_path)}, "integrations": [integration]}
        )
        with dg.instance_for_test() as instance:
            # Resolve inside the instance: Dagster's load context reads instance state.
            job = build_definitions(config).resolve_job_def(archive_job_name("prod"))
            result = job.execute_in_process(partition_key="2026-03-31-14:00", instance=instance)
            assert result.success
            logs = instance.all_logs(result.run_id)
        assert proxy.failed == 3
        # Where the operator reads the run: each retry a warning, each hour one line.
        retries = [e for e in logs if "Retry " in e.user_message]
        assert len(retries) == 3 and all(e.level == logging.WARNING for e in retries)
        [written] = [e for e in logs if e.user_message.startswith("hour 2026-03-31T14:00Z: ")]
        assert "rows" in written.user_message and written.user_message.endswith(
            "/logs/2026/03/31/hour=14/_manifest.json"
        )
        keys = sorted(store.objects())
    assert "logs/2026/03/31/hour=14/_manifest.json" in keys and len(keys) >= 2


S3_INTERNAL_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)


def test_a_ten_second_outage_is_ridden_through(moto, monkeypatch, caplog) -> None:
    store = S3Store(moto)
    with faulty_proxy(moto.endpoint_url, fail_first=0, status=500, body=S3_INTERNAL_ERROR) as proxy:
        patient = {"initial_backoff_s": 0.5, "max_backoff_s": 2.0, "give_up_after_s": 60}
        dest = _through(store, proxy.url, moto.endpoint_url, monkeypatch, retry=patient)
        proxy.fail_for(10)
        with caplog.at_level("WARNING", logger="prism_dagster"):
            dest.put_object("prism/a.json", b"{}", ObjectKind.JSON)
        assert proxy.failed >= 5  # it really was down, and retried well past 5 attempts' ~7 s
    assert store.objects()["prism/a.json"].data == b"{}"
    messages = [r.getMessage() for r in caplog.records]
    assert any("storage service error" in m and "Retry 1 of at most 29" in m for m in messages)
    assert not any("giving up" in m.lower() for m in messages)


def test_giving_up_is_said_once_with_the_cause_in_operator_words(moto, monkeypatch, caplog) -> None:
    store = S3Store(moto)
    with faulty_proxy(moto.endpoint_url, fail_first=0, status=500, body=S3_INTERNAL_ERROR) as proxy:
        quick = {"initial_backoff_s": 0.05, "max_backoff_s": 0.2, "give_up_after_s": 1.0}
        dest = _through(store, proxy.url, moto.endpoint_url, monkeypatch, retry=quick)
        proxy.fail_for(60)
        with (
            caplog.at_level("WARNING", logger="prism_dagster"),
            pytest.raises(DestinationError) as caught,
        ):
            dest.put_object("prism/a.json", b"{}", ObjectKind.JSON)
    error = caught.value
    assert error.cause is FailureCause.SERVER_ERROR  # a 500 is not throttling
    assert str(error).startswith("integration 'prod' (s3 bucket")
    assert "Gave up after" in str(error) and error.attempts == proxy.failed > 1
    assert sum("Giving up" in r.getMessage() for r in caplog.records) == 1
