"""Two integrations never write one place: overlapping archives, however spelled, are refused
at load, an hour's writer touches only its own hour's objects, and no endpoint carries a
password."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from prism_dagster.archive import layout
from prism_dagster.archive.settings import WriteSettings
from prism_dagster.archive.writer import HourResult, write_hour
from prism_dagster.config import load_config, parse_config
from prism_dagster.defs.resources import live
from prism_dagster.destinations import Destination, LocalDestination
from prism_dagster.errors import ConfigError
from prism_dagster.sources import SourceBatch
from prism_dagster_tests.support.archive_reader import read_hour
from prism_dagster_tests.support.rows import records
from prism_dagster_tests.support.stores import S3Store
from prism_dagster_tests.support.writing import H14

NESTED = "logs/2026/03/31/hour=14"  # a prefix that lands inside hour 14 of an unprefixed one


def _two(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    base = {"start": "2026-03-01T00"}
    return {
        "source": {"kind": "spool", "path": "/tmp/spool"},
        "integrations": [{"name": "a", **base, **first}, {"name": "b", **base, **second}],
    }


def _s3(**fields: Any) -> dict[str, Any]:
    return {"provider": "s3", "bucket": "logs", "region": "us-east-1", **fields}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            {"provider": "local", "path": "/tmp/x", "prefix": "p"},
            {"provider": "local", "path": "/tmp/x", "prefix": f"p/{NESTED}/x"},
        ),
        ({"provider": "local", "path": "/tmp/x"}, {"provider": "local", "path": "/tmp/x/logs"}),
        (_s3(), _s3(prefix=NESTED)),
        (_s3(prefix=f"p/{NESTED}/x"), _s3(prefix="p")),  # the outer one second
        (
            {"provider": "gcs", "bucket": "logs", "prefix": "p"},
            {"provider": "gcs", "bucket": "logs", "prefix": "p/logs/2026"},
        ),
    ],
)
def test_an_archive_inside_another_is_refused_at_load(first, second) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_two(first, second))
    message = str(caught.value)
    assert "integration 'b': its archive overlaps that of 'a'" in message
    assert "give each integration a prefix outside the other's" in message


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            {"provider": "local", "path": "/tmp/x", "prefix": "p/q"},
            {"provider": "local", "path": "/tmp/x/p", "prefix": "q"},
        ),
        (
            _s3(endpoint_url="http://127.0.0.1:9000"),
            _s3(endpoint_url="http://localhost:9000"),
        ),
        (_s3(endpoint_url="http://[::1]:9000/"), _s3(endpoint_url="http://LOCALHOST:9000")),
        (_s3(), _s3(endpoint_url="https://s3.us-east-1.amazonaws.com")),
        (_s3(), _s3(endpoint_url="https://s3.amazonaws.com:443")),
        (_s3(region="eu-west-1"), _s3(endpoint_url="https://s3.eu-west-1.amazonaws.com/")),
        (
            {"provider": "gcs", "bucket": "logs"},
            {
                "provider": "gcs",
                "bucket": "logs",
                "endpoint_url": "https://storage.googleapis.com:443",
            },
        ),
    ],
)
def test_one_place_spelled_two_ways_is_refused_at_load(first, second) -> None:
    with pytest.raises(ConfigError, match="integration 'b': writes the same destination"):
        parse_config(_two(first, second))


def test_a_relative_path_and_prefix_split_is_refused_once_anchored(tmp_path: Path) -> None:
    raw = _two(
        {"provider": "local", "path": "archive", "prefix": "p/q"},
        {"provider": "local", "path": "archive/p", "prefix": "q"},
    )
    (tmp_path / "prism.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="integration 'b': writes the same destination"):
        load_config(tmp_path / "prism.yaml")


SIDE_BY_SIDE = [
    (_s3(prefix="p"), _s3(prefix="p/q")),  # p/logs and p/q/logs: neither holds the other
    (_s3(prefix="p"), _s3(prefix="pq")),
    (_s3(prefix="p"), _s3(prefix="p", bucket="other")),
    (_s3(endpoint_url="http://127.0.0.1:9000"), _s3(endpoint_url="http://127.0.0.1:9001")),
    ({"provider": "local", "path": "/tmp/x"}, {"provider": "local", "path": "/tmp/x/other"}),
]


@pytest.mark.parametrize(("first", "second"), SIDE_BY_SIDE)
def test_only_overlapping_archives_are_refused(first, second) -> None:
    assert [i.name for i in parse_config(_two(first, second)).integrations] == ["a", "b"]
    # The same neighbour one folder down, inside the first one's archive, is refused.
    inside = {**second, "prefix": "/".join(p for p in (first.get("prefix"), "logs/x") if p)}
    inside |= {k: first[k] for k in ("path", "bucket", "endpoint_url") if k in first}
    with pytest.raises(ConfigError, match="integration 'b': its archive overlaps that of 'a'"):
        parse_config(_two(first, inside))


# --- an hour's writer touches only its own hour's objects ----------------------------------


def _write(dest: Destination, prefix: str, integration: str, frame: pl.DataFrame) -> HourResult:
    return write_hour(
        dest,
        integration=integration,
        prefix=prefix,
        hour=H14,
        records=frame,
        rejects=SourceBatch.empty_rejects(),
        settings=WriteSettings(slice_rows=1000),
    )


def _stored(dest: Destination, result: HourResult, prefix: str) -> list[str]:
    return [layout.file_key(prefix, H14, f.name) for f in result.manifest.files]


@pytest.mark.parametrize(("outer", "inner"), [("p", f"p/{NESTED}/x"), ("", NESTED)])
def test_an_hours_writer_leaves_objects_below_its_folder_alone(archive_root, outer, inner):
    # Two archives nested as an older configuration allowed: the outer one's run of hour 14
    # used to delete the inner one's batch as stale, leaving its manifest listing a lost file.
    dest = LocalDestination(path=str(archive_root))
    kept = _write(dest, inner, "b", records(300))
    stray = f"{layout.hour_dir(outer, H14)}/batch_notes.jsonl.gz"  # not a name we give
    (archive_root / stray).write_bytes(b"an operator's file")
    _write(dest, outer, "a", records(500))
    result = _write(dest, outer, "a", records(200, minute_step=0.002))  # a's rerun: a's own go
    assert len(result.removed) == 1 and result.removed[0].startswith(layout.hour_dir(outer, H14))
    for key in _stored(dest, kept, inner):
        assert dest.exists(key)
    assert read_hour(dest, inner, H14).equals(records(300))
    assert read_hour(dest, outer, H14).equals(records(200, minute_step=0.002))
    assert (archive_root / stray).read_bytes() == b"an operator's file"


def test_on_s3_an_hours_writer_leaves_objects_and_uploads_below_its_folder_alone(
    moto, monkeypatch
) -> None:
    store = S3Store(moto)
    for name, value in store.env.items():
        monkeypatch.setenv(name, value)
    raw = {"name": "a", "start": "2026-03-01T00", **store.integration()}
    config = parse_config({"source": {"kind": "spool", "path": "/x"}, "integrations": [raw]})
    dest = live(config.integrations[0].destination())
    inner = f"p/{NESTED}/x"
    kept = _write(dest, inner, "b", records(300))
    # b is writing its next large object meanwhile: a multipart upload under b's hour.
    uploading = layout.file_key(inner, H14, "batch_0123456789ab.jsonl.gz")
    client = dest.client()
    client.create_multipart_upload(Bucket=dest.bucket, Key=uploading)
    result = _write(dest, "p", "a", records(500))
    assert result.cleaned == [] and result.removed == []
    uploads = client.list_multipart_uploads(Bucket=dest.bucket).get("Uploads", [])
    assert [u["Key"] for u in uploads] == [uploading]
    stored = store.objects()
    for key in _stored(dest, kept, inner):
        assert key in stored
    assert read_hour(dest, inner, H14).equals(records(300))


# --- no password in an endpoint --------------------------------------------------------------


@pytest.mark.parametrize(
    ("integration", "field"),
    [
        (_s3(endpoint_url="http://archiver:s3cr3t-value@127.0.0.1:9000"), "endpoint_url"),
        (
            {"provider": "gcs", "bucket": "logs", "endpoint_url": "https://u:s3cr3t-value@gcs:443"},
            "endpoint_url",
        ),
        (
            {"provider": "azure", "container": "c", "account_url": "https://u:s3cr3t-value@a.net"},
            "account_url",
        ),
    ],
)
def test_a_password_in_an_endpoint_is_refused_at_load(integration, field) -> None:
    raw = {
        "source": {"kind": "spool", "path": "/tmp/spool"},
        "integrations": [{"name": "prod", "start": "2026-03-01T00", **integration}],
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    message = str(caught.value)
    assert f"integration 'prod': field '{field}': holds a password" in message
    assert f"use {field}: {{env: NAME}}" in message
    assert "s3cr3t-value" not in message
    # From the environment, or a user name alone: no secret in prism.yaml.
    raw["integrations"][0][field] = {"env": "TEST_ENDPOINT"}
    assert parse_config(raw).integrations[0].name == "prod"
    raw["integrations"][0][field] = "https://archiver@127.0.0.1:9000"
    assert parse_config(raw).integrations[0].name == "prod"
