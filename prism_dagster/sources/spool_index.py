"""Which hours each spool file covers, remembered so a run reads only the files it needs.

Keyed by path, size and modification time: a file that changes is read again. The index is a
cache: losing it (or a read-only spool) costs time, never rows.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

INDEX_NAME = ".prism-spool-index.json"  # a dot file: never taken for a log file
Span = tuple[datetime, datetime] | None  # first and last event time; None: no lines


class SpoolIndex:
    """Event-time span of each spool file, as last read."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / INDEX_NAME
        try:
            self._entries: dict[str, list[str] | None] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self._entries = {}
        self._changed = False

    def _key(self, file: Path) -> str:
        stat = file.stat()
        return f"{file.relative_to(self.root).as_posix()}|{stat.st_size}|{stat.st_mtime_ns}"

    def skips(self, file: Path, start: datetime, end: datetime) -> bool:
        """Whether ``file`` is known to hold nothing in ``[start, end)``."""
        key = self._key(file)
        if key not in self._entries:
            return False
        span = self._entries[key]
        if span is None:
            return True
        first, last = (datetime.fromisoformat(moment) for moment in span)
        return last < start or first >= end

    def record(self, file: Path, span: Span) -> None:
        """Remember what ``file`` covers."""
        value = None if span is None else [span[0].isoformat(), span[1].isoformat()]
        self._entries[self._key(file)] = value
        self._changed = True

    def save(self) -> None:
        """Write the index atomically (best effort: a read-only spool just is not indexed)."""
        if not self._changed:
            return
        temp = self.path.with_name(f"{INDEX_NAME}.{os.getpid()}.tmp")
        try:
            temp.write_text(json.dumps(self._entries, sort_keys=True))
            os.replace(temp, self.path)
        except OSError:
            temp.unlink(missing_ok=True)
