"""Write one hour of records to a destination: batches, rejects, cleanup, manifest last.

Order matters for readers: the old manifest goes first (the hour is being rewritten),
then every object, then stale batches are removed, and the new manifest comes last. A
crash anywhere before the end leaves an hour without a manifest, which readers treat as
incomplete, never a half-truth that looks whole.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from prism_dagster import layout
from prism_dagster.destinations.base import Destination, ObjectKind
from prism_dagster.encoding import DEFAULT_SLICE_ROWS, Digest, encode_slices, slice_bounds
from prism_dagster.manifest import FileEntry, Manifest, hour_label


@dataclass(frozen=True)
class WriteSettings:
    """How batch files are cut and compressed."""

    gzip_level: int = 6
    max_rows_per_file: int = 1_000_000
    max_bytes_per_file: int | None = None
    slice_rows: int = DEFAULT_SLICE_ROWS
    threads: int = 2


@dataclass(frozen=True)
class HourResult:
    """What was written for one hour (``manifest`` is None when the hour wrote nothing)."""

    hour: datetime
    manifest: Manifest | None
    uris: list[str]
    removed: list[str]
    kept: bool = False  # an earlier complete archive was left in place


class _OpenObject:
    """One object being streamed, committed by ``close`` or discarded by ``abort``."""

    def __init__(self, dest: Destination, key: str, kind: ObjectKind) -> None:
        self.key = key
        self.digest = Digest()
        self.rows = 0
        self.uncompressed = 0
        self._stack = ExitStack()
        self._sink = self._stack.enter_context(dest.open_object(key, kind))

    def write(self, data: bytes, rows: int, uncompressed: int) -> None:
        self._sink.write(data)
        self.digest.update(data)
        self.rows += rows
        self.uncompressed += uncompressed

    def close(self) -> FileEntry:
        self._stack.close()
        name = self.key.rsplit("/", 1)[-1]
        return FileEntry(
            name, self.rows, self.digest.bytes, self.uncompressed, self.digest.hexdigest
        )

    def abort(self) -> None:
        self._stack.__exit__(*sys.exc_info())


def write_frame(
    dest: Destination,
    frame: pl.DataFrame,
    key_for_index: Callable[[int], str],
    settings: WriteSettings,
) -> list[tuple[str, FileEntry]]:
    """Stream ``frame`` into gzip JSONL objects; returns (key, entry) per object.

    A new object starts at every ``max_rows_per_file`` boundary, and before a slice
    that would take the current one past ``max_bytes_per_file``.
    """
    max_rows = settings.max_rows_per_file
    bounds = slice_bounds(frame.height, max_rows, settings.slice_rows)
    members = encode_slices(frame, bounds, settings.gzip_level, settings.threads)
    written: list[tuple[str, FileEntry]] = []
    current: _OpenObject | None = None
    try:
        for (offset, _), member in zip(bounds, members, strict=True):
            too_big = (
                settings.max_bytes_per_file is not None
                and current is not None
                and current.digest.bytes + len(member.data) > settings.max_bytes_per_file
            )
            if current is None or offset % max_rows == 0 or too_big:
                if current is not None:
                    written.append((current.key, current.close()))
                current = _OpenObject(dest, key_for_index(len(written)), ObjectKind.GZIP_JSONL)
            current.write(member.data, member.rows, member.uncompressed_bytes)
        if current is not None:
            written.append((current.key, current.close()))
            current = None
    finally:
        if current is not None:
            current.abort()
    return written


def write_hour(
    dest: Destination,
    *,
    integration: str,
    prefix: str,
    hour: datetime,
    records: pl.DataFrame,
    rejects: pl.DataFrame,
    settings: WriteSettings,
    source_fingerprint: str | None = None,
) -> HourResult:
    """Replace one hour's archive with ``records`` and ``rejects``; readers never see a mix."""
    hour = layout.as_utc_hour(hour)
    folder = layout.hour_dir(prefix, hour) + "/"
    manifest_key = layout.manifest_key(prefix, hour)
    rejects_key = layout.rejects_key(prefix, hour)
    existing = dest.list_keys(folder)
    if not records.height and not rejects.height and manifest_key in existing:
        # The source returned nothing for an hour that was archived whole: far more likely a
        # pruned or misread source than deleted traffic. Keep the archive; never lose rows.
        return HourResult(hour, None, [], [], kept=True)
    if manifest_key in existing:
        dest.delete_object(manifest_key)

    batches = write_frame(
        dest, records, lambda i: layout.batch_key(prefix, integration, hour, i), settings
    )
    reject_entry = None
    if rejects.height:
        [(_, reject_entry)] = write_frame(
            dest, rejects, lambda _: rejects_key, WriteSettings(settings.gzip_level, sys.maxsize)
        )
    kept = {key for key, _ in batches} | ({rejects_key} if reject_entry else set())
    removed = [
        key
        for key in existing
        if key not in kept and (layout.is_batch_key(key) or key == rejects_key)
    ]
    for key in removed:
        dest.delete_object(key)

    if not batches and reject_entry is None:
        return HourResult(hour, None, [], removed)
    manifest = Manifest(
        integration=integration,
        hour=hour_label(hour),
        total_rows=records.height,
        files=[entry for _, entry in batches],
        rejected_rows=rejects.height,
        rejects=reject_entry,
        gzip_level=settings.gzip_level,
        source_fingerprint=source_fingerprint,
    )
    dest.put_object(manifest_key, manifest.to_bytes(), ObjectKind.JSON)
    uris = [dest.uri(key) for key, _ in batches]
    return HourResult(hour, manifest, uris, removed)
