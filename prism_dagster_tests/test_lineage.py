"""`prism-dagster lineage`: one hour's chain from Dagster's own records."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from prism_dagster.cli.lineage import lineage, render
from prism_dagster.config import parse_config
from prism_dagster.definitions import build_definitions
from prism_dagster.names import SCHEDULE_TAG, SENSOR_TAG
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.lifecycle import Daemon
from prism_dagster_tests.support.rows import gateway_row, hour, write_spool

NOW = hour("2026-04-01T02").replace(minute=30)


def _raw(spool: Path, tmp_path: Path) -> dict:
    return {
        "source": {"kind": "spool", "path": str(spool)},
        "integrations": [
            {
                "name": "prod",
                "provider": "local",
                "path": str(tmp_path / "archive"),
                "start": "2026-04-01T00",
                "history": {"since": "2026-04-01T00"},
            }
        ],
        "status_store": {"url": f"sqlite:///{tmp_path / 'status.db'}"},
    }


def test_lineage_lists_every_run_that_wrote_the_hour(spool, tmp_path, monkeypatch) -> None:
    simulate(spool, hour("2026-04-01T00"), hour("2026-04-01T02"), rate=30, seed=5)
    raw = _raw(spool, tmp_path)
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw, instance, monkeypatch, NOW)
        requests = daemon.schedule()
        assert isinstance(requests, list), requests
        for request in requests:  # as the daemon launches a schedule's runs
            assert daemon.launch(request, by={SCHEDULE_TAG: "archive_prod_schedule"}).success
        assert daemon.materialize_from_ui("2026-04-01-01:00", "prod").success
        write_spool(spool / "late.ndjson", [gateway_row("late", "2026-04-01T01:30:00Z")])
        waiting = lineage(parse_config(raw), "prod", "2026-04-01T01")
        [request] = daemon.sensor("prism_late_rows").run_requests
        assert daemon.launch(request, by={SENSOR_TAG: "prism_late_rows"}).success
        chain = json.loads(render(lineage(parse_config(raw), "prod", "2026-04-01T01"), True))
        text = render(lineage(parse_config(raw), "prod", "2026-04-01T01"), False)
    launched = [w["launched_by"] for w in chain["writes"]]
    assert launched == [
        "schedule archive_prod_schedule",
        "UI Materialize (asset job)",
        "late-rows sensor",
    ]
    runs = [w["run_id"] for w in chain["writes"]]
    assert len(set(runs)) == 3 and all(run in text for run in runs)
    manifest = json.loads((tmp_path / "archive/logs/2026/04/01/hour=01/_manifest.json").read_text())
    assert chain["writes"][-1]["rows"] == manifest["total_rows"] == chain["writes"][0]["rows"] + 1
    assert (
        chain["fingerprint_archived"] == manifest["source_fingerprint"] == chain["fingerprint_now"]
    )
    assert chain["complete"] and chain["source_unchanged"] and chain["problems"] == []
    assert [o["sha256"] for o in chain["objects"]] == [f["sha256"] for f in manifest["files"]]
    # Before the re-archive, the late row was waiting: the source had moved on.
    assert not waiting.current and waiting.fingerprint_now != waiting.fingerprint_archived
    assert "late rows waiting: rows" in render(waiting, False), render(waiting, False)


def test_lineage_says_an_hour_with_a_corrupt_object_is_not_complete(spool, tmp_path) -> None:
    simulate(spool, hour("2026-04-01T00"), hour("2026-04-01T01"), rate=30, seed=6)
    raw = _raw(spool, tmp_path)
    config = parse_config(raw)
    with dg.instance_for_test() as instance:
        job = build_definitions(config).resolve_job_def("archive_prod")
        assert job.execute_in_process(partition_key="2026-04-01-00:00", instance=instance).success
        [batch] = (tmp_path / "archive").rglob("batch_*")
        data = bytearray(batch.read_bytes())
        data[len(data) // 2] ^= 0xFF  # one flipped byte
        batch.write_bytes(bytes(data))
        chain = lineage(config, "prod", "2026-04-01T00")
    assert not chain.complete and len(chain.writes) == 1
    assert any(batch.name in p and "SHA-256" in p for p in chain.problems), chain.problems
    assert "complete: NO" in render(chain, False)
