"""A local folder as the bucket: the embedded default, no cloud account needed."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, ClassVar
from urllib.parse import quote

from pydantic import Field

from prism_dagster.destinations.base import Destination, ObjectKind, ObjectSink
from prism_dagster.errors import DestinationError, FailureCause

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

    def translate(self, exc: Exception, action: str) -> DestinationError:
        if isinstance(exc, PermissionError):
            fix = "Let the Dagster user write, read and delete in the folder."
            return self.error(action, FailureCause.ACCESS_DENIED, str(exc), fix)
        if isinstance(exc, FileNotFoundError):
            return self.error(action, FailureCause.UNKNOWN, "no such object", "")
        return super().translate(exc, action)

    @contextmanager
    def open_object(self, key: str, kind: ObjectKind) -> Iterator[ObjectSink]:
        target = self._target(key)
        temp = target.with_name(f".{target.name}{_TEMP_MARK}{uuid.uuid4().hex}")

        def create() -> BinaryIO:
            target.parent.mkdir(parents=True, exist_ok=True)
            return temp.open("wb")

        handle = self.run(f"writing {self.uri(key)}", create)
        try:
            with handle:
                yield _FileSink(handle)
                handle.flush()
                os.fsync(handle.fileno())
            # rename is atomic on one filesystem: readers see the old object or the new one.
            self.run(f"writing {self.uri(key)}", lambda: os.replace(temp, target))
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def _put_if_absent(self, key: str, data: bytes) -> None:
        target = self._target(key)
        temp = target.with_name(f".{target.name}{_TEMP_MARK}{uuid.uuid4().hex}")
        target.parent.mkdir(parents=True, exist_ok=True)
        temp.write_bytes(data)
        try:
            os.link(temp, target)  # fails if the target exists; it appears whole: atomic
        finally:
            temp.unlink(missing_ok=True)

    def _already_exists(self, exc: Exception) -> bool:
        return isinstance(exc, FileExistsError)

    def remove_incomplete(self, prefix: str, begun_before: datetime) -> list[str]:
        base = self._target(prefix.rstrip("/"))
        cutoff = begun_before.timestamp()

        def sweep() -> list[str]:
            if not base.is_dir():
                return []
            removed = []
            for temp in base.rglob(f".*{_TEMP_MARK}*"):
                if temp.is_file() and temp.stat().st_mtime < cutoff:
                    temp.unlink(missing_ok=True)
                    removed.append(temp.relative_to(self.root).as_posix())
            return sorted(removed)

        return self.run(f"cleaning {self.uri(prefix)}", sweep)

    def get_object(self, key: str) -> bytes:
        return self.run(f"reading {self.uri(key)}", self._target(key).read_bytes)

    def list_keys(self, prefix: str) -> list[str]:
        base = self._target(prefix.rsplit("/", 1)[0]) if "/" in prefix else self.root

        def listing() -> list[str]:
            if not base.is_dir():
                return []
            files = (f for f in base.rglob("*") if f.is_file() and not f.name.startswith("."))
            keys = (f.relative_to(self.root).as_posix() for f in files)
            return sorted(k for k in keys if k.startswith(prefix))

        return self.run(f"listing {self.uri(prefix)}", listing)

    def delete_object(self, key: str) -> None:
        self.run(f"deleting {self.uri(key)}", lambda: self._target(key).unlink(missing_ok=True))

    def target(self) -> str:
        return f"folder {str(self.root)!r}"

    def uri(self, key: str) -> str:
        # "=" is legal in a URI path; keep hour=HH readable rather than hour%3DHH.
        return "file://" + quote(str(self.root / key), safe="/=")
