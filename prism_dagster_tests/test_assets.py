"""Materialising through Dagster: real runs on a real instance, archive read back independently."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import dagster as dg
import polars as pl
import pytest
import yaml

from prism_dagster.archive.schema import RECORD_COLUMNS
from prism_dagster.config import parse_config
from prism_dagster.definitions import build_definitions
from prism_dagster.defs.assets import build_archive_asset
from prism_dagster.defs.metadata import human_size
from prism_dagster.defs.reconcile import build_archive_complete_check
from prism_dagster.defs.resources import build_resources
from prism_dagster.names import PARTITION_KEY_FORMAT as HOUR_KEY
from prism_dagster.names import (
    SOURCE_POOL,
    archive_job_name,
    archive_key,
    destination_key,
    gateway_logs_key,
    source_resource_key,
)
from prism_dagster.sources.base import SourceBatch
from prism_dagster.sources.simulate import simulate
from prism_dagster.sources.spool import SpoolSource
from prism_dagster_tests.support.archive_reader import read_archive_lines, tree_bytes
from prism_dagster_tests.support.rows import gateway_row, hour, write_spool

START, END = hour("2026-03-31T22"), hour("2026-04-01T02")  # across midnight and a month


def _config(spool: Path, archive: Path, bad_records: str = "keep", **extra: Any) -> dict[str, Any]:
    integration = {
        "name": "prod",
        "provider": "local",
        "path": str(archive),
        "prefix": "prism/production",
        "start": "2026-03-31T00",
        **extra,
    }
    return {
        "source": {"kind": "spool", "path": str(spool), "bad_records": bad_records},
        "integrations": [integration],
    }


def _run(
    config: dict[str, Any],
    instance: dg.DagsterInstance,
    first: datetime,
    last: datetime | None = None,
) -> dg.ExecuteInProcessResult:
    job = build_definitions(parse_config(config)).resolve_job_def(archive_job_name("prod"))
    if last is None:
        return job.execute_in_process(
            partition_key=first.strftime(HOUR_KEY), instance=instance, raise_on_error=False
        )
    tags = {
        "dagster/asset_partition_range_start": first.strftime(HOUR_KEY),
        "dagster/asset_partition_range_end": last.strftime(HOUR_KEY),
    }
    return job.execute_in_process(tags=tags, instance=instance, raise_on_error=False)


def _expected_by_hour(spool: Path) -> dict[str, list[dict[str, Any]]]:
    """The archive we expect, computed from the spool with the standard library only."""
    by_hour: dict[str, list[dict[str, Any]]] = {}
    for file in sorted(spool.rglob("*.ndjson.gz")):
        for line in gzip.decompress(file.read_bytes()).decode().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if str(row.get("latency_ms")).isdigit() is False:
                continue  # the simulator's wrongly typed lines
            moment = datetime.fromisoformat(row["started_at"] or row["created_at"]).astimezone(UTC)
            record = {k: row.get(k) for k in RECORD_COLUMNS}
            record["error_message"] = record["error_message"] or ""
            record["timestamp"] = (
                moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
            )
            record["event_type"] = "request"
            by_hour.setdefault(moment.strftime("%Y/%m/%d/hour=%H"), []).append(record)
    return by_hour


def test_archive_holds_exactly_the_source_rows_of_each_hour(
    spool: Path, archive_root: Path
) -> None:
    simulate(spool, START, END, rate=300, seed=7, bad_lines=2)
    with dg.instance_for_test() as instance:
        for h in (START, hour("2026-03-31T23"), hour("2026-04-01T00"), hour("2026-04-01T01")):
            assert _run(_config(spool, archive_root), instance, h).success
    expected = _expected_by_hour(spool)
    got: dict[str, list[dict[str, Any]]] = {}
    for path, lines in read_archive_lines(archive_root).items():
        folder = path.split("logs/", 1)[1].rsplit("/", 1)[0]
        got.setdefault(folder, []).extend(lines)
    assert sorted(got) == sorted(expected)
    for folder, rows in expected.items():
        key = lambda r: (r["timestamp"], r["request_id"])  # noqa: E731
        assert sorted(got[folder], key=key) == sorted(rows, key=key), folder
        assert all(list(line) == list(RECORD_COLUMNS) for line in got[folder])


def test_materialization_metadata_describes_the_hour(spool: Path, archive_root: Path) -> None:
    simulate(spool, START, END, rate=300, seed=7, bad_lines=2)
    with dg.instance_for_test() as instance:
        result = _run(_config(spool, archive_root), instance, START)
        assert result.success
        [event] = result.asset_materializations_for_node("prism__archive__prod")
        meta = {k: v.value for k, v in event.metadata.items()}
    manifest = json.loads(next(archive_root.rglob("_manifest.json")).read_text())
    assert manifest["total_rows"] == meta["dagster/row_count"] > 0
    objects = [r.data for r in meta["objects"].records]
    assert meta["files"] == len(manifest["files"]) == len(objects) - 1  # + the rejects file
    listed = [*manifest["files"], manifest["rejects"]]
    assert [(o["object"], o["rows"], o["bytes"], o["sha256"]) for o in objects] == [
        (f["name"], f["rows"], f["bytes"], f["sha256"][:12]) for f in listed
    ]
    assert [o["kind"] for o in objects] == ["records"] * meta["files"] + ["rejects"]
    size = sum(f["bytes"] for f in manifest["files"])  # as people read it
    assert meta["compressed_size"] == (f"{size} B" if size < 1024 else f"{size / 1024:.1f} KiB")
    unpacked = sum(f["uncompressed_bytes"] for f in manifest["files"])
    assert meta["uncompressed_size"] == human_size(unpacked)
    assert meta["cost_currency"] == "USD"
    assert meta["rejected_rows"] == manifest["rejected_rows"] == 2
    assert meta["source_lines"] == manifest["source_lines"] == meta["dagster/row_count"] + 2
    lines = [x for f in archive_root.rglob("batch_*") for x in read_archive_lines(f.parent)[f.name]]
    assert meta["total_cost"] == round(sum(x["cost"] for x in lines), 9)  # no float noise
    assert meta["error_count"] == sum(x["is_error"] for x in lines)
    assert meta["hour"] == "2026-03-31T22:00Z" and meta["outcome"] == "archived"
    assert meta["window"] == "2026-03-31T22:00Z .. 2026-03-31T23:00Z"
    assert objects[0]["object"].startswith("batch_")
    assert meta["source_fingerprint"] == manifest["source_fingerprint"]
    assert event.tags["dagster/data_version"] == manifest["source_fingerprint"]  # one hour
    assert "replaces_run" not in meta  # the hour's first materialization
    manifest_path = next(archive_root.rglob("_manifest.json"))
    assert meta["manifest"] == str(manifest_path)  # a path to copy: browsers follow no file://
    assert unquote(meta["dagster/uri"]) == unquote(manifest_path.parent.as_uri())


HOUR_KEYS = [
    "hour",
    "outcome",
    "dagster/row_count",
    "files",
    "compressed_size",
    "uncompressed_size",
    "total_cost",
    "cost_currency",
    "error_count",
    "rejected_rows",
    "source_lines",
    "objects",
    "manifest",
    "dagster/uri",
    "source_fingerprint",
]
RUN_KEYS = ["stale_files_removed", "unfinished_uploads_removed"]
WINDOW_KEYS = ["window", "window_hours", "window_rows", "window_files", "window_compressed_size"]


def test_an_hours_page_leads_with_its_own_figures_each_once(spool: Path, archive_root: Path):
    # Traffic in 22:00 only: 23:00 is quiet; no file is ignored or unreadable.
    simulate(spool, START, hour("2026-03-31T23"), rate=300, seed=21)
    with dg.instance_for_test() as instance:
        result = _run(_config(spool, archive_root), instance, START, hour("2026-03-31T23"))
        events = result.asset_materializations_for_node("prism__archive__prod")
    window = [*WINDOW_KEYS, "window_empty_hours", "destination", "dagster/column_lineage"]
    for event in events:  # the busy hour and the quiet one: the same keys, in this order
        assert list(event.metadata) == [*HOUR_KEYS, *RUN_KEYS, *window], event.partition
        assert [] not in [v.value for v in event.metadata.values()]  # no empty list shown


def test_a_kept_hour_shows_the_same_keys_and_totals_as_its_first_archive(
    spool: Path, archive_root: Path
) -> None:
    simulate(spool, START, hour("2026-03-31T23"), rate=300, seed=21)
    with dg.instance_for_test() as instance:
        [first] = _run(
            _config(spool, archive_root), instance, START
        ).asset_materializations_for_node("prism__archive__prod")
        for path in spool.rglob("*.ndjson*"):
            path.unlink()  # the source now returns nothing for the hour: the archive is kept
        [again] = _run(
            _config(spool, archive_root), instance, START
        ).asset_materializations_for_node("prism__archive__prod")
    before = {k: v.value for k, v in first.metadata.items()}
    after = {k: v.value for k, v in again.metadata.items()}
    assert after["outcome"].startswith("the source returned nothing")
    provenance = ["replaces_run", "source_change"]
    tail = ["window_kept_hours", "destination", "dagster/column_lineage"]
    assert list(after) == [*HOUR_KEYS, *provenance, *RUN_KEYS, *WINDOW_KEYS, *tail]
    for key in ("total_cost", "cost_currency", "error_count", "dagster/row_count"):
        assert after[key] == before[key], key


def test_quiet_hour_is_archived_as_zero_rows_and_says_so(spool: Path, archive_root: Path) -> None:
    with dg.instance_for_test() as instance:
        result = _run(_config(spool, archive_root), instance, START)
        [event] = result.asset_materializations_for_node("prism__archive__prod")
    meta = {k: v.value for k, v in event.metadata.items()}
    assert (meta["dagster/row_count"], meta["files"], meta["total_cost"]) == (0, 0, 0.0)
    assert meta["objects"].records == []
    assert meta["outcome"].startswith("no traffic")
    assert meta["window_empty_hours"] == ["2026-03-31T22:00Z"]  # the one hour format
    [manifest] = [p for p in archive_root.rglob("*") if p.is_file()]
    assert meta["manifest"] == str(manifest)
    assert json.loads(manifest.read_text())["total_rows"] == 0


def test_each_hour_of_a_multi_hour_run_shows_its_own_figures(
    spool: Path, archive_root: Path
) -> None:
    # Traffic in 22:00 and 00:00 only: 23:00 has none, and must not show its neighbours' rows.
    simulate(spool, START, hour("2026-03-31T23"), rate=300, seed=21)
    simulate(spool, hour("2026-04-01T00"), hour("2026-04-01T01"), rate=120, seed=22)
    with dg.instance_for_test() as instance:
        result = _run(_config(spool, archive_root), instance, START, hour("2026-04-01T00"))
        events = result.asset_materializations_for_node("prism__archive__prod")
    by_hour = {e.partition: {k: v.value for k, v in e.metadata.items()} for e in events}
    assert sorted(by_hour) == ["2026-03-31-22:00", "2026-03-31-23:00", "2026-04-01-00:00"]
    manifests = {
        p.parent.parent.name[-2:] + "/" + p.parent.name: json.loads(p.read_text())
        for p in archive_root.rglob("_manifest.json")
    }
    for key, meta in by_hour.items():
        folder = f"{key[8:10]}/hour={key[11:13]}"
        manifest = manifests[folder]
        assert meta["dagster/row_count"] == manifest["total_rows"], key
        names = [r.data["object"] for r in meta["objects"].records]
        assert meta["files"] == len(manifest["files"]) == len(names), key
        assert names == [f["name"] for f in manifest["files"]], key
        assert meta["compressed_size"] == human_size(sum(f["bytes"] for f in manifest["files"]))
        assert meta["source_fingerprint"] == manifest["source_fingerprint"], key
        assert meta["manifest"].endswith(f"{folder}/_manifest.json"), key
        # The window's totals are named as such, and equal on every hour.
        assert meta["window_rows"] == sum(m["total_rows"] for m in manifests.values())
    rows = {key: meta["dagster/row_count"] for key, meta in by_hour.items()}
    assert rows["2026-03-31-23:00"] == 0
    assert rows["2026-03-31-22:00"] != rows["2026-04-01-00:00"]
    assert rows["2026-03-31-22:00"] > 0 and rows["2026-04-01-00:00"] > 0


def test_one_run_over_many_hours_equals_hour_by_hour_runs(spool: Path, tmp_path: Path) -> None:
    simulate(spool, START, END, rate=300, seed=11, bad_lines=1)
    one, many = tmp_path / "one", tmp_path / "many"
    with dg.instance_for_test() as instance:
        assert _run(
            _config(spool, one, max_rows_per_file=50), instance, START, hour("2026-04-01T01")
        ).success
        for h in (START, hour("2026-03-31T23"), hour("2026-04-01T00"), hour("2026-04-01T01")):
            assert _run(_config(spool, many, max_rows_per_file=50), instance, h).success
    assert tree_bytes(one) == tree_bytes(many)
    assert len([k for k in tree_bytes(one) if k.endswith("_manifest.json")]) >= 3


def test_bad_records_fail_policy_fails_the_run_naming_the_lines(
    spool: Path, archive_root: Path
) -> None:
    simulate(spool, START, END, rate=50, seed=3, bad_lines=2)
    with dg.instance_for_test() as instance:
        result = _run(
            _config(spool, archive_root, bad_records="fail"), instance, hour("2026-04-01T00")
        )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = (
        failure.step_failure_data.error.cause.message
        if failure.step_failure_data.error.cause
        else failure.step_failure_data.error.message
    )
    assert "2 bad source line(s)" in message and "00.ndjson.gz:" in message
    assert "latency_ms: expected an integer, got slow" in message
    assert list(archive_root.rglob("batch_*")) == []


def test_downstream_assets_can_load_an_archived_hour(spool: Path, archive_root: Path) -> None:
    simulate(spool, START, END, rate=100, seed=5)
    config = parse_config(_config(spool, archive_root))
    defs = build_definitions(config)
    source = build_archive_asset(
        config.integrations[0],
        config.integrations[0].destination(),
        config.catch_up.max_hours_per_run,
        SOURCE_POOL,
    )

    @dg.asset(
        partitions_def=source.partitions_def,
        ins={"archive": dg.AssetIn(archive_key(config.integrations[0].name))},
    )
    def hourly_cost(archive: pl.DataFrame) -> float:
        return float(archive["cost"].sum())

    with dg.instance_for_test() as instance:
        partition = START.strftime(HOUR_KEY)
        result = dg.materialize(
            [source, hourly_cost],
            partition_key=partition,
            instance=instance,
            resources=defs.resources,
        )
        assert result.success
        lines = [x for lines in read_archive_lines(archive_root).values() for x in lines]
        assert result.output_for_node("hourly_cost") == pytest.approx(sum(x["cost"] for x in lines))


def test_definitions_module_loads_from_prism_config(
    spool: Path, archive_root: Path, tmp_path: Path
) -> None:
    config_file = tmp_path / "prism.yaml"
    config_file.write_text(yaml.safe_dump(_config(spool, archive_root)))
    code = (
        "import warnings; warnings.filterwarnings('ignore')\n"
        "import dagster as dg\n"
        "from prism_dagster.definitions import defs\n"
        "graph = defs.resolve_asset_graph()\n"
        "print(sorted(k.to_user_string() for k in graph.get_all_asset_keys()))\n"
        "node = graph.get(dg.AssetKey(['prism', 'archive', 'prod']))\n"
        "print(sorted(k.to_user_string() for k in node.parent_keys))\n"
        "print(node.partitions_def.get_first_partition_key())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PRISM_CONFIG": str(config_file), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout.splitlines()
    keys = ["prism/archive/prod", "prism/usage_daily/prod", gateway_logs_key("").to_user_string()]
    assert out[0] == str(sorted(keys))
    assert out[1] == "['prism/gateway_request_logs']"
    assert out[2] == "2026-03-31-00:00"


def test_paths_not_read_are_named_in_the_run_metadata(spool: Path, archive_root: Path) -> None:
    from prism_dagster_tests.support.rows import gateway_row, write_spool

    write_spool(spool / "a.ndjson", [gateway_row("ok", "2026-03-31T22:10:00Z"), "{broken"])
    (spool / "notes.txt").write_text("not a log file")
    (spool / "gone.ndjson").symlink_to(spool / "deleted.ndjson")  # dangling
    with dg.instance_for_test() as instance:
        result = _run(_config(spool, archive_root), instance, START)
        assert result.success
        [event] = result.asset_materializations_for_node("prism__archive__prod")
        meta = {k: v.value for k, v in event.metadata.items()}
    assert meta["ignored_files"] == ["notes.txt"]
    [unreadable] = meta["unreadable_paths"]
    assert unreadable.startswith(f"{spool / 'gone.ndjson'}: ")
    assert meta["dagster/row_count"] == 1
    manifest = json.loads(next(archive_root.rglob("_manifest.json")).read_text())
    assert meta["source_lines"] == manifest["source_lines"] == 1 + manifest["rejected_rows"]


def test_the_asset_definition_says_where_it_archives(tmp_path: Path) -> None:
    config = parse_config(_config(tmp_path / "spool", tmp_path / "archive"))
    key = archive_key("prod")
    with dg.instance_for_test():  # Dagster's load context reads instance state
        metadata = build_definitions(config).resolve_assets_def(key).metadata_by_key[key]
    assert metadata["destination"] == (tmp_path / "archive" / "prism" / "production").as_uri()
    assert metadata["prefix"] == "prism/production" and metadata["provider"] == "local"


def test_a_rearchive_links_the_run_it_replaced_and_what_changed(
    spool: Path, archive_root: Path
) -> None:
    write_spool(spool / "a.ndjson", [gateway_row("a", "2026-03-31T22:10:00Z")])
    with dg.instance_for_test() as instance:
        first = _run(_config(spool, archive_root), instance, START)
        write_spool(spool / "late.ndjson", [gateway_row("late", "2026-03-31T22:40:00Z")])
        second = _run(_config(spool, archive_root), instance, START)
        [event] = second.asset_materializations_for_node("prism__archive__prod")
    meta = event.metadata
    assert meta["replaces_run"] == dg.MetadataValue.dagster_run(first.run_id)
    assert meta["source_change"].value == "rows 1 -> 2"
    assert meta["source_fingerprint"].value.startswith("rows=2;rejects=0;")


def test_the_assets_carry_column_schema_lineage_tags_and_owners(
    spool: Path, archive_root: Path
) -> None:
    raw = _config(spool, archive_root, owners=["team:data-platform"])
    raw["integrations"].append(
        {
            "name": "cloud",
            "provider": "s3",
            "bucket": "logs-bucket",
            "region": "eu-west-1",
            "start": "2026-03-31T00",
        }
    )
    defs = build_definitions(parse_config(raw))
    with dg.instance_for_test() as instance:
        specs = {s.key: s for s in defs.resolve_all_asset_specs()}
        result = _run(raw, instance, START)
        [event] = result.asset_materializations_for_node("prism__archive__prod")
    prod, cloud = specs[archive_key("prod")], specs[archive_key("cloud")]
    schema = prod.metadata["dagster/column_schema"]
    assert tuple(c.name for c in schema.columns) == RECORD_COLUMNS
    assert all(c.description for c in schema.columns)
    gateway = specs[gateway_logs_key("")].metadata["dagster/column_schema"]
    assert {c.name for c in gateway.columns} >= {"started_at", "created_at", "cost"}
    assert prod.owners == ["team:data-platform"] and cloud.owners == []
    assert prod.tags["prism/provider"] == "local" and "prism/destination" not in prod.tags
    assert (cloud.tags["prism/provider"], cloud.tags["prism/destination"]) == ("s3", "logs-bucket")
    lineage = event.metadata["dagster/column_lineage"].value.deps_by_column
    assert {d.column_name for d in lineage["timestamp"]} == {"started_at", "created_at"}
    assert [d.column_name for d in lineage["cost"]] == ["cost"] and lineage["event_type"] == []
    assert all(d.asset_key == gateway_logs_key("") for deps in lineage.values() for d in deps)


_READS: list[tuple[str, list[str]]] = []


class _WatchedSpool(SpoolSource):
    """A spool that notes, at each read, which hours are archived already."""

    archive: str

    def read_pieces(self, start: datetime, end: datetime) -> Iterator[SourceBatch]:
        done = sorted(p.parent.name for p in Path(self.archive).rglob("_manifest.json"))
        _READS.append((f"{start:%H}-{end:%H}", done))
        return super().read_pieces(start, end)


def test_a_run_writes_each_hour_before_it_reads_the_next_and_reads_it_once(
    spool: Path, archive_root: Path
) -> None:
    simulate(spool, START, END, rate=60, seed=13)
    config = parse_config(_config(spool, archive_root))
    integration = config.integrations[0]
    resources = build_resources(config)
    resources[source_resource_key("")] = _WatchedSpool(path=str(spool), archive=str(archive_root))
    asset = build_archive_asset(integration, resources[destination_key("prod")], 24, SOURCE_POOL)
    check = build_archive_complete_check(integration, 24)  # as the archive job runs it
    _READS.clear()
    with dg.instance_for_test() as instance:
        tags = {
            "dagster/asset_partition_range_start": "2026-03-31-22:00",
            "dagster/asset_partition_range_end": "2026-04-01-01:00",
        }
        result = dg.materialize([asset, check], instance=instance, resources=resources, tags=tags)
        assert result.success
        checked = result.get_asset_check_evaluations()
    # The check proves each hour without reading the source again: this run just read it.
    assert len(checked) == 4 and all(c.passed for c in checked)
    assert _READS == [
        ("22-23", []),
        ("23-00", ["hour=22"]),
        ("00-01", ["hour=22", "hour=23"]),
        ("01-02", ["hour=00", "hour=22", "hour=23"]),
    ]
