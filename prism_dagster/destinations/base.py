"""The interface every destination (local folder, S3, Azure Blob, GCS) implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager

import dagster as dg

BATCH_CONTENT_TYPE = "application/x-ndjson"
MANIFEST_CONTENT_TYPE = "application/json"


class ObjectSink(ABC):
    """An object being written: bytes go in with ``write``; it appears whole or not at all."""

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Append ``data`` to the object."""


class Destination(dg.ConfigurableResource, ABC):
    """An object store the archive is written to. Keys are ``/``-separated, no leading ``/``."""

    @abstractmethod
    def open_object(self, key: str, content_type: str) -> AbstractContextManager[ObjectSink]:
        """Stream an object: committed when the block exits cleanly, discarded on error."""

    def put_object(self, key: str, data: bytes, content_type: str) -> None:
        """Write a small object in one go."""
        with self.open_object(key, content_type) as sink:
            sink.write(data)

    @abstractmethod
    def get_object(self, key: str) -> bytes:
        """The stored bytes of ``key``, exactly as written (never decompressed)."""

    @abstractmethod
    def list_keys(self, prefix: str) -> list[str]:
        """Every committed key starting with ``prefix``, sorted."""

    @abstractmethod
    def delete_object(self, key: str) -> None:
        """Remove ``key``; removing a key that does not exist is not an error."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """A URI an operator can paste into a console, e.g. ``s3://bucket/key``."""

    def exists(self, key: str) -> bool:
        """Whether ``key`` is committed."""
        return key in self.list_keys(key)
