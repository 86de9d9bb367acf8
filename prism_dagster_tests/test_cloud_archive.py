"""The same archive on S3 (moto), Azure Blob (Azurite) and GCS (emulator), read back by each SDK."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from prism_dagster.archive import layout
from prism_dagster.archive.normalize import normalize
from prism_dagster.archive.schema import RECORD_COLUMNS
from prism_dagster.archive.settings import WriteSettings
from prism_dagster.archive.writer import write_frame
from prism_dagster.config import parse_config
from prism_dagster.definitions import build_definitions
from prism_dagster.defs.resources import live
from prism_dagster.names import PARTITION_KEY_FORMAT as HOUR_KEY
from prism_dagster.names import archive_job_name
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.fault_proxy import faulty_proxy, gcs_bucket_metadata
from prism_dagster_tests.support.rows import hour, incompressible_frame
from prism_dagster_tests.support.stores import AzureStore, GcsStore, S3Store, Store

H0, H1 = hour("2026-03-31T23"), hour("2026-04-01T00")
PREFIX = "prism/production"


@pytest.fixture(params=["s3", "azure", "gcs"])
def store(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, moto, azurite, gcs
) -> Iterator[Store]:
    made: Store = {
        "s3": lambda: S3Store(moto),
        "azure": lambda: AzureStore(azurite),
        "gcs": lambda: GcsStore(gcs),
    }[request.param]()
    for name, value in made.env.items():
        monkeypatch.setenv(name, value)
    yield made


def _config(spool: Path, store: Store, **extra: Any) -> dict[str, Any]:
    integration = {
        "name": "prod",
        "prefix": PREFIX,
        "start": "2026-03-31T00",
        **store.integration(**extra),
    }
    return {"source": {"kind": "spool", "path": str(spool)}, "integrations": [integration]}


def _materialise(config: dict[str, Any], *hours: Any) -> None:
    with dg.instance_for_test() as instance:
        # Resolve inside the instance: Dagster's load context reads instance state.
        job = build_definitions(parse_config(config)).resolve_job_def(archive_job_name("prod"))
        for h in hours:
            result = job.execute_in_process(partition_key=h.strftime(HOUR_KEY), instance=instance)
            assert result.success


def _lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(data).splitlines()]


def test_hours_archive_with_exact_keys_headers_and_rows(spool: Path, store: Store) -> None:
    simulate(spool, H0, H1 + layout.ONE_HOUR, rate=200, seed=2)  # seed 2: both hours busy
    config = _config(spool, store, max_rows_per_file=60)
    _materialise(config, H0, H1)
    objects = store.objects()
    manifests = {
        k: json.loads(v.data) for k, v in objects.items() if k.endswith(layout.MANIFEST_NAME)
    }
    assert sorted(manifests) == [layout.manifest_key(PREFIX, H0), layout.manifest_key(PREFIX, H1)]
    expected_keys = {
        f"{key.rsplit('/', 1)[0]}/{entry['name']}"
        for key, manifest in manifests.items()
        for entry in manifest["files"]
    }
    batches = {k: v for k, v in objects.items() if layout.is_batch_key(k)}
    assert set(batches) == expected_keys
    # Exactly the manifests and the batches they list: no lease, temp or stale object left.
    assert set(objects) == set(manifests) | expected_keys
    for obj in batches.values():
        # Stored as a gzip file, not as gzip-encoded JSON: downloads stay gzip.
        assert obj.content_type == "application/gzip"
        assert not obj.content_encoding
        assert all(list(line) == list(RECORD_COLUMNS) for line in _lines(obj.data))
    for key, manifest in manifests.items():
        assert objects[key].content_type == "application/json"
        folder = key.rsplit("/", 1)[0]
        rows = [
            row for f in manifest["files"] for row in _lines(objects[f"{folder}/{f['name']}"].data)
        ]
        assert len(rows) == manifest["total_rows"] > 0
    source = pl.concat(
        [pl.read_ndjson(gzip.decompress(p.read_bytes())) for p in sorted(spool.rglob("*.gz"))],
        how="diagonal_relaxed",
    )
    source_ids = sorted(
        normalize(source).filter(pl.col("timestamp") < "2026-04-01T01")["request_id"]
    )
    archived_ids = sorted(
        line["request_id"] for obj in batches.values() for line in _lines(obj.data)
    )
    assert archived_ids == source_ids


def test_rerun_gives_the_same_objects_and_removes_stale_batches(spool: Path, store: Store) -> None:
    simulate(spool, H0, H0 + layout.ONE_HOUR, rate=200, seed=22)
    _materialise(_config(spool, store, max_rows_per_file=20), H0)
    first = {k: v.data for k, v in store.objects().items()}
    assert sum(layout.is_batch_key(k) for k in first) >= 3
    _materialise(_config(spool, store, max_rows_per_file=20), H0)
    assert {k: v.data for k, v in store.objects().items()} == first
    _materialise(_config(spool, store, max_rows_per_file=1_000_000), H0)
    after = store.objects()
    assert sum(layout.is_batch_key(k) for k in after) == 1
    manifest = json.loads(after[layout.manifest_key(PREFIX, H0)].data)
    assert [f["rows"] for f in manifest["files"]] == [manifest["total_rows"]]


def test_empty_hour_writes_only_its_zero_row_manifest(spool: Path, store: Store) -> None:
    _materialise(_config(spool, store), H0)
    [(key, obj)] = store.objects().items()
    assert key.endswith(f"hour={H0:%H}/{layout.MANIFEST_NAME}")
    manifest = json.loads(obj.data)
    assert (manifest["total_rows"], manifest["files"], manifest["rejects"]) == (0, [], None)


def test_content_encoding_option_still_reads_back_raw_gzip(spool: Path, store: Store) -> None:
    simulate(spool, H0, H0 + layout.ONE_HOUR, rate=50, seed=23)
    _materialise(_config(spool, store, gzip_content_encoding=True), H0)
    batches = {k: v for k, v in store.objects().items() if layout.is_batch_key(k)}
    assert batches
    for obj in batches.values():
        assert (obj.content_type, obj.content_encoding) == ("application/x-ndjson", "gzip")
        assert obj.data[:2] == b"\x1f\x8b"  # the SDK handed back the stored gzip bytes
    integration = parse_config(_config(spool, store, gzip_content_encoding=True)).integrations[0]
    dest = live(integration.destination())
    [key] = list(batches)[:1]
    assert dest.get_object(key) == batches[key].data


def test_large_batch_uploads_in_parts(store: Store, monkeypatch: pytest.MonkeyPatch, gcs) -> None:
    frame = incompressible_frame(36_000)  # about 13 MiB of gzip: three 5 MiB parts
    cfg = {"name": "prod", "start": "2026-03-31T00", "part_size_mb": 5, **store.integration()}
    proxy_ctx = (
        faulty_proxy(gcs.endpoint, fail_first=0, ignore=gcs_bucket_metadata)
        if store.provider == "gcs"
        else None
    )
    with proxy_ctx or nullcontext() as proxy:
        if proxy is not None:
            cfg["endpoint_url"] = proxy.url
        integration = parse_config(
            {"source": {"kind": "spool", "path": "/x"}, "integrations": [cfg]}
        ).integrations[0]
        dest = live(integration.destination())
        key = "big/batch_000000000000.jsonl.gz"
        settings = WriteSettings(max_rows_per_file=frame.height)
        [(_, entry)] = write_frame(dest, frame, lambda _: key, settings)
        requests = proxy.requests if proxy is not None else 0
        stored = store.objects()[key]  # GCS media links name the host that wrote the object
    assert len(stored.data) == entry.bytes > 10 * 2**20
    assert [line["request_id"] for line in _lines(stored.data)] == frame["request_id"].to_list()
    if isinstance(store, S3Store):
        assert store.etag(key).strip('"').endswith("-3")  # a multipart upload of 3 parts
    elif isinstance(store, AzureStore):
        assert store.committed_blocks(key) == 3
    else:
        assert requests >= 4  # session start, then one PUT per part and the final one
    assert stored.content_type == "application/gzip"
