"""A local folder as the bucket: the embedded default, no cloud account needed."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, ClassVar
from urllib.parse import quote

from pydantic import Field

from prism_dagster.destinations.base import Destination, ObjectKind, ObjectSink
from prism_dagster.destinations.local_codes import classify
from prism_dagster.errors import DestinationError

# In-flight objects are hidden files beside their target; readers and listings skip
# names starting with "." (as Athena, Hive and Spark do).
_TEMP_MARK = ".tmp-"


class _FileSink(ObjectSink):
    def __init__(self, handle: BinaryIO, failed: Callable[[OSError], DestinationError]) -> None:
        self._handle, self._failed = handle, failed

    def write(self, data: bytes) -> None:
        try:
            self._handle.write(data)
        except OSError as exc:  # e.g. the disk filled up mid-file
            raise self._failed(exc) from None

    def flush(self) -> None:
        """Everything written, on disk: the object is complete before it is published."""
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            raise self._failed(exc) from None


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file where the folder must be: not a key that exists
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder)) from None


def _no_file_in_the_way(folder: Path) -> None:
    """Raise NotADirectoryError if a file stands where ``folder`` or one of its parents must
    be: then nothing below it can be read, which is not the same as "no such object"."""
    for path in (folder, *folder.parents):
        if path.exists():
            if not path.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
            return


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
        named = classify(exc, self.root) if isinstance(exc, OSError) else None
        if named is not None:
            return self.error(action, *named)
        return super().translate(exc, action)

    @contextmanager
    def open_object(self, key: str, kind: ObjectKind) -> Iterator[ObjectSink]:
        target = self._target(key)
        temp = target.with_name(f".{target.name}{_TEMP_MARK}{uuid.uuid4().hex}")

        def create() -> BinaryIO:
            _make_folder(target.parent)
            return temp.open("wb")

        action = f"writing {self.uri(key)}"
        handle = self.run(action, create)
        try:
            with handle:
                sink = _FileSink(handle, lambda exc: self.translate(exc, action))
                yield sink
                sink.flush()
            # rename is atomic on one filesystem: readers see the old object or the new one.
            self.run(action, lambda: os.replace(temp, target))
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def _put_if_absent(self, key: str, data: bytes) -> None:
        target = self._target(key)
        temp = target.with_name(f".{target.name}{_TEMP_MARK}{uuid.uuid4().hex}")
        _make_folder(target.parent)
        try:
            temp.write_bytes(data)  # a full disk may leave part of it: removed below
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
                _no_file_in_the_way(base)
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
