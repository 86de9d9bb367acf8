"""The production profile (``deploy/``) as Dagster's Helm chart runs it, on one host: the
code server (``dagster api grpc``), ``dagster-daemon`` and ``dagster-webserver`` as separate
processes on one PostgreSQL, after ``dagster instance migrate``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml

from prism_dagster.lifecycle import instance_db
from prism_dagster_tests.support.dagster_dev import DagsterDev
from prism_dagster_tests.support.gateway_db import new_database
from prism_dagster_tests.support.postgres import PostgresServer
from prism_dagster_tests.support.process import HOST, REPO_ROOT, Server, require_executable

DEPLOY = REPO_ROOT / "deploy"
CODE_LOCATION = "prism_dagster"
POOLS = """
query Pools($key: AssetKeyInput!, $pool: String!) {
  assetNodeOrError(assetKey: $key) { ... on AssetNode { pools } }
  instance { info concurrencyLimit(concurrencyKey: $pool) { slotCount } }
}
"""
BACKFILL_RUNS = """
query Runs($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status stepStats { stepKey startTime endTime } } }
  }
}
"""

_PYTHON_ERROR = "message stack cause { message stack cause { message stack } }"
RUN_ERRORS = """
query Errors($id: ID!) {
  logsForRun(runId: $id) {
    ... on EventConnection {
      events { __typename ... on MessageEvent { message }
               ... on ErrorEvent { error { ERROR } }
               ... on EngineEvent { error { ERROR } } }
    }
  }
}
""".replace("ERROR", _PYTHON_ERROR)
BACKFILL_DETAIL = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      error { ERROR }
      assetBackfillData {
        assetBackfillStatuses {
          ... on AssetPartitionsStatusCounts {
            assetKey { path } numPartitionsTargeted numPartitionsInProgress
            numPartitionsMaterialized numPartitionsFailed
          }
        }
      }
    }
    ... on PythonError { ERROR }
  }
}
""".replace("ERROR", _PYTHON_ERROR)
#: Event types whose messages explain a run that did not succeed.
_ERROR_EVENTS = ("RunFailureEvent", "EngineEvent", "ExecutionStepFailureEvent", "RunCanceledEvent")
#: Daemon log lines worth quoting whole, wherever they are in the log.
_DAEMON_MARKERS = ("error", "exception", "traceback", "failed", "no materialization status")


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _bin(name: str) -> str:
    return require_executable(name, "pip install -e '.[dev]'")


