"""What a run shows: each hour's own figures, the window's totals, and one log line per hour.

Each hour partition's materialization carries its own figures (``hour_metadata``); a run over
several hours adds the window's totals under ``window_*`` names, so no hour shows another's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import dagster as dg

from prism_dagster.archive.archive import Archive
from prism_dagster.archive.records import HourRecords
from prism_dagster.archive.schema import COST_CURRENCY
from prism_dagster.archive.window import ArchiveWindow
from prism_dagster.archive.writer import HourResult
from prism_dagster.names import SOURCE_FINGERPRINT_KEY, hour_text
from prism_dagster.sources.base import fingerprint_change

# Metadata lists are capped so a 30-day backfill does not produce a megabyte of metadata.
MAX_LISTED = 50

#: What an hour's ``outcome`` says, by case.
WRITTEN = "archived"
NO_TRAFFIC = "no traffic: archived as an empty hour (0 rows)"
KEPT = "the source returned nothing; the archive written earlier was kept"


def human_size(size: int) -> str:
    """Bytes as people read them (binary units), beside the exact integer."""
    value, unit = float(size), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


def outcome(result: HourResult) -> str:
    """What happened to the hour, in one phrase."""
    m = result.manifest
    if not m.total_rows and not m.rejected_rows:
        return NO_TRAFFIC
    return KEPT if result.kept else WRITTEN


def hour_line(result: HourResult, archive: Archive) -> str:
    """The run's log line for one hour: rows, files, bytes and where its manifest is."""
    m = result.manifest
    size = sum(f.bytes for f in m.files)
    said = outcome(result)
    figures = (
        f"{m.total_rows} rows, {m.rejected_rows} rejected, {len(m.files)} files, "
        f"{size} bytes ({human_size(size)})"
    )
    where = archive.manifest_uri(result.hour)
    if said == WRITTEN:
        return f"hour {hour_text(result.hour)}: {figures} -> {where}"
    return f"hour {hour_text(result.hour)}: {said}; {figures} -> {where}"


@dataclass(frozen=True)
class Previous:
    """The hour's materialization before this run: the run that wrote it, from what source."""

    run_id: str
    source_fingerprint: str | None


_OBJECTS = dg.TableSchema(
    columns=[
        dg.TableColumn("object", "string", description="file name in the hour's folder"),
        dg.TableColumn("kind", "string", description="records, or rejected source lines"),
        dg.TableColumn("rows", "int"),
        dg.TableColumn("bytes", "int"),
        dg.TableColumn("sha256", "string", description="its first 12 hex digits"),
    ]
)
#: Sums of costs are shown to this many decimals: beyond any price's precision, short of the
#: float noise a sum adds (0.5027210000000001).
COST_DECIMALS = 9


def _objects(result: HourResult) -> dg.TableMetadataValue:
    """The hour's objects as the manifest lists them, narrow enough for the UI: the folder is
    ``dagster/uri``, full checksums are in the manifest."""
    m = result.manifest
    entries = [("rejects" if f is m.rejects else "records", f) for f in m.entries]
    records = [
        dg.TableRecord(
            {
                "object": f.name,
                "kind": kind,
                "rows": f.rows,
                "bytes": f.bytes,
                "sha256": f.sha256[:12],
            }
        )
        for kind, f in entries[:MAX_LISTED]
    ]
    return dg.MetadataValue.table(records, schema=_OBJECTS)


def place(uri: str) -> dg.MetadataValue:
    """Where an object is, as the UI can show it: a browser does not follow ``file://`` (or
    ``s3://``) links from a web page, so a path to copy, the local one for a local folder."""
    parts = urlsplit(uri)
    return dg.MetadataValue.path(url2pathname(parts.path) if parts.scheme == "file" else uri)


