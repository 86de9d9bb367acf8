"""The per-hour reconciliation check: real runs on a real instance, then a tampered archive."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from prism_dagster.config import parse_config
from prism_dagster.definitions import build_definitions
from prism_dagster.names import (
    ARCHIVE_COMPLETE_CHECK,
    PARTITION_KEY_FORMAT,
    PARTITION_RANGE_END_TAG,
    PARTITION_RANGE_START_TAG,
    archive_key,
    hour_text,
)
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.rows import gateway_row, hour, write_spool

H22, H23, H00, H01 = (
    hour(h) for h in ("2026-03-31T22", "2026-03-31T23", "2026-04-01T00", "2026-04-01T01")
)
CHECK = dg.AssetCheckKey(archive_key("prod"), ARCHIVE_COMPLETE_CHECK)


def _config(spool: Path, archive: Path) -> dict[str, Any]:
    integration = {
        "name": "prod",
        "provider": "local",
        "path": str(archive),
        "prefix": "prism/production",
        "start": "2026-03-31T00",
        "max_rows_per_file": 40,  # several batch files per hour
    }
    source = {"kind": "spool", "path": str(spool)}
    return {"source": source, "integrations": [integration]}


def _execute(
    config: dict[str, Any], instance: dg.DagsterInstance, archive: bool, tags: dict[str, str]
) -> dg.ExecuteInProcessResult:
    """One run of the archive and this check (as the UI's Materialize and backfills run them),
    or of the check alone (as a ``launchRun`` selecting only the check does)."""
    selection = dg.AssetSelection.checks(CHECK)
    if archive:
        selection = dg.AssetSelection.assets(archive_key("prod")).without_checks() | selection
    job = dg.define_asset_job("archive_and_reconcile", selection=selection)
    defs = dg.Definitions.merge(build_definitions(parse_config(config)), dg.Definitions(jobs=[job]))
    return defs.resolve_job_def(job.name).execute_in_process(
        instance=instance, tags=tags, raise_on_error=False
    )


def _run(
    config: dict[str, Any],
    instance: dg.DagsterInstance,
    first: datetime,
    last: datetime,
    archive: bool = True,
) -> dict[str, dg.AssetCheckEvaluation]:
    """Archive ``first``..``last`` and check each hour in the same run (or only check them)."""
    tags = {
        PARTITION_RANGE_START_TAG: first.strftime(PARTITION_KEY_FORMAT),
        PARTITION_RANGE_END_TAG: last.strftime(PARTITION_KEY_FORMAT),
    }
    result = _execute(config, instance, archive, tags)
    assert result.success
    return {e.partition: e for e in result.get_asset_check_evaluations()}


def _hour_folder(archive: Path, h: datetime) -> Path:
    return archive / "prism/production/logs" / f"{h:%Y/%m/%d}" / f"hour={h:%H}"


def _archived(spool: Path, archive: Path, instance: dg.DagsterInstance) -> None:
    simulate(spool, H22, H01, rate=150, seed=3, bad_lines=1)
    assert all(e.passed for e in _run(_config(spool, archive), instance, H22, H00).values())


def _check(spool: Path, archive: Path, instance: dg.DagsterInstance) -> dg.AssetCheckEvaluation:
    """Check hour 22 alone (no materialization in the run), as the check's page launches it."""
    [(partition, evaluation)] = _run(
        _config(spool, archive), instance, H22, H22, archive=False
    ).items()
    assert partition == "2026-03-31-22:00"
    return evaluation


def _meta(evaluation: dg.AssetCheckEvaluation) -> dict[str, Any]:
    return {k: v.value for k, v in evaluation.metadata.items()}


def test_each_hour_of_a_run_is_proven_in_that_run(spool: Path, archive_root: Path) -> None:
    # Traffic in 22:00 and 00:00; 23:00 is quiet and archived as an empty hour.
    simulate(spool, H22, H23, rate=150, seed=1, bad_lines=2)
    simulate(spool, H00, H01, rate=60, seed=2)
    with dg.instance_for_test() as instance:
        results = _run(_config(spool, archive_root), instance, H22, H00)
        # Each partition's result speaks for the materialization this run made.
        for key, evaluation in results.items():
            [record] = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=archive_key("prod"), asset_partitions=[key]), 1
            ).records
            assert evaluation.target_materialization_data.run_id == record.run_id
    assert sorted(results) == ["2026-03-31-22:00", "2026-03-31-23:00", "2026-04-01-00:00"]
    for key, evaluation in results.items():
        h = datetime.strptime(key, PARTITION_KEY_FORMAT)
        manifest = json.loads((_hour_folder(archive_root, h) / "_manifest.json").read_text())
        meta = _meta(evaluation)
        assert evaluation.passed, evaluation.description
        assert meta["hour"] == hour_text(h) and meta["hour"] in (evaluation.description or "")
        assert meta["rows"] == manifest["total_rows"], key
        assert meta["objects_checked"] == len(manifest["files"]) + bool(manifest["rejects"]), key
        assert meta["manifest"].endswith(f"hour={h:%H}/_manifest.json"), key
    assert _meta(results["2026-03-31-22:00"])["objects_checked"] >= 3  # batch files + rejects
    assert _meta(results["2026-03-31-22:00"])["rejected_rows"] == 2
    assert _meta(results["2026-03-31-23:00"])["rows"] == 0


