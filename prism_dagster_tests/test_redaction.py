"""``fields:`` per integration: fields excluded or hashed, through the real Dagster job."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import yaml

from prism_dagster.archive.manifest import Manifest
from prism_dagster.archive.records import RecordSpill, Spilled
from prism_dagster.archive.schema import RECORD_COLUMNS, RECORD_SCHEMA
from prism_dagster.archive.settings import FieldSettings
from prism_dagster.cli.sql import render
from prism_dagster.config import parse_config, secret_env_values
from prism_dagster.definitions import build_definitions
from prism_dagster.defs.resources import live_archive
from prism_dagster.destinations.local import LocalDestination
from prism_dagster.errors import ConfigError
from prism_dagster.names import PARTITION_KEY_FORMAT as HOUR_KEY
from prism_dagster.names import archive_job_name, archive_key, usage_job_name, usage_key
from prism_dagster.sources.base import SourceBatch
from prism_dagster_tests.support.archive_reader import read_archive_lines, tree_bytes
from prism_dagster_tests.support.rows import gateway_row, hour, records, write_spool
from prism_dagster_tests.support.writing import write

H14 = hour("2026-03-31T14")
SALT_ENV = "PRISM_TEST_HASH_SALT"
SALT = "known-test-salt-0123456789abcdef"
SECRET_TEXT = "card 4111 declined"  # an error message that must never reach the archive
POLICY = {"exclude": ["error_message"], "hash": ["request_id", "routing_strategy"]}
WRITTEN = [c for c in RECORD_COLUMNS if c != "error_message"]
DUCK_TYPES = {"String": "VARCHAR", "Int64": "BIGINT", "Float64": "DOUBLE", "Boolean": "BOOLEAN"}


def _config(spool: Path, root: Path, **fields: Any) -> dict[str, Any]:
    integration = {"name": "prod", "provider": "local", "path": str(root), "prefix": "p"}
    integration |= {"start": "2026-03-31T00", "max_rows_per_file": 3}
    if fields:  # a salt from SALT_ENV when hashing, unless one is given (None: none at all)
        given = ({"salt": {"env": SALT_ENV}} if "hash" in fields else {}) | fields
        integration["fields"] = {k: v for k, v in given.items() if v is not None}
    return {"source": {"kind": "spool", "path": str(spool)}, "integrations": [integration]}


def _spool(spool: Path) -> None:
    rows: list[dict[str, Any] | str] = [
        gateway_row(f"req_{i}", f"2026-03-31T14:0{i}:00Z", error_message=SECRET_TEXT)
        for i in range(7)
    ]
    rows[2]["routing_strategy"] = "cheapest"  # type: ignore[index]
    bad = gateway_row("req_bad", "2026-03-31T14:30:00Z", error_message=SECRET_TEXT)
    rows.append(json.dumps(bad | {"latency_ms": SECRET_TEXT}))  # a reject quoting its value
    write_spool(spool / "2026-03-31T14.ndjson", rows)


def _run(config: dict[str, Any], instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = build_definitions(parse_config(config)).resolve_job_def(archive_job_name("prod"))
    return job.execute_in_process(
        partition_key=H14.strftime(HOUR_KEY), instance=instance, raise_on_error=False
    )


def _lines(root: Path) -> list[dict[str, Any]]:
    """Every archived line, in time order (batch file names are digests, not in order)."""
    lines = [line for rows in read_archive_lines(root).values() for line in rows]
    return sorted(lines, key=lambda line: line["timestamp"])


def _inflated(root: Path) -> dict[str, bytes]:
    """Every object's bytes as readers see them (gzip decompressed)."""
    out = {}
    for name, data in tree_bytes(root).items():
        out[name] = gzip.decompress(data) if name.endswith(".gz") else data
    return out


@dataclass(frozen=True)
class Archived:
    """Hour 14 archived under POLICY: its folder, prism.yaml, both runs' bytes, the first run."""

    root: Path
    config: dict[str, Any]
    first: dict[str, bytes]
    second: dict[str, bytes]
    result: dg.ExecuteInProcessResult
    logs: str
    run_config: str


