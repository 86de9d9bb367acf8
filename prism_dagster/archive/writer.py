"""Write one hour of records to a destination: batches, rejects, manifest, then cleanup.

Under the hour's writer lease (one writer per hour, see ``lease``): new objects are written
under content-derived keys, so the previous manifest stays true while they are written; the
new manifest replaces it in one atomic put; only then are the objects it no longer lists
removed. A crash anywhere leaves the previous complete hour readable through its manifest
(plus unlisted leftovers the next run removes), never a manifest that lies, and never an
hour whose archive a rerun can mistake for missing.
"""

from __future__ import annotations

import hashlib
import sys
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from prism_dagster.archive import layout
from prism_dagster.archive.encoding import Digest, encode_slices, slice_bounds
from prism_dagster.archive.lease import HolderFinished, HourLease
from prism_dagster.archive.manifest import FileEntry, Manifest, fields_record, hour_label
from prism_dagster.archive.records import HourRecords, InMemory
from prism_dagster.archive.settings import WriteSettings
from prism_dagster.destinations.base import Destination, ObjectKind, best_effort


@dataclass(frozen=True)
class Writer:
    """Who writes: a run id (unique per writer) and how to tell whether a run has finished."""

    run_id: str = field(default_factory=lambda: f"writer-{uuid.uuid4().hex}")
    run_finished: HolderFinished | None = None


def _records(rows: pl.DataFrame | HourRecords) -> HourRecords:
    return InMemory(rows) if isinstance(rows, pl.DataFrame) else rows


def content_tag(rows: pl.DataFrame | HourRecords, settings: WriteSettings) -> str:
    """A digest of the rows in order and of every setting that shapes the bytes.

    Same rows, same settings: same tag, so a rerun writes the same keys. Polars' row hash
    is stable within one Polars version, which the project pins. The fields policy counts
    as a setting (its lists and a digest keyed with its salt): another policy, other keys.
    """
    records = _records(rows)
    digest = hashlib.sha256(
        f"{records.height}|{settings.gzip_level}|{settings.max_rows_per_file}|"
        f"{settings.max_bytes_per_file}|{settings.slice_rows}".encode()
        + settings.fields.policy().tag()
    )
    if records.height:
        for hashes in records.row_hashes():
            digest.update(hashes)
    return digest.hexdigest()


@dataclass(frozen=True)
class HourResult:
    """What one hour's archive holds after a write (or kept, when ``kept``)."""

    hour: datetime
    manifest: Manifest
    uris: list[str]
    removed: list[str]
    kept: bool = False  # an earlier complete archive was left in place
    cleaned: list[str] = field(default_factory=list)  # a crashed writer's unfinished uploads


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
    rows: pl.DataFrame | HourRecords,
    key_for_index: Callable[[int], str],
    settings: WriteSettings,
    prepare: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
) -> list[tuple[str, FileEntry]]:
    """Stream the rows into gzip JSONL objects; returns (key, entry) per object.

    A new object starts at every ``max_rows_per_file`` boundary, and before a slice
    that would take the current one past ``max_bytes_per_file``. ``prepare`` turns each
    slice into what is written (the fields policy), a slice at a time.
    """
    max_rows = settings.max_rows_per_file
    records = _records(rows)
    bounds = slice_bounds(records.height, max_rows, settings.slice_rows)
    slices = records.slices(bounds)
    if prepare is not None:
        slices = map(prepare, slices)
    members = encode_slices(slices, settings.gzip_level, settings.threads)
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
    records: pl.DataFrame | HourRecords,
    rejects: pl.DataFrame,
    settings: WriteSettings,
    source_fingerprint: str | None = None,
    writer: Writer | None = None,
) -> HourResult:
    """Replace one hour's archive with ``records`` and ``rejects``; readers never see a mix."""
    hour = layout.as_utc_hour(hour)
    writer = writer or Writer()
    lease = HourLease(
        dest,
        layout.lease_key(prefix, hour),
        writer.run_id,
        settings.lease_ttl_s,
        writer.run_finished,
    )
    taken = lease.acquire(settings.lease_wait_s, f"hour {hour_label(hour)} of {integration!r}")
    try:
        # Listed under the lease: nobody else adds or removes objects in the hour meanwhile.
        cleaned = dest.remove_incomplete(layout.hour_folder(prefix, hour), taken.acquired)
        # Only the hour's own objects: a folder below it may be another integration's prefix.
        existing = layout.in_hour(prefix, hour, dest.list_keys(layout.hour_folder(prefix, hour)))
        manifest_key = layout.manifest_key(prefix, hour)
        if not records.height and not rejects.height and manifest_key in existing:
            # The source returned nothing for an hour that was archived whole: far more likely a
            # pruned or misread source than deleted traffic. Keep the archive; never lose rows.
            # The manifest is never deleted before its successor lands, so a crash cannot
            # turn this hour into one that looks unarchived.
            kept = Manifest.from_bytes(dest.get_object(manifest_key), dest.uri(manifest_key))
            uris = [dest.uri(layout.file_key(prefix, hour, f.name)) for f in kept.files]
            return HourResult(hour, kept, uris, [], kept=True, cleaned=cleaned)
        policy = settings.fields.policy()
        tag = content_tag(records, settings)
        batches = write_frame(
            dest,
            records,
            lambda i: layout.batch_key(prefix, integration, hour, i, tag),
            settings,
            policy.apply,
        )
        reject_entry, rejects_key = None, None
        # A rejected line may hold excluded or hashed fields verbatim: written as redacted.
        rejects = policy.apply_rejects(rejects)
        if rejects.height:
            rejects_key = layout.rejects_key(prefix, hour, content_tag(rejects, settings))
            [(_, reject_entry)] = write_frame(
                dest,
                rejects,
                lambda _: rejects_key,
                settings.model_copy(update={"max_rows_per_file": sys.maxsize}),
            )
        listed = {key for key, _ in batches} | ({rejects_key} if rejects_key else set())
        stale = [
            key
            for key in existing
            if key not in listed
            and (
                layout.is_batch_key(key)
                or layout.is_rejects_key(key)
                or layout.is_lease_claim_key(key)
            )
        ]
        lease.check()  # still ours: a writer that stalled past its lease publishes nothing
        # An hour without traffic gets a manifest too (0 rows, no files): it proves the hour
        # was archived and empty, which a missing folder cannot tell apart from never archived.
        manifest = Manifest(
            integration=integration,
            hour=hour_label(hour),
            total_rows=records.height,
            files=[entry for _, entry in batches],
            rejected_rows=rejects.height,
            source_lines=records.height + rejects.height,
            rejects=reject_entry,
            gzip_level=settings.gzip_level,
            source_fingerprint=source_fingerprint,
            **fields_record(policy),
        )
        dest.put_object(manifest_key, manifest.to_bytes(), ObjectKind.JSON)
        for key in stale:
            dest.delete_object(key)
        uris = [dest.uri(key) for key, _ in batches]
        return HourResult(hour, manifest, uris, stale, cleaned=cleaned)
    except BaseException:
        # The store may be what failed: letting go is then tried briefly, not for a whole
        # budget; a lease left behind is taken over once this run is seen gone, or lapses.
        best_effort(lease.release)
        raise
    finally:
        lease.release()  # after a failure, already let go: a no-op
