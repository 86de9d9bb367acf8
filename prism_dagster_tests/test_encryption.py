"""Encryption at rest with the customer's keys, per provider (issue 14).

moto keeps and reports the KMS key of each object, and its KMS refuses unknown keys. Azurite
and the GCS emulator accept every encryption option and ignore it, so for them the test
asserts on the requests the SDK really sent, through a recording proxy.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from prism_dagster.archive import layout
from prism_dagster.archive.settings import WriteSettings
from prism_dagster.archive.writer import write_frame
from prism_dagster.config import parse_config
from prism_dagster.defs.resources import live
from prism_dagster.errors import FailureCause
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.fault_proxy import FaultyProxy, faulty_proxy, gcs_bucket_metadata
from prism_dagster_tests.support.rows import hour, incompressible_frame
from prism_dagster_tests.support.runs import (
    failure_cause,
    failure_message,
    materialise,
    spool_config,
)
from prism_dagster_tests.support.stores import AzureStore, GcsStore, S3Store
from prism_dagster_tests.support.tls import self_signed

H0 = hour("2026-03-31T23")
PREFIX = "prism/production"
KMS_KEY = "projects/p/locations/europe-west1/keyRings/logs/cryptoKeys/archive"


@pytest.fixture
def kms_key(moto, monkeypatch: pytest.MonkeyPatch) -> str:
    """A KMS key on moto (botocore reaches KMS there through AWS_ENDPOINT_URL_KMS)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", moto.endpoint_url)
    kms = boto3.client(
        "kms",
        endpoint_url=moto.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
    )
    return kms.create_key(Description="prism archive")["KeyMetadata"]["Arn"]


@pytest.fixture
def s3(moto, monkeypatch: pytest.MonkeyPatch) -> S3Store:
    store = S3Store(moto)
    for name, value in store.env.items():
        monkeypatch.setenv(name, value)
    return store


def test_sse_kms_objects_report_the_configured_key(spool: Path, s3: S3Store, kms_key: str) -> None:
    simulate(spool, H0, H0 + layout.ONE_HOUR, rate=200, seed=5)
    config = spool_config(spool, s3, PREFIX, sse="aws:kms", kms_key_id=kms_key)
    materialise(config, H0)
    objects = s3.client.list_objects_v2(Bucket=s3.name)["Contents"]
    assert len(objects) >= 2  # a batch and the manifest
    for item in objects:
        head = s3.client.head_object(Bucket=s3.name, Key=item["Key"])
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", kms_key)
        assert head["BucketKeyEnabled"] is True


def test_sse_s3_objects_report_aes256(spool: Path, s3: S3Store) -> None:
    simulate(spool, H0, H0 + layout.ONE_HOUR, rate=200, seed=5)
    materialise(spool_config(spool, s3, PREFIX, sse="AES256"), H0)
    objects = s3.client.list_objects_v2(Bucket=s3.name)["Contents"]
    heads = [s3.client.head_object(Bucket=s3.name, Key=item["Key"]) for item in objects]
    assert {h["ServerSideEncryption"] for h in heads} == {"AES256"}


def test_an_unknown_kms_key_fails_as_permission_naming_the_key(
    spool: Path, s3: S3Store, kms_key: str
) -> None:
    missing = kms_key.rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000"
    simulate(spool, H0, H0 + layout.ONE_HOUR, rate=200, seed=5)
    config = spool_config(spool, s3, PREFIX, sse="aws:kms", kms_key_id=missing)
    result = materialise(config, H0, check=False)
    message = failure_message(result)
    assert not result.success
    assert f"using KMS key {missing!r} failed: {FailureCause.KEY_DENIED.value}" in message
    assert failure_cause(result) == (FailureCause.KEY_DENIED.value, "authentication/permission")
    assert "Contents" not in s3.client.list_objects_v2(Bucket=s3.name)  # nothing written