@pytest.fixture(scope="module")
def archived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archived]:
    """Hour 14 archived under POLICY, then archived again (a rerun)."""
    spool, root = tmp_path_factory.mktemp("spool"), tmp_path_factory.mktemp("archive")
    _spool(spool)
    config = _config(spool, root, **POLICY)
    with pytest.MonkeyPatch.context() as patch, dg.instance_for_test() as instance:
        patch.setenv(SALT_ENV, SALT)
        result = _run(config, instance)
        assert result.success
        first = tree_bytes(root)
        assert _run(config, instance).success
        logs = "\n".join(str(e) for e in instance.all_logs(result.run_id))
        run = instance.get_run_by_id(result.run_id)
        yield Archived(root, config, first, tree_bytes(root), result, logs, str(run.run_config))


def _write(folder: Path, config: dict[str, Any]) -> Path:
    path = folder / "prism.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _load_error(tmp_path: Path, **fields: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(_config(tmp_path, tmp_path, **fields))
    return str(caught.value)


def test_an_unknown_field_is_a_load_error_naming_integration_and_field(tmp_path: Path) -> None:
    message = _load_error(tmp_path, exclude=["emial"])
    assert "integration 'prod': field 'fields.exclude': unknown field 'emial'" in message


def test_a_field_cannot_be_excluded_and_hashed(tmp_path: Path) -> None:
    message = _load_error(tmp_path, exclude=["model"], hash=["model"])
    assert "integration 'prod': field 'fields': model: a field is either excluded" in message


def test_hash_needs_a_salt_from_the_environment(tmp_path: Path) -> None:
    assert "field 'fields': hash needs salt" in _load_error(tmp_path, hash=["model"], salt=None)
    literal = _load_error(tmp_path, hash=["model"], salt="literal-salt-in-the-file")
    assert "field 'fields.salt': the salt is a secret" in literal


def test_only_text_fields_are_hashed_and_timestamp_stays(tmp_path: Path) -> None:
    assert "'latency_ms' is int64, not text" in _load_error(tmp_path, hash=["latency_ms"])
    assert "'timestamp' cannot be excluded" in _load_error(tmp_path, exclude=["timestamp"])
    assert "'timestamp' cannot be excluded" in _load_error(tmp_path, hash=["timestamp"])