def _provenance(result: HourResult, previous: Previous | None) -> dict[str, Any]:
    """Where the hour came from: the source's fingerprint, and the run this one replaced."""
    fingerprint = result.manifest.source_fingerprint
    meta: dict[str, Any] = {SOURCE_FINGERPRINT_KEY: fingerprint or "-"}
    if previous is not None:
        meta["replaces_run"] = dg.MetadataValue.dagster_run(previous.run_id)
        if previous.source_fingerprint and fingerprint:
            meta["source_change"] = fingerprint_change(previous.source_fingerprint, fingerprint)
    return meta


def _totals(result: HourResult, records: HourRecords, archive: Archive) -> tuple[float, int]:
    """The hour's cost and errors: of the rows written, or of the archive a kept hour kept."""
    if not result.kept:
        return records.totals()
    # The source returned nothing and the earlier archive stayed: its rows were not read in
    # this run, so the figures come from the archive itself, as its first archive showed them.
    frame = archive.read_hour(result.hour)
    cost = float(frame.get_column("cost").sum() or 0.0) if "cost" in frame.columns else 0.0
    errors = int(frame.get_column("is_error").sum() or 0) if "is_error" in frame.columns else 0
    return cost, errors


def hour_metadata(
    result: HourResult, records: HourRecords, archive: Archive, previous: Previous | None = None
) -> dict[str, Any]:
    """One hour's own figures, read from its manifest (what the archive now holds); every
    hour carries the same keys, each once, its own first."""
    m = result.manifest
    cost, errors = _totals(result, records, archive)
    meta: dict[str, Any] = {
        "hour": hour_text(result.hour),
        "outcome": outcome(result),
        "dagster/row_count": m.total_rows,
        "files": len(m.files),
        "compressed_size": human_size(sum(f.bytes for f in m.files)),
        "uncompressed_size": human_size(sum(f.uncompressed_bytes for f in m.files)),
    }
    # A field the archive leaves out is not shown summed either.
    if "cost" not in m.excluded_fields:
        meta["total_cost"], meta["cost_currency"] = round(cost, COST_DECIMALS), COST_CURRENCY
    if "is_error" not in m.excluded_fields:
        meta["error_count"] = errors
    meta |= {
        "rejected_rows": m.rejected_rows,
        "source_lines": m.source_lines,
        "objects": _objects(result),
        "manifest": place(archive.manifest_uri(result.hour)),
        "dagster/uri": archive.hour_uri(result.hour),
        **_provenance(result, previous),
        "stale_files_removed": len(result.removed),
        # Left by a writer that crashed mid-upload (temp files, S3 multipart uploads).
        "unfinished_uploads_removed": len(result.cleaned),
    }
    if m.excluded_fields or m.hashed_fields:  # the fields policy the hour was written under
        meta["excluded_fields"] = dg.MetadataValue.json(m.excluded_fields)
        meta["hashed_fields"] = dg.MetadataValue.json(m.hashed_fields)
    return meta


def window_metadata(
    window: ArchiveWindow,
    results: Sequence[HourResult],
    archive: Archive,
    ignored: Sequence[str] = (),
    unreadable: Sequence[str] = (),
) -> dict[str, Any]:
    """The run's totals over its whole window, named ``window_*`` so no hour claims them."""
    files = [f for r in results for f in r.manifest.files]
    size = sum(f.bytes for f in files)
    empty = [hour_text(r.hour) for r in results if outcome(r) == NO_TRAFFIC]
    kept = [hour_text(r.hour) for r in results if outcome(r) == KEPT]
    meta: dict[str, Any] = {
        "window": f"{hour_text(window.start)} .. {hour_text(window.end)}",
        "window_hours": len(results),
        "window_rows": sum(r.manifest.total_rows for r in results),
        "window_files": len(files),
        "window_compressed_size": human_size(size),
    }
    # Lists only when they hold something: an empty [] on every hour is noise.
    listed = {
        "window_empty_hours": empty,
        "window_kept_hours": kept,
        # Paths the source could not read (their rows' hours are unknown) or does not read.
        "unreadable_paths": list(unreadable),
        "ignored_files": list(ignored),
    }
    meta |= {k: dg.MetadataValue.json(v[:MAX_LISTED]) for k, v in listed.items() if v}
    meta["destination"] = archive.prefix_uri()
    return meta
