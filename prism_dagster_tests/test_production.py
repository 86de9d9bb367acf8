"""The production profile (deploy/) as separate processes on PostgreSQL: a backfill of three
integrations x 48 hours to local and S3 within the source pool, also across a daemon SIGKILL."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from prism_dagster.archive.layout import hours_between
from prism_dagster.config import find_integration, load_config
from prism_dagster.defs.resources import live_archive
from prism_dagster.lifecycle import instance_db
from prism_dagster.lifecycle.status import Status, StatusStore, default_url
from prism_dagster.names import SOURCE_POOL, archive_key, partition_key
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.dagster_dev import LAUNCH_BACKFILL
from prism_dagster_tests.support.moto import MotoServer
from prism_dagster_tests.support.postgres import PostgresServer
from prism_dagster_tests.support.production import BACKFILL_RUNS, POOLS, Production, production
from prism_dagster_tests.support.rows import hour
from prism_dagster_tests.support.stores import S3Store

START, END = hour("2026-03-02T00"), hour("2026-03-04T00")
HOURS = list(hours_between(START, END))
KEYS = [partition_key(h) for h in HOURS]
NAMES = ("local_a", "s3_b", "s3_c")
LIMIT = 2
# A schedule tick (once a day at 00:59 UTC) must not race the backfill for the same hours.
QUIET = {"start": "2026-03-02T00", "sync_interval": 24, "grace_minutes": 59}


@pytest.fixture
def setup(
    tmp_path: Path, spool: Path, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, dict[str, int]]:
    traffic = simulate(spool, START, END, rate=12, seed=13)
    s3 = S3Store(moto)
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    raw = {
        "source": {"kind": "spool", "path": str(spool)},
        "integrations": [
            {"name": "local_a", "provider": "local", "path": str(tmp_path / "archive"), **QUIET},
            s3.integration(name="s3_b", prefix="b", **QUIET),
            s3.integration(name="s3_c", prefix="c", **QUIET),
        ],
        # A backfill run covers a range of hours of all three assets: 2 runs of 24 hours.
        "catch_up": {"max_hours_per_run": 24},
        "pools": {"source_limit": LIMIT},
    }
    config = tmp_path / "prism.yaml"
    config.write_text(json.dumps(raw))
    return config, {partition_key(t.hour): t.rows for t in traffic}


def _launch(topology: Production) -> str:
    params = {
        "assetSelection": [{"path": archive_key(n).path} for n in NAMES],
        "partitionNames": KEYS,
    }
    found = topology.dev.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert found["__typename"] == "LaunchBackfillSuccess", found
    return found["backfillId"]


def _runs(topology: Production, backfill: str) -> list[dict]:
    return topology.dev.graphql(BACKFILL_RUNS, {"id": backfill})["runsOrError"]["results"]


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    # An end at the same instant as a start frees its slot first.
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def _verify(
    topology: Production, backfill: str, config: Path, rows: dict[str, int], mp: pytest.MonkeyPatch
) -> None:
    status = topology.dev.wait_for_backfill(backfill, timeout=900)
    runs = _runs(topology, backfill)
    assert status == "COMPLETED_SUCCESS", topology.failures(runs, backfill)
    # Every hour archived exactly once: one materialization each, its rows what the source
    # held, and the manifest-checked archive reads back the same rows.
    prism = load_config(config)
    for name in NAMES:
        events = topology.dev.materializations(archive_key(name).path, KEYS)
        assert Counter(e["partition"] for e in events) == Counter(KEYS), name
        assert {e["partition"]: e["metadata"]["dagster/row_count"] for e in events} == rows, name
        archive = live_archive(find_integration(prism, name))
        assert {partition_key(h): archive.read_hour(h).height for h in HOURS} == rows, name
    # No run ever exceeded the source pool: step start/end times from the event log.
    assert {r["status"] for r in runs} == {"SUCCESS"}
    archives = {"__".join(archive_key(n).path) for n in NAMES}
    steps = [s for r in runs for s in r["stepStats"] if s["stepKey"] in archives]
    hours_per_run = json.loads(config.read_text())["catch_up"]["max_hours_per_run"]
    assert len(runs) == len(HOURS) // hours_per_run  # each range once: no run twice
    assert len(steps) == len(NAMES) * len(runs)
    overlap = _max_overlap([(s["startTime"], s["endTime"]) for s in steps])
    print(f"runs {len(runs)}, archive steps {len(steps)}, most at once {overlap}")
    assert overlap <= LIMIT
    found = topology.dev.graphql(
        POOLS, {"key": {"path": archive_key("s3_b").path}, "pool": SOURCE_POOL}
    )
    assert found["assetNodeOrError"]["pools"] == [SOURCE_POOL]
    assert found["instance"]["concurrencyLimit"]["slotCount"] == LIMIT
    # No SQLite anywhere: the instance's storages, the status store, the home folder.
    info = found["instance"]["info"]
    assert "PostgresRunStorage" in info and "PostgresEventLogStorage" in info
    assert "sqlite" not in info.lower()
    assert not [p for p in topology.home.rglob("*") if p.suffix in (".db", ".sqlite", ".sqlite3")]
    for env in (
        instance_db.HOST_ENV,
        instance_db.PORT_ENV,
        instance_db.USER_ENV,
        instance_db.DB_ENV,
    ):
        mp.setenv(env, topology.env[env])
    mp.setenv(instance_db.PASSWORD_ENV, topology.env[instance_db.PASSWORD_ENV])
    mp.delenv("PRISM_STATUS_URL", raising=False)
    assert default_url().startswith(instance_db.DRIVER + "://")
    store = StatusStore()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        states = [store.get(name) for name in NAMES]
        if all(
            s and s.status is Status.ACTIVE and s.last_archived_hour == HOURS[-1] for s in states
        ):
            return
        time.sleep(1)
    raise AssertionError(f"status never settled: {states}")


def test_backfill_on_the_production_profile_stays_within_the_source_pool(
    setup: tuple[Path, dict[str, int]], postgres: PostgresServer, tmp_path: Path, monkeypatch
) -> None:
    config, rows = setup
    with production(postgres, config, tmp_path / "home") as topology:
        backfill = _launch(topology)
        _verify(topology, backfill, config, rows, monkeypatch)


def test_backfill_survives_a_daemon_sigkill(
    setup: tuple[Path, dict[str, int]], postgres: PostgresServer, tmp_path: Path, monkeypatch
) -> None:
    config, rows = setup
    raw = json.loads(config.read_text())
    raw["catch_up"]["max_hours_per_run"] = 12  # 4 runs: the kill lands between them
    config.write_text(json.dumps(raw))
    with production(postgres, config, tmp_path / "home") as topology:
        backfill = _launch(topology)
        deadline = time.monotonic() + 300
        while sum(r["status"] == "SUCCESS" for r in _runs(topology, backfill)) < 1:
            assert time.monotonic() < deadline, "no run finished before the kill"
            time.sleep(0.5)
        topology.kill_daemon()
        done = sum(r["status"] == "SUCCESS" for r in _runs(topology, backfill))
        assert done < 4, "killed in the middle of the backfill, not after it"
        time.sleep(3)
        topology.start_daemon()
        _verify(topology, backfill, config, rows, monkeypatch)
