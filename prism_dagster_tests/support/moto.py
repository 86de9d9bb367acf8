"""moto's server (S3 and IAM) on 127.0.0.1, for boto3 and the plugin's S3 destination."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prism_dagster_tests.support.process import HOST, Server, require_executable


@dataclass(frozen=True)
class MotoServer:
    """A moto server: point boto3 at ``endpoint_url`` (any credentials, any region)."""

    endpoint_url: str
    log_path: Path


@contextmanager
def moto_server(initial_no_auth_action_count: int | None = None) -> Iterator[MotoServer]:
    """Run ``moto_server``; with a count, moto checks credentials after that many requests."""
    binary = require_executable("moto_server", "pip install 'moto[server]'")
    env = {}
    if initial_no_auth_action_count is not None:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(initial_no_auth_action_count)
    with Server("moto", lambda port, _: [binary, "-H", HOST, "-p", str(port)], env=env) as server:
        yield MotoServer(endpoint_url=server.url, log_path=server.log_path)
