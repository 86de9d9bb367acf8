"""Integrity on arrival: every upload carries a checksum the store verifies (issue 14).

Each store is reached through a proxy that records what the SDK really sent and can flip one
byte of a body after the checksums were computed: bytes changed on the wire.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import google_crc32c
import pytest
from botocore.config import Config

from prism_dagster.archive import layout
from prism_dagster.archive.settings import WriteSettings
from prism_dagster.archive.writer import write_frame
from prism_dagster.config import parse_config
from prism_dagster.defs.resources import live
from prism_dagster.destinations.integrity import md5_b64, sha256_b64
from prism_dagster.errors import DestinationError, FailureCause
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.fault_proxy import FaultyProxy, faulty_proxy, gcs_bucket_metadata
from prism_dagster_tests.support.rows import hour, incompressible_frame
from prism_dagster_tests.support.runs import (
    failure_cause,
    failure_message,
    materialise,
    spool_config,
)
from prism_dagster_tests.support.stores import AzureStore, GcsStore, S3Store, Store

H0 = hour("2026-03-31T23")
PREFIX = "prism/production"


def _destination(store: Store, **extra: Any) -> Any:
    """The started destination of an integration ``prod`` writing to ``store``."""
    config = {"name": "prod", "start": "2026-03-31T00", **store.integration(**extra)}
    integration = parse_config(
        {"source": {"kind": "spool", "path": "/x"}, "integrations": [config]}
    ).integrations[0]
    return live(integration.destination())


@pytest.fixture(params=["s3", "azure", "gcs"])
def proxied(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, moto, azurite, gcs
) -> Iterator[tuple[Store, FaultyProxy]]:
    """A fresh bucket or container, and a recording proxy in front of its emulator."""
    azure = azurite.blob_endpoint.rsplit("/", 1)[0]
    upstream = {"s3": moto.endpoint_url, "azure": azure, "gcs": gcs.endpoint}
    ignore = gcs_bucket_metadata if request.param == "gcs" else None
    with faulty_proxy(upstream[request.param], fail_first=0, ignore=ignore) as proxy:
        # Azurite's blob endpoint carries the account in its path; the proxy keeps it.
        endpoint = proxy.url + ("/devstoreaccount1" if request.param == "azure" else "")
        store: Store = {
            "s3": lambda: S3Store(moto, endpoint),
            "azure": lambda: AzureStore(azurite, endpoint),
            "gcs": lambda: GcsStore(gcs, endpoint),
        }[request.param]()
        for name, value in store.env.items():
            monkeypatch.setenv(name, value)
        yield store, proxy


def test_every_upload_carries_a_checksum_of_its_bytes(
    spool: Path, proxied: tuple[Store, FaultyProxy]
) -> None:
    store, proxy = proxied
    simulate(spool, H0, H0 + layout.ONE_HOUR, rate=200, seed=5)
    proxy.seen.clear()
    assert materialise(spool_config(spool, store, PREFIX, max_rows_per_file=10), H0).success
    uploads = [s for s in proxy.seen if s.method in ("PUT", "POST") and s.body]
    assert len(uploads) >= 5  # at least 3 batch files, the manifest and the lease
    for sent in uploads:
        if store.provider == "s3":
            assert sent.headers["x-amz-sdk-checksum-algorithm"] == "SHA256"
            assert sent.headers["x-amz-checksum-sha256"] == sha256_b64(sent.body)
        elif store.provider == "azure":
            assert sent.headers["content-md5"] == md5_b64(sent.body)
        else:  # a multipart/related upload: JSON metadata holding the CRC32C, then the media
            metadata_part, media = _gcs_parts(sent.body)
            crc = google_crc32c.Checksum(media).digest()
            assert metadata_part["crc32c"] == base64.b64encode(crc).decode()


def _gcs_parts(body: bytes) -> tuple[dict[str, Any], bytes]:
    boundary = body.split(b"\r\n", 1)[0]
    parts = [p for p in body.split(boundary) if p.strip(b"-\r\n")]
    metadata = json.loads(parts[0].split(b"\r\n\r\n", 1)[1])
    media = parts[1].split(b"\r\n\r\n", 1)[1][: -len(b"\r\n")]
    return metadata, media


def test_a_byte_flipped_on_the_way_fails_the_run_and_publishes_nothing(
    spool: Path, proxied: tuple[Store, FaultyProxy]
) -> None:
    store, proxy = proxied
    simulate(spool, H0, H0 + layout.ONE_HOUR, rate=200, seed=6)
    proxy.corrupt_next(1, lambda method, path, size: size > 1000)  # the first batch file
    result = materialise(spool_config(spool, store, PREFIX), H0, check=False)
    assert not result.success and len(proxy.corrupted) == 1
    message = failure_message(result)
    assert f"failed: {FailureCause.CHECKSUM_MISMATCH.value}" in message
    assert failure_cause(result)[0] == FailureCause.CHECKSUM_MISMATCH.value
    assert re.search(r"(s3|gs|https?)://\S+batch_\S+\.jsonl\.gz", message)  # names the object
    # Nothing under the hour: no manifest, no batch (the store refused it, or it was removed).
    assert [k for k in store.objects() if not layout.is_lease_claim_key(k)] == []


@pytest.mark.parametrize("proxied", ["s3", "azure"], indirect=True)
def test_a_flipped_part_of_a_multipart_upload_is_refused(
    proxied: tuple[Store, FaultyProxy],
) -> None:
    store, proxy = proxied
    frame = incompressible_frame(20_000)  # about 7 MiB of gzip: two 5 MiB parts
    dest = _destination(store, part_size_mb=5)
    proxy.corrupt_next(1, lambda method, path, size: size == 5 * 2**20)
    with pytest.raises(DestinationError) as caught:
        write_frame(dest, frame, lambda _: "big/batch.jsonl.gz", WriteSettings())
    assert caught.value.cause is FailureCause.CHECKSUM_MISMATCH
    assert "big/batch.jsonl.gz" in str(caught.value)
    assert store.objects() == {}


@pytest.mark.parametrize("proxied", ["gcs"], indirect=True)
def test_the_whole_gcs_object_checksum_is_checked_after_a_resumable_upload(
    proxied: tuple[Store, FaultyProxy],
) -> None:
    # GCS parts carry no checksum of their own: the whole object's goes with the last one.
    store, proxy = proxied
    frame = incompressible_frame(20_000)
    dest = _destination(store, part_size_mb=5)
    proxy.corrupt_next(1, lambda method, path, size: method == "PUT" and size == 5 * 2**20)
    with pytest.raises(DestinationError) as caught:
        write_frame(dest, frame, lambda _: "big/batch.jsonl.gz", WriteSettings())
    assert caught.value.cause is FailureCause.CHECKSUM_MISMATCH
    final = [s for s in proxy.seen if "x-goog-hash" in s.headers]
    assert len(final) == 1 and final[0].headers["x-goog-hash"].startswith("crc32c=")
    assert store.objects() == {}


@pytest.fixture
def locked_bucket(moto, monkeypatch: pytest.MonkeyPatch) -> S3Store:
    """A bucket with Object Lock and a default retention: S3 refuses uploads without checksums."""
    store = S3Store(moto)
    bucket = f"{store.name}-locked"
    store.client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    store.client.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    store.name = bucket
    for name, value in store.env.items():
        monkeypatch.setenv(name, value)
    return store


def test_a_bucket_with_object_lock_refuses_uploads_without_a_checksum(
    moto, locked_bucket: S3Store
) -> None:
    plain = boto3.client(
        "s3",
        endpoint_url=moto.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
        config=Config(request_checksum_calculation="when_required"),
    )
    with pytest.raises(plain.exceptions.ClientError, match="Object Lock"):
        plain.put_object(Bucket=locked_bucket.name, Key="x", Body=b"x")


def test_a_bucket_with_object_lock_accepts_the_archive(spool: Path, locked_bucket: S3Store) -> None:
    simulate(spool, H0, H0 + layout.ONE_HOUR, rate=200, seed=7)
    config = spool_config(spool, locked_bucket, PREFIX, max_rows_per_file=10)
    assert materialise(config, H0).success
    assert materialise(config, H0).success  # a rerun replaces its own objects too
    objects = locked_bucket.objects()
    manifest = json.loads(objects[layout.manifest_key(PREFIX, H0)].data)
    assert len(manifest["files"]) >= 3
    folder = layout.hour_folder(PREFIX, H0)
    for entry in manifest["files"]:
        head = locked_bucket.client.head_object(
            Bucket=locked_bucket.name, Key=f"{folder}{entry['name']}", ChecksumMode="ENABLED"
        )
        # The store keeps the SHA-256 it was sent: the manifest's, base64 instead of hex.
        assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(entry["sha256"])).decode()
        assert head["ObjectLockMode"] == "GOVERNANCE"
    # A multipart object too.
    frame = incompressible_frame(20_000)
    dest = _destination(locked_bucket, part_size_mb=5)
    write_frame(dest, frame, lambda _: "big/b.jsonl.gz", WriteSettings())
    head = locked_bucket.client.head_object(
        Bucket=locked_bucket.name, Key="big/b.jsonl.gz", ChecksumMode="ENABLED"
    )
    assert head["ETag"].strip('"').endswith("-2") and head["ChecksumSHA256"]


@pytest.mark.parametrize(
    ("response", "extra"),
    [
        ({"ServerSideEncryption": "aws:kms"}, {}),  # the bucket's default SSE-KMS key
        ({"ServerSideEncryption": "aws:kms:dsse"}, {}),
        ({"SSECustomerAlgorithm": "AES256"}, {}),
        ({"ETag": '"1f2e3d4c5b6a79880f1e2d3c4b5a6978-3"'}, {}),  # not an MD5's shape
        ({}, {"check_etag": False}),  # an S3-compatible store whose ETags are no MD5s
    ],
)
def test_the_etag_check_is_skipped_where_s3_etags_are_no_md5(
    moto, monkeypatch: pytest.MonkeyPatch, response: dict[str, str], extra: dict[str, Any]
) -> None:
    store = S3Store(moto)
    for name, value in store.env.items():
        monkeypatch.setenv(name, value)
    dest = _destination(store, **extra)
    wrong = '"0123456789abcdef0123456789abcdef"'  # MD5-shaped, not the MD5 of b"data"
    dest.check_received({"ETag": wrong, **response}, b"data", "k")  # no error
    with pytest.raises(DestinationError) as caught:  # the same ETag, plain: refused
        _destination(store).check_received({"ETag": wrong}, b"data", "k")
    assert caught.value.cause is FailureCause.CHECKSUM_MISMATCH


@pytest.mark.parametrize("proxied", ["s3", "gcs"], indirect=True)
def test_a_part_retried_after_a_failure_still_matches_its_checksums(
    proxied: tuple[Store, FaultyProxy],
) -> None:
    store, proxy = proxied
    frame = incompressible_frame(20_000)
    dest = _destination(store, part_size_mb=5)
    # The first part's PUT (S3 partNumber, GCS session upload_id) gets a 503, then is retried.
    proxy.ignore = lambda method, path: (
        not (method == "PUT" and ("partNumber=" in path or "upload_id=" in path))
    )
    proxy.fail_next(1)
    [(_, entry)] = write_frame(dest, frame, lambda _: "big/batch.jsonl.gz", WriteSettings())
    assert proxy.failed == 1
    assert dest.get_object("big/batch.jsonl.gz") == store.objects()["big/batch.jsonl.gz"].data
    assert len(store.objects()["big/batch.jsonl.gz"].data) == entry.bytes
