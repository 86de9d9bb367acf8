"""Against a real `dagster dev`: a backfill from the partitions page shows each hour its own
figures, and runs executed inside the Dagster CLI's own process still keep status true."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

from prism_dagster.archive.schema import RECORD_COLUMNS
from prism_dagster.lifecycle.status import IntegrationState, Status, StatusStore
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.dagster_dev import COLUMN_SCHEMA, HOUR_LINEAGE, dagster_dev
from prism_dagster_tests.support.process import REPO_ROOT
from prism_dagster_tests.support.rows import hour

PROD = ["prism", "archive", "prod"]
HOURS = ["2026-03-31-20:00", "2026-03-31-21:00", "2026-03-31-22:00"]


def _config(path: Path, spool: Path, archive: Path, blocker: Path, store: Path) -> Path:
    raw = {
        "source": {"kind": "spool", "path": str(spool)},
        "integrations": [
            {"name": "prod", "provider": "local", "path": str(archive), "start": "2026-03-31T00"},
            {"name": "broken", "provider": "local", "path": str(blocker), "start": "2026-03-31T00"},
        ],
        "status_store": {"url": f"sqlite:///{store}"},
    }
    path.write_text(json.dumps(raw))
    return path


def _cli(home: Path, config: Path, *args: str, tool: str = "dagster") -> CompletedProcess[str]:
    """A command on the dev instance: Dagster's CLI (executing its run in its own process,
    on our code location), or ours."""
    env = {**os.environ, "DAGSTER_HOME": str(home), "PRISM_CONFIG": str(config)}
    found = shutil.which(tool)
    assert found is not None, f"run the suite with `make test` ({tool} on PATH)"
    command = [found, *args, *(["-m", "prism_dagster.definitions"] if tool == "dagster" else [])]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)


def _wait_for(store: StatusStore, name: str, ok: Any, timeout: float = 150) -> IntegrationState:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = store.get(name)
        if state is not None and ok(state):
            return state
        time.sleep(1)
    raise AssertionError(f"{name} never reached the expected status: {store.get(name)}")


def _manifest_rows(archive: Path, key: str) -> int:
    path = archive / "logs" / "2026/03/31" / f"hour={key[11:13]}" / "_manifest.json"
    return json.loads(path.read_text())["total_rows"]


def test_backfill_shows_each_hour_and_cli_runs_keep_status(spool: Path, tmp_path: Path) -> None:
    simulate(spool, hour("2026-03-31T20"), hour("2026-03-31T21"), rate=40, seed=3)
    simulate(spool, hour("2026-03-31T22"), hour("2026-03-31T23"), rate=150, seed=4)
    simulate(spool, hour("2026-03-31T23"), hour("2026-04-01T00"), rate=60, seed=5)
    archive, blocker = tmp_path / "archive", tmp_path / "not-a-folder"
    blocker.write_text("a file where the archive folder should be")
    store_path, home = tmp_path / "status.db", tmp_path / "home"
    config = _config(tmp_path / "prism.yaml", spool, archive, blocker, store_path)
    store = StatusStore(f"sqlite:///{store_path}")
    with dagster_dev(config, home) as dev:
        backfill = dev.backfill(PROD, HOURS)
        assert dev.wait_for_backfill(backfill) == "COMPLETED_SUCCESS"
        events = dev.materializations(PROD, HOURS)
        # The analyst's questions, through the webserver and through our CLI.
        columns = dev.graphql(COLUMN_SCHEMA, {"key": {"path": PROD}})["assetNodeOrError"]
        chain_gql = dev.graphql(HOUR_LINEAGE, {"key": {"path": PROD}, "hour": HOURS[2]})
        chain_cli = _cli(
            home, config, *("lineage", "prod", "2026-03-31T22", "--json"), tool="prism-dagster"
        )
        # Runs executed in the CLI's own process: the daemon's run-status sensors see them.
        failed = _cli(
            home,
            config,
            *("asset", "materialize", "--select", "prism/archive/broken"),
            *("--partition", "2026-03-31-20:00"),
        )
        broken = _wait_for(store, "broken", lambda s: s.status is Status.ERROR)
        executed = _cli(
            home,
            config,
            *("job", "execute", "-j", "archive_prod"),
            *("--tags", json.dumps({"dagster/partition": "2026-03-31-23:00"})),
        )
        prod = _wait_for(
            store, "prod", lambda s: s.last_archived_hour == hour("2026-03-31T23"), timeout=90
        )
    by_hour = {e["partition"]: e["metadata"] for e in events}
    assert sorted(by_hour) == HOURS and len(events) == 3  # one materialization per hour
    for key in HOURS:
        assert by_hour[key]["dagster/row_count"] == _manifest_rows(archive, key), key
        assert "rows" not in by_hour[key], key  # dagster/row_count says it, once
    assert by_hour["2026-03-31-21:00"]["dagster/row_count"] == 0
    assert by_hour["2026-03-31-21:00"]["outcome"].startswith("no traffic")
    rows = {key: meta["dagster/row_count"] for key, meta in by_hour.items()}
    assert 0 < rows["2026-03-31-20:00"] < rows["2026-03-31-22:00"]
    assert failed.returncode != 0 and executed.returncode == 0, executed.stderr[-2000:]
    assert str(blocker) in (broken.last_error or "")
    assert prod.status is Status.ACTIVE and prod.last_error is None
    # Lineage: the README's GraphQL query and `prism-dagster lineage` tell the same chain.
    [gql] = chain_gql["assetOrError"]["assetMaterializations"]
    chain = json.loads(chain_cli.stdout)
    tags = {t["key"]: t["value"] for t in gql["runOrError"]["tags"]}
    assert [w["run_id"] for w in chain["writes"]] == [gql["runId"]]
    assert tags["dagster/backfill"] == backfill
    assert chain["writes"][0]["launched_by"] == f"backfill {backfill}"
    fingerprint = {e["label"]: e for e in gql["metadataEntries"]}["source_fingerprint"]["text"]
    assert chain["fingerprint_archived"] == fingerprint == chain["fingerprint_now"]
    assert chain["complete"], chain["problems"]
    # Column schema on the definition, column lineage on each hour's materialization.
    [schema] = [e for e in columns["metadataEntries"] if e["label"] == "dagster/column_schema"]
    assert tuple(c["name"] for c in schema["schema"]["columns"]) == RECORD_COLUMNS
    lineage = {
        entry["columnName"]: {d["columnName"] for d in entry["columnDeps"]}
        for entry in by_hour[HOURS[0]]["dagster/column_lineage"]
    }
    assert lineage["timestamp"] == {"started_at", "created_at"}