def test_the_salt_is_scrubbed_like_other_secrets(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(SALT_ENV, SALT)
    assert SALT in secret_env_values(parse_config(_config(tmp_path, tmp_path, **POLICY)))


def test_an_excluded_field_is_absent_from_every_line(archived: Archived) -> None:
    lines = _lines(archived.root)
    assert len(read_archive_lines(archived.root)) == 3 and len(lines) == 7  # 3 rows a file
    assert all(list(line) == WRITTEN for line in lines)  # 18 keys, in the record's order


def test_a_hashed_field_is_the_documented_hmac(archived: Archived) -> None:
    lines = _lines(archived.root)
    digest = lambda v: hmac.new(SALT.encode(), v.encode(), hashlib.sha256).hexdigest()  # noqa: E731
    assert [x["request_id"] for x in lines] == [digest(f"req_{i}") for i in range(7)]
    assert [x["routing_strategy"] for x in lines] == ["", "", digest("cheapest"), "", "", "", ""]


def test_a_rerun_is_byte_identical(archived: Archived) -> None:
    assert archived.second == archived.first


def test_another_salt_writes_other_keys_and_hashes(archived: Archived, monkeypatch) -> None:
    monkeypatch.setenv(SALT_ENV, SALT[::-1])
    with dg.instance_for_test() as instance:
        assert _run(archived.config, instance).success
        changed = tree_bytes(archived.root)
    monkeypatch.setenv(SALT_ENV, SALT)
    with dg.instance_for_test() as instance:
        assert _run(archived.config, instance).success  # back as it was, for the other tests
    batches = lambda tree: {k for k in tree if "batch_" in k}  # noqa: E731
    assert batches(changed).isdisjoint(batches(archived.first))
    assert tree_bytes(archived.root) == archived.first


def test_the_manifest_names_both_lists(archived: Archived) -> None:
    [path] = archived.root.rglob("_manifest.json")
    manifest = json.loads(path.read_text())
    assert manifest["columns"] == WRITTEN
    assert manifest["excluded_fields"] == ["error_message"]
    assert manifest["hashed_fields"] == ["request_id", "routing_strategy"]
    assert manifest["hash_algorithm"] == "hmac-sha256"
    older = {k: v for k, v in manifest.items() if "field" not in k and k != "hash_algorithm"}
    assert Manifest.from_bytes(json.dumps(older).encode(), "older").excluded_fields == []
    assert b"_fields" not in Manifest("prod", "h", 0, [], 6).to_bytes()  # no policy: as before


def test_rejected_lines_are_withheld_not_leaked(archived: Archived) -> None:
    inflated = _inflated(archived.root)
    assert not any(SECRET_TEXT.encode() in data for data in inflated.values())
    [rejects] = [v for k, v in inflated.items() if "_rejects_" in k]
    [reject] = [json.loads(line) for line in rejects.splitlines()]
    assert reject["line"] is None and reject["line_number"] == 8
    assert reject["reason"] == "latency_ms: expected an integer"


def test_the_salt_never_appears_in_archive_metadata_or_logs(archived: Archived) -> None:
    [event] = archived.result.asset_materializations_for_node("prism__archive__prod")
    shown = [str(v.value) for v in event.metadata.values()]
    assert event.metadata["hashed_fields"].value == ["request_id", "routing_strategy"]
    assert not any(SALT in text for text in [*shown, archived.logs, archived.run_config])
    assert not any(SALT.encode() in data for data in _inflated(archived.root).values())


def test_column_schema_and_lineage_show_the_written_fields(archived: Archived) -> None:
    defs = build_definitions(parse_config(archived.config))
    meta = defs.resolve_assets_def(archive_key("prod")).metadata_by_key[archive_key("prod")]
    columns = {c.name: c for c in meta["dagster/column_schema"].columns}
    assert list(columns) == WRITTEN
    assert columns["request_id"].description.startswith("HMAC-SHA256")
    [event] = archived.result.asset_materializations_for_node("prism__archive__prod")
    lineage = event.metadata["dagster/column_lineage"].value.deps_by_column
    assert "error_message" not in lineage and "request_id" in lineage


def test_sql_follows_the_field_list_and_reads_the_archive(
    archived: Archived, tmp_path: Path
) -> None:
    sql = render(_write(tmp_path, archived.config), "prod", "duckdb")
    assert '"error_message"' not in sql and "HMAC-SHA256" in sql
    con = duckdb.connect()
    con.execute(sql)
    described = [(row[0], row[1]) for row in con.sql("DESCRIBE prod_logs").fetchall()]
    expected = [(c, DUCK_TYPES[str(RECORD_SCHEMA[c].base_type())]) for c in WRITTEN]
    assert described == [
        *expected,
        ("day", "DATE"),
        ("hour", "INTEGER"),
        ("hour_start", "TIMESTAMP"),
    ]
    select = ", ".join(f'"{c}"' for c in WRITTEN)
    got = con.sql(f"SELECT {select} FROM prod_logs ORDER BY timestamp").fetchall()
    assert got == [tuple(x.values()) for x in _lines(archived.root)]


def test_athena_reads_only_written_fields_and_keeps_records_apart(tmp_path: Path) -> None:
    raw = _config(tmp_path, tmp_path, exclude=["request_id", "error_message"])
    raw["integrations"][0] |= {"provider": "s3", "bucket": "b", "region": "eu-west-1"}
    del raw["integrations"][0]["path"]
    sql = render(_write(tmp_path, raw), "prod", "athena")
    assert "`request_id`" not in sql and "`error_message`" not in sql
    assert "WHERE timestamp IS NOT NULL;" in sql
    assert "-- Fields excluded from the archive: request_id, error_message." in sql


def test_reading_back_follows_the_manifest_without_the_salt(archived: Archived) -> None:
    archive = live_archive(parse_config(archived.config).integrations[0])
    frame = archive.read_hour(H14)
    assert frame.columns == WRITTEN and frame.height == 7
    assert frame.get_column("request_id").to_list() == [
        x["request_id"] for x in _lines(archived.root)
    ]
    with pytest.raises(ConfigError, match="needs the salt, which was not read"):
        archive.write_hour(H14, frame, SourceBatch.empty_rejects())


def test_a_short_salt_fails_the_run_without_showing_it(tmp_path: Path, monkeypatch) -> None:
    _spool(tmp_path / "spool")
    monkeypatch.setenv(SALT_ENV, "short")
    with dg.instance_for_test() as instance:
        result = _run(_config(tmp_path / "spool", tmp_path / "archive", **POLICY), instance)
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert "fields.salt: the salt is 5 bytes; use at least 16" in message
    assert "short" not in message and not list((tmp_path / "archive").rglob("*.gz"))


def test_the_usage_rollup_leaves_out_an_excluded_field(tmp_path: Path) -> None:
    _spool(tmp_path / "spool")
    config = _config(tmp_path / "spool", tmp_path / "archive", exclude=["cost", "model"])
    defs = build_definitions(parse_config(config))
    with dg.instance_for_test() as instance:
        assert _run(config, instance).success
        job = defs.resolve_job_def(usage_job_name("prod"))
        result = job.execute_in_process(instance=instance, partition_key="2026-03-31")
    table = result.output_for_node(usage_key("prod").to_python_identifier())
    assert table.columns == [
        "day",
        "provider",
        "requests",
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "errors",
    ]
    assert table.rows() == [(H14.date(), "openai", 7, 8400, 2261, 10661, 0)]


def test_a_spilled_hour_is_redacted_to_the_same_bytes(tmp_path: Path) -> None:
    frame = records(3000)  # many slices and files, each slice hashed on its own
    spill = RecordSpill(budget_bytes=1)
    for offset in range(0, frame.height, 400):
        spill.add(frame.slice(offset, 400))
    fields = FieldSettings(exclude=["cost"], hash=["request_id", "error_message"], salt=SALT)
    trees = []
    spilled = spill.finish()
    assert isinstance(spilled, Spilled)
    for name, rows in (("memory", frame), ("spilled", spilled)):
        write(LocalDestination(path=str(tmp_path / name)), rows, fields=fields, slice_rows=700)
        trees.append(tree_bytes(tmp_path / name))
    assert trees[0] == trees[1]
    lines = _lines(tmp_path / "memory")
    digest = hmac.new(SALT.encode(), frame["error_message"][7].encode(), hashlib.sha256)
    assert lines[7]["error_message"] == digest.hexdigest() and lines[0]["error_message"] == ""


def test_a_bad_records_failure_quotes_no_value_under_a_policy(tmp_path: Path, monkeypatch) -> None:
    _spool(tmp_path / "spool")
    monkeypatch.setenv(SALT_ENV, SALT)
    config = _config(tmp_path / "spool", tmp_path / "archive", **POLICY)
    config["source"]["bad_records"] = "fail"
    with dg.instance_for_test() as instance:
        result = _run(config, instance)
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert "1 bad source line(s)" in message and "latency_ms: expected an integer" in message
    assert SECRET_TEXT not in message


def test_reading_after_a_policy_change_holds_only_the_fields_now_written(
    tmp_path: Path, monkeypatch
) -> None:
    _spool(tmp_path / "spool")
    with dg.instance_for_test() as instance:
        assert _run(_config(tmp_path / "spool", tmp_path / "archive"), instance).success
        config = _config(tmp_path / "spool", tmp_path / "archive", exclude=["cost"])
        job = build_definitions(parse_config(config)).resolve_job_def(usage_job_name("prod"))
        result = job.execute_in_process(instance=instance, partition_key="2026-03-31")
    # The hour was written with cost; the policy now excludes it: the rollup has no cost.
    table = result.output_for_node(usage_key("prod").to_python_identifier())
    assert "cost" not in table.columns and table["requests"].to_list() == [7]
