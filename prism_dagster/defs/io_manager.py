"""The archive IO manager: writes each hour of a partition window to a destination."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field

from prism_dagster.archive import layout
from prism_dagster.archive.archive import Archive
from prism_dagster.archive.schema import COST_CURRENCY, RECORD_SCHEMA
from prism_dagster.archive.settings import WriteSettings
from prism_dagster.archive.window import ArchiveWindow
from prism_dagster.archive.writer import HourResult, Writer
from prism_dagster.defs.failures import reported_as_failure
from prism_dagster.destinations.base import Destination
from prism_dagster.errors import HourBusyError
from prism_dagster.names import hour_text

# Metadata lists are capped so a 30-day backfill does not produce a megabyte of metadata.
_MAX_LISTED = 50


def _run_finished(context: dg.OutputContext) -> Callable[[str], bool] | None:
    """Whether a run of this Dagster instance has finished (its hour leases are then stale)."""
    try:
        instance = context.step_context.instance
    except Exception:  # an output context built outside a run (tests) has no instance
        return None

    def finished(run_id: str) -> bool:
        run = instance.get_run_by_id(run_id)
        return run is not None and run.is_finished

    return finished


class _ToRunLog(logging.Handler):
    """Our library's log records (retries, lease waits) as events of the run's log."""

    def __init__(self, log: Any) -> None:
        super().__init__(logging.INFO)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        say = self._log.warning if record.levelno >= logging.WARNING else self._log.info
        say(record.getMessage())


@contextmanager
def _logged_to(context: dg.OutputContext) -> Iterator[None]:
    """While writing, records of the ``prism_dagster`` logger go to the run's event log too."""
    handler, logger = _ToRunLog(context.log), logging.getLogger("prism_dagster")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def human_size(size: int) -> str:
    """Bytes as people read them (binary units), beside the exact integer."""
    value, unit = float(size), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


def _said(result: HourResult, archive: Archive) -> str:
    """One log line per hour written: hour, rows, files, bytes and where its manifest is."""
    label = f"hour {hour_text(result.hour)}"
    if result.kept:
        return f"{label}: the source returned nothing; the archived hour was kept as it was"
    if result.manifest is None:
        return f"{label}: no traffic, nothing written"
    m = result.manifest
    size = sum(f.bytes for f in m.files)
    return (
        f"{label}: {m.total_rows} rows, {m.rejected_rows} rejected, {len(m.files)} files, "
        f"{size} bytes ({human_size(size)}) -> {archive.manifest_uri(result.hour)}"
    )


class ArchiveIOManager(dg.ConfigurableIOManager):
    """Writes hourly gzip JSON Lines archives with a manifest; reads them back verified."""

    destination: Destination
    integration: str = Field(description="Integration name; part of every batch id.")
    prefix: str = Field(default="", description="Key prefix, e.g. prism/production.")
    settings: WriteSettings = Field(default_factory=WriteSettings)

    @property
    def archive(self) -> Archive:
        """The integration's archive this IO manager writes and reads."""
        return Archive(self.integration, self.destination, self.prefix, self.settings)

    def handle_output(self, context: dg.OutputContext, obj: ArchiveWindow) -> None:
        with reported_as_failure(), _logged_to(context):
            self._write(context, obj)

    def _write(self, context: dg.OutputContext, obj: ArchiveWindow) -> None:
        window = context.asset_partitions_time_window
        if (window.start, window.end) != (obj.start, obj.end):
            raise ValueError(f"asset produced {obj.start}..{obj.end} for partitions {window}")
        writer = Writer(context.run_id, _run_finished(context))
        archive = self.archive
        results, busy = [], []
        for hour, records, rejects in obj.hours():
            try:
                result = archive.write_hour(
                    hour, records, rejects, obj.fingerprints.get(hour), writer
                )
                context.log.info(_said(result, archive))
                results.append(result)
            except HourBusyError as exc:
                # Another run is writing this hour: leave it to that run, write the others.
                context.log.warning(str(exc))
                busy.append((exc, hour))
        context.add_output_metadata(self._metadata(obj, results))
        if busy:
            hours = [label for exc, _ in busy for label in exc.hours]
            raise HourBusyError(
                f"{len(busy)} hour(s) were being written by another run and were left to it: "
                f"{', '.join(hours)}. The other {len(results)} hour(s) were archived.",
                hours,
            )

    def _metadata(self, obj: ArchiveWindow, results: list[HourResult]) -> dict[str, Any]:
        written = [r for r in results if r.manifest is not None]
        files = [f for r in written for f in r.manifest.files]  # type: ignore[union-attr]
        uris = [uri for r in written for uri in r.uris]
        empty = [
            hour_text(r.hour)
            for r in results
            if not r.kept and (not r.manifest or not r.manifest.total_rows)
        ]
        kept = [hour_text(r.hour) for r in results if r.kept]
        records = obj.records
        return {
            "dagster/row_count": records.height,
            "rows": records.height,
            "files": len(files),
            "compressed_bytes": sum(f.bytes for f in files),
            "compressed_size": human_size(sum(f.bytes for f in files)),
            "uncompressed_bytes": sum(f.uncompressed_bytes for f in files),
            "hours": len(results),
            "empty_hours": dg.MetadataValue.json(empty[:_MAX_LISTED]),
            # Hours the source returned nothing for, whose earlier archive was kept.
            "kept_hours": dg.MetadataValue.json(kept[:_MAX_LISTED]),
            "time_window": f"{hour_text(obj.start)} .. {hour_text(obj.end)}",
            "total_cost": float(records.get_column("cost").sum() or 0.0),
            "cost_currency": COST_CURRENCY,
            "error_count": int(records.get_column("is_error").sum() or 0),
            "rejected_rows": obj.rejects.height,
            # Every source line read is archived or rejected: nothing is dropped in between.
            "source_lines": records.height + obj.rejects.height,
            # Paths the source could not read (its rows' hours are unknown) or does not read.
            "unreadable_paths": dg.MetadataValue.json(list(obj.unreadable[:_MAX_LISTED])),
            "ignored_files": dg.MetadataValue.json(list(obj.ignored[:_MAX_LISTED])),
            "stale_files_removed": sum(len(r.removed) for r in results),
            # Left by a writer that crashed mid-upload (temp files, S3 multipart uploads).
            "unfinished_uploads_removed": sum(len(r.cleaned) for r in results),
            "uris": dg.MetadataValue.json(uris[:_MAX_LISTED]),
            "destination": self.archive.prefix_uri(),
        }

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        window = context.asset_partitions_time_window
        archive = self.archive
        with reported_as_failure():
            frames = [archive.read_hour(h) for h in layout.hours_between(window.start, window.end)]
        return pl.concat([pl.DataFrame(schema=RECORD_SCHEMA), *frames])
