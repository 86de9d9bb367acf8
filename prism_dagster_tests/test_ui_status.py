"""Status where the operator looks, against a real `dagster dev` (webserver and daemon):
runs launched the way the asset page's Materialize launches them, through GraphQL."""

from __future__ import annotations

import json
import time
from pathlib import Path

from prism_dagster.lifecycle.status import Status, StatusStore
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.dagster_dev import dagster_dev
from prism_dagster_tests.support.rows import hour

ARCHIVE = ["prism", "archive", "prod"]


def _config(path: Path, spool: Path, archive: Path, store: Path) -> Path:
    raw = {
        "source": {"kind": "spool", "path": str(spool)},
        "integrations": [
            {"name": "prod", "provider": "local", "path": str(archive), "start": "2026-03-31T00"}
        ],
        "status_store": {"url": f"sqlite:///{store}"},
    }
    path.write_text(json.dumps(raw))
    return path


def _wait_for(store: StatusStore, status: Status, timeout: float = 150):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = store.get("prod")
        if state is not None and state.status is status:
            return state
        time.sleep(1)
    raise AssertionError(f"prod never became {status.value}: {store.get('prod')}")


def test_materialize_from_the_ui_sets_error_then_active(spool: Path, tmp_path: Path) -> None:
    simulate(spool, hour("2026-03-31T20"), hour("2026-03-31T21"), rate=40, seed=3)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the archive folder should be")
    store_path = tmp_path / "status.db"
    config = _config(tmp_path / "prism.yaml", spool, blocker, store_path)
    store = StatusStore(f"sqlite:///{store_path}")
    with dagster_dev(config, tmp_path / "home") as dev:
        run = dev.materialize(ARCHIVE, "2026-03-31-20:00")
        assert dev.wait_for_run(run) == "FAILURE"
        failed = _wait_for(store, Status.ERROR)
    _config(config, spool, tmp_path / "archive", store_path)  # the operator fixes the path
    with dagster_dev(config, tmp_path / "home") as dev:
        run = dev.materialize(ARCHIVE, "2026-03-31-20:00")
        assert dev.wait_for_run(run) == "SUCCESS"
        recovered = _wait_for(store, Status.ACTIVE)
    assert str(blocker) in failed.last_error and failed.error_cause == "not a folder"
    assert recovered.last_archived_hour == hour("2026-03-31T20")
    assert recovered.last_error is None
