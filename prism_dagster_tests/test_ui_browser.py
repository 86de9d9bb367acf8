"""A real browser on the Dagster UI of a real `dagster dev` (webserver and daemon): the archive
asset's page for one hour shows that hour's own row count, and an integration in Error shows
its Error state. Screenshots are saved under the test's temporary folder."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from prism_dagster.lifecycle.status import Status, StatusStore
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.browser import browser_page, evidence
from prism_dagster_tests.support.dagster_dev import dagster_dev
from prism_dagster_tests.support.rows import hour

PARTITION = "2026-03-31-20:00"
HOUR_PAGE = "/assets/prism/archive/{name}?view=partitions&partition=2026-03-31-20%3A00"


def _config(path: Path, spool: Path, good: Path, broken: Path, store: Path) -> Path:
    """Two local integrations: ``prod`` writes to a folder, ``broken`` to a path that is a file."""
    start = "2026-03-31T00"
    raw = {
        "source": {"kind": "spool", "path": str(spool)},
        "integrations": [
            {"name": "prod", "provider": "local", "path": str(good), "start": start},
            {"name": "broken", "provider": "local", "path": str(broken), "start": start},
        ],
        "status_store": {"url": f"sqlite:///{store}"},
    }
    path.write_text(json.dumps(raw))
    return path


def _wait_for_error(store: StatusStore, name: str, timeout: float = 150) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = store.get(name)
        if state is not None and state.status is Status.ERROR:
            return
        time.sleep(1)
    raise AssertionError(f"{name} never became Error: {store.get(name)}")


def _metadata(page: Page, key: str) -> Locator:
    """The value cell of the metadata table row whose key is ``key``."""
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=key, exact=True))
    return row.get_by_role("cell").nth(1)


def test_asset_page_shows_the_hours_rows_and_the_error(spool: Path, tmp_path: Path) -> None:
    # Traffic in the hours around 20:00, so that hour's own count is not the spool's total.
    simulate(spool, hour("2026-03-31T19"), hour("2026-03-31T22"), rate=400, seed=5)
    archive, blocker = tmp_path / "archive", tmp_path / "not-a-folder"
    blocker.write_text("a file where the archive folder should be")
    store_path, shots = tmp_path / "status.db", tmp_path / "screenshots"
    config = _config(tmp_path / "prism.yaml", spool, archive, blocker, store_path)
    with dagster_dev(config, tmp_path / "home") as dev:
        dev.graphql("mutation { setNuxSeen }")  # else a community pop-up covers the page
        good = dev.materialize(["prism", "archive", "prod"], PARTITION)
        bad = dev.materialize(["prism", "archive", "broken"], PARTITION)
        assert dev.wait_for_run(good) == "SUCCESS"
        assert dev.wait_for_run(bad) == "FAILURE"
        _wait_for_error(StatusStore(f"sqlite:///{store_path}"), "broken")
        manifest = archive / "logs/2026/03/31/hour=20/_manifest.json"
        rows = str(json.loads(manifest.read_text())["total_rows"])
        assert rows != "0", "the hour should have archived rows"

        with browser_page() as page:
            with evidence(page, shots, "prod-hour-20"):
                page.goto(dev.url + HOUR_PAGE.format(name="prod"))
                expect(_metadata(page, "hour")).to_have_text("2026-03-31T20:00Z")
                expect(_metadata(page, "dagster/row_count")).to_have_text(rows)

            with evidence(page, shots, "broken-error"):  # on failure, named in the report
                page.goto(dev.url + HOUR_PAGE.format(name="broken"))
                expect(
                    page.get_by_text("failed, and did not materialize this asset")
                ).to_be_visible()
                page.get_by_role("tab", name="Checks").click()
                page.get_by_text("integration_status", exact=True).first.click()
                result = page.get_by_text("Evaluation result", exact=True).locator("xpath=..")
                expect(result).to_contain_text("Failed")
                description = page.get_by_text(re.compile(r"^Error \(not a folder\): "))
                expect(description).to_contain_text(str(blocker))
                expect(_metadata(page, "status")).to_have_text("Error")
