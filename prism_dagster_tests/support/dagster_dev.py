"""A real ``dagster dev`` (webserver + daemon) on 127.0.0.1, and the GraphQL calls the UI makes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prism_dagster.names import ARCHIVE_COMPLETE_CHECK, DESTINATION_CHECK, STATUS_CHECK
from prism_dagster_tests.support.process import HOST, REPO_ROOT, free_port

# Every check of an archive asset: what the UI's Materialize selects with it.
ASSET_CHECKS = (DESTINATION_CHECK, STATUS_CHECK, ARCHIVE_COMPLETE_CHECK)

LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
RUN_STATUS = "query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
LAUNCH_BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""
BACKFILL_STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } }
}
"""
# What the asset's partition page reads: each partition's materializations and their metadata.
MATERIALIZATIONS = """
query Materializations($key: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(partitions: $partitions) {
        partition
        runId
        metadataEntries {
          label
          ... on IntMetadataEntry { intValue }
          ... on TextMetadataEntry { text }
          ... on UrlMetadataEntry { url }
          ... on PathMetadataEntry { path }
          ... on FloatMetadataEntry { floatValue }
          ... on TableColumnLineageMetadataEntry {
            lineage { columnName columnDeps { assetKey { path } columnName } }
          }
        }
      }
    }
  }
}
"""
# The README's lineage query: every materialization of one hour, its run and how it launched.
HOUR_LINEAGE = """
query HourLineage($key: AssetKeyInput!, $hour: String!) {
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(partitions: [$hour]) {
        runId
        timestamp
        runOrError { ... on Run { tags { key value } } }
        metadataEntries {
          label
          ... on TextMetadataEntry { text }
          ... on IntMetadataEntry { intValue }
          ... on UrlMetadataEntry { url }
          ... on PathMetadataEntry { path }
        }
      }
    }
  }
}
"""
# The asset's definition as the catalog shows it: its column schema.
COLUMN_SCHEMA = """
query Columns($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      metadataEntries {
        label
        ... on TableSchemaMetadataEntry { schema { columns { name type description } } }
      }
    }
  }
}
"""


class DagsterDev:
    """The webserver's GraphQL endpoint, and its process group."""

    def __init__(self, url: str, home: Path, process: subprocess.Popen[str]) -> None:
        self.url, self.home, self.process = url, home, process

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """One GraphQL call, as the UI sends it; the ``data`` of the answer."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            reply = json.load(answer)
        if reply.get("errors"):
            raise AssertionError(f"GraphQL errors: {reply['errors']}")
        return reply["data"]

    def materialize(self, asset: list[str], partition: str) -> str:
        """The asset page's Materialize for one partition; the run id."""
        params = {
            "selector": {
                "repositoryLocationName": "prism_dagster",
                "repositoryName": "__repository__",
                "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": asset}],
                # The UI's Materialize selects the asset's checks too.
                "assetCheckSelection": [
                    {"assetKey": {"path": asset}, "name": name} for name in ASSET_CHECKS
                ],
            },
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
        }
        launched = self.graphql(LAUNCH_RUN, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        return launched["run"]["runId"]

    def backfill(self, asset: list[str], partitions: list[str]) -> str:
        """The partitions page's Launch backfill for ``partitions``; the backfill id."""
        params = {"assetSelection": [{"path": asset}], "partitionNames": partitions}
        launched = self.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        return launched["backfillId"]

    def wait_for_backfill(self, backfill_id: str, timeout: float = 180) -> str:
        """The backfill's final status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.graphql(BACKFILL_STATUS, {"id": backfill_id})
            status = found["partitionBackfillOrError"]["status"]
            if status not in ("REQUESTED", "CANCELING", "FAILING"):
                return status
            time.sleep(1)
        raise AssertionError(f"backfill {backfill_id} did not finish in {timeout}s")

    def materializations(self, asset: list[str], partitions: list[str]) -> list[dict[str, Any]]:
        """Each partition's materializations, newest first, metadata as {label: value}."""
        found = self.graphql(MATERIALIZATIONS, {"key": {"path": asset}, "partitions": partitions})
        events = found["assetOrError"]["assetMaterializations"]
        for event in events:
            event["metadata"] = {
                entry["label"]: next((v for k, v in entry.items() if k != "label"), None)
                for entry in event.pop("metadataEntries")
            }
        return events

    def wait_for_run(self, run_id: str, timeout: float = 120) -> str:
        """The run's final status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.graphql(RUN_STATUS, {"id": run_id})["runOrError"]["status"]
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                return status
            time.sleep(1)
        raise AssertionError(f"run {run_id} did not finish in {timeout}s")


@contextmanager
def dagster_dev(config: Path, home: Path, timeout: float = 90) -> Iterator[DagsterDev]:
    """``dagster dev`` on our workspace with ``PRISM_CONFIG=config``, stopped afterwards."""
    dagster = shutil.which("dagster")
    if dagster is None:
        raise AssertionError("the dagster command is not on PATH; run the suite with `make test`")
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = free_port()
    env = {**os.environ, "PRISM_CONFIG": str(config), "DAGSTER_HOME": str(home)}
    process = subprocess.Popen(
        [dagster, "dev", "-w", str(REPO_ROOT / "workspace.yaml"), "-h", HOST, "-p", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own group: webserver, daemon and code server stop together
    )
    dev = DagsterDev(f"http://{HOST}:{port}", home, process)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                dev.graphql("{ version }")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("dagster dev did not start") from None
                time.sleep(0.5)
        yield dev
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