def test_a_range_checked_alone_fails_only_the_hour_missing_an_object(
    spool: Path, archive_root: Path
) -> None:
    with dg.instance_for_test() as instance:
        _archived(spool, archive_root, instance)
        deleted = sorted(_hour_folder(archive_root, H23).glob("batch_*"))[1]
        deleted.unlink()
        results = _run(_config(spool, archive_root), instance, H22, H00, archive=False)
    bad = results.pop("2026-03-31-23:00")
    assert (bad.passed, bad.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert f"{deleted.name} is missing" in (bad.description or "")
    assert hour_text(H23) in (bad.description or "")
    assert _meta(bad)["objects_with_problems"] == deleted.name
    assert all(e.passed for e in results.values())


def test_a_flipped_byte_is_an_error_naming_the_object(spool: Path, archive_root: Path) -> None:
    with dg.instance_for_test() as instance:
        _archived(spool, archive_root, instance)
        target = sorted(_hour_folder(archive_root, H22).glob("batch_*"))[0]
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
        evaluation = _check(spool, archive_root, instance)
    assert (evaluation.passed, evaluation.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert f"{target.name} does not match its manifest SHA-256" in (evaluation.description or "")
    assert _meta(evaluation)["objects_with_problems"] == target.name


@pytest.mark.parametrize("edit", ["total_rows", "file_rows"])
def test_a_manifest_with_a_wrong_count_is_an_error(
    spool: Path, archive_root: Path, edit: str
) -> None:
    with dg.instance_for_test() as instance:
        _archived(spool, archive_root, instance)
        path = _hour_folder(archive_root, H22) / "_manifest.json"
        manifest = json.loads(path.read_text())
        if edit == "total_rows":
            manifest["total_rows"] += 1
            expected = f"total_rows is {manifest['total_rows']}, its files list"
        else:
            entry = manifest["files"][0]
            entry["rows"] -= 1
            expected = f"{entry['name']} holds {entry['rows'] + 1} lines, the manifest says"
        path.write_text(json.dumps(manifest))
        evaluation = _check(spool, archive_root, instance)
    assert (evaluation.passed, evaluation.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert expected in (evaluation.description or "")


def test_a_late_row_is_a_warning_naming_the_hour(spool: Path, archive_root: Path) -> None:
    with dg.instance_for_test() as instance:
        _archived(spool, archive_root, instance)
        before = _meta(_check(spool, archive_root, instance))["source_fingerprint_now"]
        write_spool(spool / "late.ndjson", [gateway_row("late-1", "2026-03-31T22:59:00Z")])
        evaluation = _check(spool, archive_root, instance)
    meta, text = _meta(evaluation), evaluation.description or ""
    assert (evaluation.passed, evaluation.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert f"the source changed after hour {hour_text(H22)} was archived" in text
    assert meta["archived_fingerprint"] == before != meta["source_fingerprint_now"]
    assert before in text and meta["source_fingerprint_now"] in text
    assert meta["objects_with_problems"] == "-"  # the archive itself is intact


def test_an_hour_never_archived_is_an_error(spool: Path, archive_root: Path) -> None:
    with dg.instance_for_test() as instance:
        evaluation = _check(spool, archive_root, instance)
    assert (evaluation.passed, evaluation.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert f"hour {hour_text(H22)}" in (evaluation.description or "")
    assert "not archived: no manifest and no objects" in (evaluation.description or "")


def test_execute_all_with_nothing_archived_succeeds_saying_so(spool: Path, archive_root: Path):
    # What the Checks tab's "Execute all" launches: every check, no partition.
    with dg.instance_for_test() as instance:
        result = _execute(_config(spool, archive_root), instance, archive=False, tags={})
        logs = [e.message for e in instance.all_logs(result.run_id)]
    assert result.success and not result.get_asset_check_evaluations()
    assert f"{ARCHIVE_COMPLETE_CHECK}: no hour is archived yet" in logs


def test_execute_all_judges_the_latest_archived_hour(spool: Path, archive_root: Path) -> None:
    simulate(spool, H22, H01, rate=100, seed=3)
    config = _config(spool, archive_root)
    with dg.instance_for_test() as instance:
        tags = {"dagster/asset_partition_range_start": "2026-03-31-22:00"}
        tags["dagster/asset_partition_range_end"] = "2026-04-01-00:00"
        assert _execute(config, instance, archive=True, tags=tags).success
        result = _execute(config, instance, archive=False, tags={})
    assert result.success
    [evaluation] = result.get_asset_check_evaluations()
    assert (evaluation.partition, evaluation.passed) == ("2026-04-01-00:00", True)
