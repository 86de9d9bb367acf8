"""The late-rows sensor never requests a second writer for an hour a run is writing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import dagster as dg

from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.lifecycle import Daemon
from prism_dagster_tests.support.rows import gateway_row, hour, write_spool

NOW = hour("2026-04-01T02").replace(minute=30)


def _raw(spool: Path, tmp_path: Path, since: str) -> dict[str, Any]:
    """A local integration archiving the spool from ``since``, with its own status store."""
    integration = {"name": "prod", "provider": "local", "path": str(tmp_path / "archive")}
    return {
        "source": {"kind": "spool", "path": str(spool)},
        "integrations": [integration | {"start": since, "history": {"since": since}}],
        "status_store": {"url": f"sqlite:///{tmp_path / 'status.db'}"},
    }


def _archived(raw: dict[str, Any], instance: dg.DagsterInstance, monkeypatch) -> Daemon:
    """A daemon whose schedule has archived every closed hour once."""
    daemon = Daemon(raw, instance, monkeypatch, NOW)
    for request in daemon.schedule():
        assert daemon.launch(request).success
    return daemon


def test_an_hour_with_a_run_in_flight_is_not_requested_again(spool, tmp_path, monkeypatch):
    simulate(spool, hour("2026-04-01T00"), hour("2026-04-01T02"), rate=30, seed=5)
    with dg.instance_for_test() as instance:
        daemon = _archived(_raw(spool, tmp_path, since="2026-04-01T00"), instance, monkeypatch)
        write_spool(spool / "late.ndjson", [gateway_row("late", "2026-04-01T01:30:00Z")])
        # A run of that hour is under way (launched from the UI, say): hands off.
        job = daemon.defs.resolve_job_def("archive_prod")
        run = instance.create_run_for_job(
            job_def=job,
            tags={"dagster/partition": "2026-04-01-01:00"},
            status=dg.DagsterRunStatus.STARTED,
        )
        assert daemon.sensor("prism_late_rows").run_requests == []
        instance.report_run_failed(run)  # it ended: the changed hour is requested now
        [request] = daemon.sensor("prism_late_rows").run_requests
    assert request.tags["dagster/partition"] == "2026-04-01-01:00"


def test_a_file_turned_unreadable_does_not_rearchive_its_hours(spool, tmp_path, monkeypatch):
    path = write_spool(spool / "a.ndjson", [gateway_row("a", "2026-04-01T01:10:00Z")])
    with dg.instance_for_test() as instance:
        daemon = _archived(_raw(spool, tmp_path, since="2026-04-01T01"), instance, monkeypatch)
        write_spool(spool / "b.ndjson", [gateway_row("b", "2026-04-01T01:20:00Z")])
        path.unlink()
        path.symlink_to(spool / "nowhere.ndjson")  # a.ndjson can no longer be read
        assert daemon.sensor("prism_late_rows").run_requests == []
        path.unlink()
        write_spool(path, [gateway_row("a", "2026-04-01T01:10:00Z")])  # readable again
        [request] = daemon.sensor("prism_late_rows").run_requests  # b is late: now it goes
    assert request.tags["dagster/partition"] == "2026-04-01-01:00"


def test_a_broken_destination_skips_the_tick_with_a_reason(spool, tmp_path, monkeypatch):
    simulate(spool, hour("2026-04-01T00"), hour("2026-04-01T02"), rate=30, seed=5)
    with dg.instance_for_test() as instance:
        daemon = _archived(_raw(spool, tmp_path, since="2026-04-01T00"), instance, monkeypatch)
        archive = tmp_path / "archive"
        shutil.rmtree(archive)
        archive.write_text("not a folder")  # the archive folder replaced by a file
        result = daemon.sensor("prism_late_rows")  # the tick itself must not fail
    assert result.run_requests == []
    reason = result.skip_reason.skip_message
    assert reason.startswith("prod: could not compare with the archive: "), reason
    assert "not a folder" in reason and "\n" not in reason


def test_a_busy_changed_hour_is_said_to_be_busy_not_unchanged(spool, tmp_path, monkeypatch):
    simulate(spool, hour("2026-04-01T00"), hour("2026-04-01T02"), rate=30, seed=5)
    with dg.instance_for_test() as instance:
        daemon = _archived(_raw(spool, tmp_path, since="2026-04-01T00"), instance, monkeypatch)
        write_spool(spool / "late.ndjson", [gateway_row("late", "2026-04-01T01:30:00Z")])
        job = daemon.defs.resolve_job_def("archive_prod")
        instance.create_run_for_job(
            job_def=job,
            tags={"dagster/partition": "2026-04-01-01:00"},
            status=dg.DagsterRunStatus.STARTED,
        )
        result = daemon.sensor("prism_late_rows")
    assert result.run_requests == []
    assert result.skip_reason.skip_message == (
        "prod: 2026-04-01T01:00Z being written by a run now; looked at again at the next tick"
    )