def test_validate_exercises_the_kms_key(
    tmp_path: Path, s3: S3Store, kms_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = kms_key.rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000"
    config = spool_config(tmp_path, s3, PREFIX, sse="aws:kms", kms_key_id=missing)
    path = tmp_path / "prism.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    done = subprocess.run(
        [sys.executable, "-m", "prism_dagster.cli", "validate", "prod", "--config", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=120,
    )
    assert done.returncode == 1
    assert f"KMS key {missing!r}" in done.stdout and FailureCause.KEY_DENIED.value in done.stdout


@pytest.fixture
def azure_proxy(azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyProxy]:
    """HTTPS (the SDK sends a customer key over nothing else) to a recording proxy to Azurite."""
    cert, context = self_signed(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    upstream = azurite.blob_endpoint.rsplit("/", 1)[0]
    with faulty_proxy(upstream, fail_first=0, tls=context) as proxy:
        yield proxy


def _azure(azurite, proxy: FaultyProxy, monkeypatch: pytest.MonkeyPatch) -> AzureStore:
    store = AzureStore(azurite, f"{proxy.url}/{azurite.account_name}")
    connection = store.env["TEST_AZURE_CONNECTION"].replace("Protocol=http", "Protocol=https")
    monkeypatch.setenv("TEST_AZURE_CONNECTION", connection)
    return store


def _blob_writes(proxy: FaultyProxy) -> list:
    return [s for s in proxy.seen if s.method == "PUT" and "restype=container" not in s.path]


def test_azure_encryption_scope_goes_with_every_write(
    spool: Path, azurite, azure_proxy: FaultyProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _azure(azurite, azure_proxy, monkeypatch)
    simulate(spool, H0, H0 + layout.ONE_HOUR, rate=200, seed=5)
    materialise(spool_config(spool, store, PREFIX, encryption_scope="prism-logs"), H0)
    writes = _blob_writes(azure_proxy)
    assert len(writes) >= 3  # the lease, a batch and the manifest
    assert {s.headers.get("x-ms-encryption-scope") for s in writes} == {"prism-logs"}


def test_azure_customer_key_goes_with_every_request_and_never_into_messages(
    spool: Path,
    azurite,
    azure_proxy: FaultyProxy,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # the SDK's request logging included
    store = _azure(azurite, azure_proxy, monkeypatch)
    key = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("PRISM_BLOB_KEY", key)
    simulate(spool, H0, H0 + layout.ONE_HOUR, rate=200, seed=5)
    config = spool_config(spool, store, PREFIX, encryption_key={"env": "PRISM_BLOB_KEY"})
    result = materialise(config, H0)  # archive_complete reads every object back with the key
    writes = _blob_writes(azure_proxy)
    reads = [s for s in azure_proxy.seen if s.method == "GET" and "comp=list" not in s.path]
    assert len(writes) >= 3 and reads
    digest = base64.b64encode(hashlib.sha256(base64.b64decode(key)).digest()).decode()
    for sent in writes + reads:
        assert sent.headers["x-ms-encryption-key-sha256"] == digest
        assert sent.headers["x-ms-encryption-algorithm"] == "AES256"
    shown = json.dumps([str(e) for e in result.all_events])
    assert "x-ms-encryption-key" in caplog.text  # the SDK logged the requests, key hidden
    assert key not in shown and key not in caplog.text


def test_azure_customer_key_that_is_not_aes256_is_refused_without_showing_it(
    spool: Path, azurite, azure_proxy: FaultyProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _azure(azurite, azure_proxy, monkeypatch)
    monkeypatch.setenv("PRISM_BLOB_KEY", "c2hvcnQta2V5LW1hdGVyaWFs")  # 18 bytes
    config = spool_config(spool, store, PREFIX, encryption_key={"env": "PRISM_BLOB_KEY"})
    result = materialise(config, H0, check=False)
    message = failure_message(result)
    assert f"failed: {FailureCause.KEY_DENIED.value} (not a base64 AES-256 key)" in message
    assert "c2hvcnQta2V5LW1hdGVyaWFs" not in message


def test_azure_customer_key_over_plain_http_is_refused(
    spool: Path, azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = AzureStore(azurite)
    monkeypatch.setenv("TEST_AZURE_CONNECTION", store.env["TEST_AZURE_CONNECTION"])
    monkeypatch.setenv("PRISM_BLOB_KEY", base64.b64encode(os.urandom(32)).decode())
    config = spool_config(spool, store, PREFIX, encryption_key={"env": "PRISM_BLOB_KEY"})
    message = failure_message(materialise(config, H0, check=False))
    assert "only ever sent over HTTPS" in message


def test_gcs_kms_key_name_goes_with_every_upload(
    spool: Path, gcs, monkeypatch: pytest.MonkeyPatch
) -> None:
    with faulty_proxy(gcs.endpoint, fail_first=0, ignore=gcs_bucket_metadata) as proxy:
        store = GcsStore(gcs, proxy.url)
        simulate(spool, H0, H0 + layout.ONE_HOUR, rate=200, seed=5)
        materialise(spool_config(spool, store, PREFIX, kms_key_name=KMS_KEY), H0)
        # A large object too: its resumable session is created with the key.
        integration = {"name": "prod", "start": "2026-03-31T00", "part_size_mb": 5}
        integration |= store.integration(kms_key_name=KMS_KEY)
        config = {"source": {"kind": "spool", "path": "/x"}, "integrations": [integration]}
        dest = live(parse_config(config).integrations[0].destination())
        write_frame(dest, incompressible_frame(20_000), lambda _: "big.jsonl.gz", WriteSettings())
    uploads = [s for s in proxy.seen if s.path.startswith("/upload/") and s.method == "POST"]
    assert len(uploads) >= 4  # the lease, a batch, the manifest, the resumable session
    assert any("uploadType=resumable" in s.path for s in uploads)
    expected = "kmsKeyName=" + KMS_KEY.replace("/", "%2F")
    assert all(expected in s.path for s in uploads)