class Production:
    """The running topology: GraphQL through ``dev``; the daemon can be killed and restarted."""

    def __init__(
        self,
        home: Path,
        env: dict[str, str],
        workspace: Path,
        dev: DagsterDev,
        code_server: Server | None = None,
    ) -> None:
        self.home, self.env, self.workspace, self.dev = home, env, workspace, dev
        #: ``dagster api grpc``: run workers are its children and write to its log.
        self.code_server = code_server
        self.daemon: subprocess.Popen[bytes] | None = None
        self.daemon_starts = 0

    def start_daemon(self) -> None:
        """``dagster-daemon run`` on the workspace (its output in ``daemon-N.log``), with the
        environment deploy/helm/values.yaml gives the daemon."""
        self.daemon_starts += 1
        log = (self.home / f"daemon-{self.daemon_starts}.log").open("wb")
        self.daemon = subprocess.Popen(
            [_bin("dagster-daemon"), "run", "-w", str(self.workspace)],
            cwd=self.home,
            env={**self.env, **daemon_env()},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def kill_daemon(self) -> None:
        """SIGKILL the daemon and its children: no clean shutdown of anything it was doing."""
        assert self.daemon is not None
        os.killpg(self.daemon.pid, signal.SIGKILL)
        self.daemon.wait(10)
        self.daemon = None

    def failures(self, runs: list[dict[str, Any]], backfill: str | None = None) -> str:
        """Why a backfill did not succeed, for an assertion message: the backfill's status and
        error, each run that did not succeed with its error events (message, error, cause), the
        daemon logs and the run workers' output (the code server's log)."""
        out = []
        if backfill is not None:
            found = self.dev.graphql(BACKFILL_DETAIL, {"id": backfill})
            out.append(f"backfill {backfill}: {json.dumps(found['partitionBackfillOrError'])}")
        out.append(f"runs: {json.dumps([(r['runId'], r['status']) for r in runs])}")
        for run in (r for r in runs if r["status"] != "SUCCESS"):
            found = self.dev.graphql(RUN_ERRORS, {"id": run["runId"]})["logsForRun"]
            events = found.get("events") or []
            errors = [e for e in events if e.get("error") or e["__typename"] in _ERROR_EVENTS]
            out.append(f"run {run['runId']} {run['status']}: {json.dumps(errors)[-6000:]}")
        for log in sorted(self.home.glob("daemon-*.log")):
            text = log.read_text(errors="replace")
            lines = text.splitlines()
            marked = [line for line in lines if any(m in line.lower() for m in _DAEMON_MARKERS)]
            out.append(f"--- {log.name}: lines with errors/failures (last 40)")
            out.append("\n".join(marked[-40:]))
            out.append(f"--- {log.name}: last 60 lines")
            out.append(_tail(text, 60))
        if self.code_server is not None:
            out.append("--- code server and run workers: last 60 lines")
            out.append(_tail(self.code_server.output(), 60))
        return "\n".join(out)

    def stop_daemon(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            os.killpg(self.daemon.pid, signal.SIGTERM)
            try:
                self.daemon.wait(30)
            except subprocess.TimeoutExpired:
                self.kill_daemon()
        self.daemon = None


def daemon_env() -> dict[str, str]:
    """``dagsterDaemon.env`` of deploy/helm/values.yaml: what the shipped daemon runs with."""
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    return {e["name"]: str(e["value"]) for e in values["dagsterDaemon"].get("env", [])}


def profile_env(
    postgres: PostgresServer, database: str, config: Path, home: Path
) -> dict[str, str]:
    """The environment every process of the profile gets: secrets only from here."""
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "PRISM_CONFIG": str(config),
        instance_db.HOST_ENV: postgres.host,
        instance_db.PORT_ENV: str(postgres.port),
        instance_db.USER_ENV: postgres.user,
        instance_db.PASSWORD_ENV: postgres.password,
        instance_db.DB_ENV: database,
    }


def _workspace(path: Path, port: int) -> Path:
    # deploy/workspace.yaml as shipped, pointed at this test's code-server port.
    raw = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    [entry] = raw["load_from"]
    entry["grpc_server"].update(host=HOST, port=port)
    path.write_text(yaml.safe_dump(raw))
    return path


def _run(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=env["DAGSTER_HOME"])
    assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"


@contextmanager
def production(postgres: PostgresServer, config: Path, home: Path) -> Iterator[Production]:
    """The profile on a fresh database: migrate, pools, code server, webserver, daemon."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    env = profile_env(postgres, new_database(postgres.dsn()), config, home)
    _run([_bin("dagster"), "instance", "migrate"], env)
    _run([_bin("prism-dagster"), "pools", "--apply", "--config", str(config)], env)
    grpc = Server(
        "grpc",
        lambda port, _: [
            *(_bin("dagster"), "api", "grpc", "-m", "prism_dagster.definitions"),
            *("-h", HOST, "-p", str(port)),
        ],
        env=env,
        startup_timeout=120,
        attempts=1,
    )
    with ExitStack() as stack:
        stack.enter_context(grpc)
        workspace = _workspace(home / "workspace.yaml", grpc.port)
        web = Server(
            "webserver",
            lambda port, _: (
                [_bin("dagster-webserver"), "-w", str(workspace), "-h", HOST, "-p", str(port)]
            ),
            env=env,
            startup_timeout=120,
            attempts=1,
        )
        stack.enter_context(web)
        dev = DagsterDev(web.url, home, web.process)  # type: ignore[arg-type]
        _wait_for_location(dev)
        topology = Production(home, env, workspace, dev, grpc)
        topology.start_daemon()
        stack.callback(topology.stop_daemon)
        yield topology


def _wait_for_location(dev: DagsterDev, timeout: float = 120) -> None:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            entries = dev.graphql(query)["workspaceOrError"]["locationEntries"]
            if [(e["name"], e["loadStatus"]) for e in entries] == [(CODE_LOCATION, "LOADED")]:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError("the webserver never loaded the code location from the code server")
