"""GCS resumable uploads when an answer is lost or hangs: the session is asked, never guessed.

A proxy in front of the GCS emulator forwards a PUT of an upload session and then loses the
store's answer (the store did the work), or holds the connection without a byte (a hung
request). The run must resume where the session stands and archive the same bytes as
without the fault. The client's logic is the point, whatever real GCS would answer.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from prism_dagster.archive import layout
from prism_dagster_tests.support.fault_proxy import (
    FaultyProxy,
    Seen,
    faulty_proxy,
    gcs_bucket_metadata,
)
from prism_dagster_tests.support.rows import gateway_row, hour, write_spool
from prism_dagster_tests.support.runs import failure_message, materialise, spool_config
from prism_dagster_tests.support.stores import GcsStore

H23 = hour("2026-03-31T23")
PREFIX = "prism/production"
PART = 5 << 20  # part_size_mb: 5
ROWS = 20_000  # about 7 MiB of gzip: one whole part, then the rest with the final PUT
# Quick retries; a request that hangs is given up on after a few seconds, not 120.
RETRY = {"initial_backoff_s": 0.05, "max_backoff_s": 0.5, "give_up_after_s": 30}
TIMEOUT_S = 5


def _first_part(seen: Seen) -> bool:
    return seen.method == "PUT" and "upload_id=" in seen.path and len(seen.body) == PART


def _final_put(seen: Seen) -> bool:
    # Only the PUT that completes the object carries its CRC32C.
    return seen.method == "PUT" and "upload_id=" in seen.path and "x-goog-hash" in seen.headers


@pytest.fixture(scope="module")
def big_hour(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spool whose hour 23 archives to one batch of about 7 MiB (random text barely packs)."""
    spool = tmp_path_factory.mktemp("spool")
    noise = (base64.b64encode(os.urandom(360)).decode() for _ in range(ROWS))
    rows = [
        gateway_row(f"r{i:06d}", "2026-03-31T23:10:00Z", error_message=text)
        for i, text in enumerate(noise)
    ]
    write_spool(spool / "a.ndjson", rows)
    return spool


@pytest.fixture
def proxied(gcs) -> Iterator[tuple[GcsStore, FaultyProxy]]:
    store = GcsStore(gcs)
    with faulty_proxy(gcs.endpoint, fail_first=0, ignore=gcs_bucket_metadata) as proxy:
        yield store, proxy


def _archive(spool: Path, store: GcsStore, proxy: FaultyProxy) -> Any:
    retry = {**RETRY, "request_timeout_s": TIMEOUT_S}
    config = spool_config(spool, store, PREFIX, endpoint_url=proxy.url, part_size_mb=5, retry=retry)
    return materialise(config, H23, check=False)


def _archived_ids(store: GcsStore) -> list[str]:
    """The request ids in the hour's batches, as the manifest lists them and GCS holds them."""
    objects = store.objects()
    manifest = json.loads(objects[layout.manifest_key(PREFIX, H23)].data)
    ids = []
    for entry in manifest["files"]:
        data = objects[layout.file_key(PREFIX, H23, entry["name"])].data
        assert len(data) == entry["bytes"]
        ids += [json.loads(line)["request_id"] for line in gzip.decompress(data).splitlines()]
    return ids


@pytest.mark.parametrize(
    ("lost", "hang"),
    [
        pytest.param(_final_put, False, id="final PUT answer lost"),
        pytest.param(_first_part, False, id="part PUT answer lost"),
        pytest.param(_first_part, True, id="part PUT hangs"),
    ],
)
def test_a_resumable_upload_resumes_where_the_session_stands(
    big_hour: Path,
    proxied: tuple[GcsStore, FaultyProxy],
    lost: Callable[[Seen], bool],
    hang: bool,
) -> None:
    store, proxy = proxied
    proxy.lose_answer_next(lost, hang=hang)
    result = _archive(big_hour, store, proxy)
    assert result.success, failure_message(result)
    assert len(proxy.lost) == 1  # the fault happened, to a PUT the store had carried out
    asked = [s for s in proxy.seen if s.headers.get("content-range") == "bytes */*"]
    assert len(asked) == 1  # the session was asked how much it held, once
    # Nothing was sent twice: after the status, the upload went on from where it stood.
    parts = [s for s in proxy.seen if s.method == "PUT" and s.body]
    assert sum(len(s.body) for s in parts) == sum(
        len(o.data) for k, o in store.objects().items() if layout.is_batch_key(k)
    )
    assert _archived_ids(store) == [f"r{i:06d}" for i in range(ROWS)]
