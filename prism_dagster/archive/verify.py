"""Reconcile one archived hour: prove it from its manifest, its objects and the source.

Proof, in order: the manifest is there (every archived hour has one, empty hours too); every
object it lists is there with its size, SHA-256 and line count; its row totals add up; no
batch or rejects file lies in the folder unlisted; and the source's fingerprint of the hour
now equals the one the manifest recorded. No Dagster here: the check in ``defs.checks`` and
anything else (a CLI, a test) call ``verify_hour`` and present its ``HourReport``.

Objects are read one at a time and decompressed in chunks to count their lines: an hour is
never held in memory, and only one object's compressed bytes are (``Destination.get_object``
returns whole objects).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from prism_dagster.archive import layout
from prism_dagster.archive.archive import Archive
from prism_dagster.archive.manifest import FileEntry, Manifest, hour_label
from prism_dagster.errors import ManifestError
from prism_dagster.names import hour_text
from prism_dagster.sources.base import fingerprint_change

#: Decompressed bytes read at a time while counting an object's lines.
CHUNK_BYTES = 1 << 20


class Severity(StrEnum):
    """How bad a finding is; an hour is as bad as its worst finding."""

    PASS = "pass"
    #: The archive is intact, but the source has changed since (late rows) or cannot tell.
    WARN = "warn"
    #: The archive does not hold what its manifest says, or the hour is not archived.
    ERROR = "error"


_RANK = {Severity.PASS: 0, Severity.WARN: 1, Severity.ERROR: 2}


@dataclass(frozen=True)
class Finding:
    """One thing wrong with an hour, naming the object it concerns (if one)."""

    severity: Severity
    message: str
    object: str | None = None


@dataclass(frozen=True)
class HourReport:
    """What verifying one hour found."""

    hour: datetime
    manifest_uri: str
    findings: tuple[Finding, ...]
    #: Objects read back and checked (batch files and the rejects file).
    objects_checked: int = 0
    #: Lines counted in the hour's batch files (its archived rows).
    rows: int = 0
    #: Lines counted in the hour's rejects file.
    rejected_rows: int = 0
    manifest_rows: int | None = None
    archived_fingerprint: str | None = None
    current_fingerprint: str | None = None

    @property
    def severity(self) -> Severity:
        return max((f.severity for f in self.findings), key=_RANK.get, default=Severity.PASS)

    @property
    def passed(self) -> bool:
        return self.severity is Severity.PASS

    @property
    def objects_with_problems(self) -> list[str]:
        return sorted({f.object for f in self.findings if f.object})

    def summary(self) -> str:
        """One line for the verdict, then one per finding (errors first)."""
        when = hour_text(self.hour)
        if self.passed:
            return (
                f"hour {when} is complete: {self.objects_checked} object(s) match the manifest "
                f"({self.rows} rows, {self.rejected_rows} rejected), and the source is unchanged"
            )
        ordered = sorted(self.findings, key=lambda f: -_RANK[f.severity])
        lines = [f"hour {when}: {self.severity.value.upper()}"]
        lines += [f"- {f.severity.value.upper()}: {f.message}" for f in ordered]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Scan:
    """One object as stored: size, SHA-256, and its lines once decompressed."""

    size: int
    sha256: str
    lines: int
    uncompressed: int
    unreadable: str | None


def scan_object(data: bytes) -> _Scan:
    """Size and SHA-256 of stored gzip bytes, and their lines counted by streaming inflation.

    Multi-member gzip files (one member per slice) are read whole, as every reader does.
    """
    lines = uncompressed = 0
    last = b"\n"
    unreadable = None
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                lines += chunk.count(b"\n")
                uncompressed += len(chunk)
                last = chunk[-1:]
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile and CRC errors are OSErrors
        unreadable = f"not valid gzip ({type(exc).__name__}: {exc})"
    if last != b"\n":
        lines += 1  # a last line without its newline is still a line
    return _Scan(len(data), hashlib.sha256(data).hexdigest(), lines, uncompressed, unreadable)


def verify_hour(archive: Archive, hour: datetime, current_fingerprint: str | None) -> HourReport:
    """Verify one hour of ``archive``.

    ``current_fingerprint``: the source's fingerprint of the hour now (``LogSource.fingerprints``),
    or None when the source could not be read whole (then late rows cannot be ruled out: WARN).

    An hour with neither manifest nor objects is an ERROR (not archived): every archived hour,
    an empty one too, has a manifest, so nothing else can prove it. Destination failures
    (denied, unreachable) raise: they say nothing about the archive's content.
    """
    hour = layout.as_utc_hour(hour)
    dest, prefix = archive.destination, archive.prefix
    manifest_uri = archive.manifest_uri(hour)
    report = _Report(hour, manifest_uri, current_fingerprint)
    try:
        manifest = archive.manifest(hour)
    except ManifestError as exc:
        report.error(str(exc))
        return report.done()
    # Listed after the manifest was read: a writer adds an hour's objects before its manifest.
    # Only the hour's own objects: a folder below it may be another integration's prefix.
    stored = set(layout.in_hour(prefix, hour, dest.list_keys(layout.hour_folder(prefix, hour))))
    data_keys = sorted(k for k in stored if layout.is_batch_key(k) or layout.is_rejects_key(k))
    if manifest is None:
        if data_keys:
            names = ", ".join(k.rsplit("/", 1)[-1] for k in data_keys[:5])
            report.error(
                f"the manifest {manifest_uri} is missing while {len(data_keys)} object(s) are "
                f"in the hour's folder ({names}): the hour is incomplete"
            )
        else:
            report.error(
                f"not archived: no manifest and no objects at {archive.hour_uri(hour)} "
                "(every archived hour, an empty one too, has a manifest)"
            )
        return report.done()
    report.manifest_rows = manifest.total_rows
    report.archived = manifest.source_fingerprint
    _check_identity(report, archive, manifest)
    entries = manifest.entries
    for entry in entries:
        key = layout.file_key(prefix, hour, entry.name)
        if key not in stored:
            report.error(f"{entry.name} is missing ({archive.file_uri(hour, entry.name)})", entry)
            continue
        lines = _check_object(report, archive, entry, scan_object(dest.get_object(key)))
        if entry is manifest.rejects:
            report.rejected_rows += lines
        else:
            report.rows += lines
    _check_totals(report, manifest)
    listed = {layout.file_key(prefix, hour, e.name) for e in entries}
    for key in data_keys:
        if key not in listed:
            name = key.rsplit("/", 1)[-1]
            report.warn(
                f"{name} is in the hour's folder but not in its manifest: engines reading the "
                "folder (Athena, DuckDB, Spark) would count its rows too",
                name,
            )
    _check_source(report)
    return report.done()


class _Report:
    """An ``HourReport`` being put together."""

    def __init__(self, hour: datetime, manifest_uri: str, current: str | None) -> None:
        self.hour, self.manifest_uri, self.current = hour, manifest_uri, current
        self.findings: list[Finding] = []
        self.checked = self.rows = self.rejected_rows = 0
        self.manifest_rows: int | None = None
        self.archived: str | None = None

    def error(self, message: str, entry: FileEntry | str | None = None) -> None:
        self._add(Severity.ERROR, message, entry)

    def warn(self, message: str, entry: FileEntry | str | None = None) -> None:
        self._add(Severity.WARN, message, entry)

    def _add(self, severity: Severity, message: str, entry: FileEntry | str | None) -> None:
        name = entry.name if isinstance(entry, FileEntry) else entry
        self.findings.append(Finding(severity, message, name))

    def done(self) -> HourReport:
        return HourReport(
            hour=self.hour,
            manifest_uri=self.manifest_uri,
            findings=tuple(self.findings),
            objects_checked=self.checked,
            rows=self.rows,
            rejected_rows=self.rejected_rows,
            manifest_rows=self.manifest_rows,
            archived_fingerprint=self.archived,
            current_fingerprint=self.current,
        )


def _check_identity(report: _Report, archive: Archive, manifest: Manifest) -> None:
    if manifest.hour != hour_label(report.hour):
        report.error(f"the manifest is for hour {manifest.hour}, not {hour_label(report.hour)}")
    if manifest.integration != archive.integration:
        report.error(
            f"the manifest is integration {manifest.integration!r}'s, not {archive.integration!r}'s"
        )


def _check_object(report: _Report, archive: Archive, entry: FileEntry, scan: _Scan) -> int:
    """Compare one object with its manifest entry; the lines it holds."""
    report.checked += 1
    name, uri = entry.name, archive.file_uri(report.hour, entry.name)
    if scan.size != entry.bytes:
        report.error(f"{name} is {scan.size} bytes, the manifest says {entry.bytes} ({uri})", entry)
    if scan.sha256 != entry.sha256:
        report.error(
            f"{name} does not match its manifest SHA-256 (stored {scan.sha256[:16]}…, "
            f"manifest {entry.sha256[:16]}…): corrupt or replaced ({uri})",
            entry,
        )
    if scan.unreadable:
        report.error(f"{name} is {scan.unreadable} ({uri})", entry)
        return scan.lines
    if scan.lines != entry.rows:
        report.error(
            f"{name} holds {scan.lines} lines, the manifest says {entry.rows} rows ({uri})", entry
        )
    if scan.uncompressed != entry.uncompressed_bytes:
        report.error(
            f"{name} inflates to {scan.uncompressed} bytes, the manifest says "
            f"{entry.uncompressed_bytes} ({uri})",
            entry,
        )
    return scan.lines


def _check_totals(report: _Report, manifest: Manifest) -> None:
    listed_rows = sum(f.rows for f in manifest.files)
    if manifest.total_rows != listed_rows:
        report.error(
            f"the manifest's total_rows is {manifest.total_rows}, its files list {listed_rows} rows"
        )
    rejects = manifest.rejects.rows if manifest.rejects else 0
    if manifest.rejected_rows != rejects:
        report.error(
            f"the manifest's rejected_rows is {manifest.rejected_rows}, "
            f"its rejects file lists {rejects}"
        )
    if manifest.source_lines != manifest.total_rows + manifest.rejected_rows:
        report.error(
            f"the manifest's source_lines is {manifest.source_lines}, not total_rows + "
            f"rejected_rows = {manifest.total_rows + manifest.rejected_rows}"
        )


def _check_source(report: _Report) -> None:
    when, archived, current = hour_text(report.hour), report.archived, report.current
    if current is None:
        report.warn(
            f"the source's fingerprint of hour {when} could not be read now (part of the source "
            "is unreadable): rows that arrived late cannot be ruled out"
        )
    elif archived is None:
        report.warn(
            f"the manifest of hour {when} records no source fingerprint (written before "
            f"fingerprints were kept); the source's now is {current}"
        )
    elif archived != current:
        report.warn(
            f"the source changed after hour {when} was archived ({_change(archived, current)}): "
            f"archived from {archived}, the source is now {current}; rows waiting to be "
            "archived: re-materialise the hour (the late-rows sensor does so for recent hours)"
        )


def _change(before: str, after: str) -> str:
    try:
        return fingerprint_change(before, after)
    except ValueError:  # not a fingerprint we wrote (an edited manifest)
        return "fingerprint differs"
