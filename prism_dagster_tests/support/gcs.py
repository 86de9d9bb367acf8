"""The GCS emulator (``gcp-storage-emulator``) on 127.0.0.1 with in-memory storage."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prism_dagster_tests.support.process import HOST, Server, require_executable


@dataclass(frozen=True)
class GcsEmulator:
    """A GCS emulator: use ``client_options={"api_endpoint": endpoint}`` and anonymous creds."""

    endpoint: str
    log_path: Path


@contextmanager
def gcs_emulator() -> Iterator[GcsEmulator]:
    """Run ``gcp-storage-emulator`` with in-memory storage."""
    binary = require_executable("gcp-storage-emulator", "pip install gcp-storage-emulator")

    def command(port: int, _: Path) -> list[str]:
        return [binary, "start", "--host", HOST, "--port", str(port), "--in-memory"]

    with Server("gcs", command) as server:
        yield GcsEmulator(endpoint=server.url, log_path=server.log_path)
