"""Which hours each spool file covers, remembered so a run reads only the files it needs.

Keyed by path, size and modification time: a file that changes is read again. The index is a
cache: losing it (or a read-only spool) costs time, never rows. Only files read successfully
are recorded, so a file that could not be read is read again by the next run.
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
            entries = json.loads(self.path.read_text())
        except (OSError, ValueError):
            entries = {}
        # A damaged or hand-edited index is just an empty cache.
        self._entries: dict[str, list[str] | None] = entries if isinstance(entries, dict) else {}
        self._changed = False

    def key(self, file: Path) -> str | None:
        """``file``'s identity now (take it before reading); None if it cannot be stat'ed."""
        try:
            stat = file.stat()
        except OSError:
            return None
        return f"{file.relative_to(self.root).as_posix()}|{stat.st_size}|{stat.st_mtime_ns}"

    def skips(self, key: str | None, start: datetime, end: datetime) -> bool:
        """Whether the file of ``key`` is known to hold nothing in ``[start, end)``."""
        if key is None or key not in self._entries:
            return False
        span = self._entries[key]
        if span is None:
            return True
        try:
            first, last = (datetime.fromisoformat(moment) for moment in span)
            return last < start or first >= end
        except (TypeError, ValueError):
            return False

    def record(self, key: str | None, span: Span) -> None:
        """Remember what the file of ``key`` covers (a key taken before the read)."""
        if key is None:
            return
        value = None if span is None else [span[0].isoformat(), span[1].isoformat()]
        self._entries[key] = value
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
