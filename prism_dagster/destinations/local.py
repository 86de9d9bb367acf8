"""A local folder as the bucket: the embedded default, no cloud account needed."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, ClassVar
from urllib.parse import quote

from pydantic import Field

from prism_dagster.destinations.base import Destination, ObjectKind, ObjectSink
from prism_dagster.errors import DestinationError

# In-flight objects are hidden files beside their target; readers and listings skip
# names starting with "." (as Athena, Hive and Spark do).
_TEMP_MARK = ".tmp-"


class _FileSink(ObjectSink):
    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def write(self, data: bytes) -> None:
        self._handle.write(data)


class LocalDestination(Destination):
    """Archive into a folder on this machine (``path`` is the bucket's root)."""

    path: str = Field(description="Folder that plays the bucket; created if missing.")
    provider: ClassVar[str] = "local"

    @property
    def root(self) -> Path:
        return Path(self.path).expanduser().resolve()

    def _target(self, key: str) -> Path:
        target = (self.root / key).resolve()
        if not target.is_relative_to(self.root):
            raise DestinationError(f"object key {key!r} escapes the local destination folder")
        return target

    @contextmanager
    def open_object(self, key: str, kind: ObjectKind) -> Iterator[ObjectSink]:
        target = self._target(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}{_TEMP_MARK}{uuid.uuid4().hex}")
        try:
            with temp.open("wb") as handle:
                yield _FileSink(handle)
                handle.flush()
                os.fsync(handle.fileno())
            # rename is atomic on one filesystem: readers see the old object or the new one.
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def get_object(self, key: str) -> bytes:
        try:
            return self._target(key).read_bytes()
        except FileNotFoundError as exc:
            raise DestinationError(f"object {self.uri(key)} does not exist") from exc

    def list_keys(self, prefix: str) -> list[str]:
        base = self._target(prefix.rsplit("/", 1)[0]) if "/" in prefix else self.root
        if not base.is_dir():
            return []
        keys = []
        for file in base.rglob("*"):
            if file.is_file() and not any(p.startswith(".") for p in file.parts[-1:]):
                key = file.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete_object(self, key: str) -> None:
        self._target(key).unlink(missing_ok=True)

    def target(self) -> str:
        return f"folder {str(self.root)!r}"

    def uri(self, key: str) -> str:
        # "=" is legal in a URI path; keep hour=HH readable rather than hour%3DHH.
        return "file://" + quote(str(self.root / key), safe="/=")
