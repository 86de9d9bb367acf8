"""Azurite's Blob service on 127.0.0.1 in memory, with the well-known development account."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prism_dagster_tests.support.process import HOST, Server, require_executable

AZURITE_ACCOUNT_NAME = "devstoreaccount1"
AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass(frozen=True)
class AzuriteServer:
    """An Azurite Blob service with the well-known development account."""

    account_name: str
    account_key: str
    blob_endpoint: str
    log_path: Path

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.blob_endpoint};"
        )


@contextmanager
def azurite_server() -> Iterator[AzuriteServer]:
    """Run ``azurite-blob`` in memory (needs ``npm install`` at the repo root, and node)."""
    binary = require_executable("azurite-blob", "run `npm install` at the repository root")

    def command(port: int, _: Path) -> list[str]:
        return [
            binary,
            "--blobHost",
            HOST,
            "--blobPort",
            str(port),
            # --location may not be combined with --inMemoryPersistence; cwd is the workdir.
            "--inMemoryPersistence",
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
        ]

    with Server("azurite", command) as server:
        yield AzuriteServer(
            account_name=AZURITE_ACCOUNT_NAME,
            account_key=AZURITE_ACCOUNT_KEY,
            blob_endpoint=f"{server.url}/{AZURITE_ACCOUNT_NAME}",
            log_path=server.log_path,
        )
