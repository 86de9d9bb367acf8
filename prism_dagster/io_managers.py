"""The archive IO manager: writes each hour of a partition window to a destination."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field

from prism_dagster import layout
from prism_dagster.archive import ArchiveWindow
from prism_dagster.destinations.base import Destination
from prism_dagster.errors import HourBusyError, ManifestError
from prism_dagster.lease import DEFAULT_LEASE_TTL_S, DEFAULT_LEASE_WAIT_S
from prism_dagster.manifest import Manifest
from prism_dagster.schema import RECORD_SCHEMA
from prism_dagster.writer import HourResult, Writer, WriteSettings, write_hour

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


class ArchiveIOManager(dg.ConfigurableIOManager):
    """Writes hourly gzip JSON Lines archives with a manifest; reads them back verified."""

    destination: Destination
    integration: str = Field(description="Integration name; part of every batch id.")
    prefix: str = Field(default="", description="Key prefix, e.g. prism/production.")
    gzip_level: int = 6
    max_rows_per_file: int = 1_000_000
    max_bytes_per_file: int | None = None
    lease_wait_s: float = DEFAULT_LEASE_WAIT_S
    lease_ttl_s: float = DEFAULT_LEASE_TTL_S

    def _settings(self) -> WriteSettings:
        return WriteSettings(
            self.gzip_level,
            self.max_rows_per_file,
            self.max_bytes_per_file,
            lease_ttl_s=self.lease_ttl_s,
            lease_wait_s=self.lease_wait_s,
        )

    def handle_output(self, context: dg.OutputContext, obj: ArchiveWindow) -> None:
        window = context.asset_partitions_time_window
        if (window.start, window.end) != (obj.start, obj.end):
            raise ValueError(f"asset produced {obj.start}..{obj.end} for partitions {window}")
        writer = Writer(context.run_id, _run_finished(context))
        results, busy = [], []
        for hour, records, rejects in obj.hours():
            try:
                results.append(
                    write_hour(
                        self.destination,
                        integration=self.integration,
                        prefix=self.prefix,
                        hour=hour,
                        records=records,
                        rejects=rejects,
                        settings=self._settings(),
                        source_fingerprint=obj.fingerprints.get(hour),
                        writer=writer,
                    )
                )
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
            f"{r.hour:%Y-%m-%dT%H}"
            for r in results
            if not r.kept and (not r.manifest or not r.manifest.total_rows)
        ]
        kept = [f"{r.hour:%Y-%m-%dT%H}" for r in results if r.kept]
        records = obj.records
        return {
            "dagster/row_count": records.height,
            "rows": records.height,
            "files": len(files),
            "compressed_bytes": sum(f.bytes for f in files),
            "uncompressed_bytes": sum(f.uncompressed_bytes for f in files),
            "hours": len(results),
            "empty_hours": dg.MetadataValue.json(empty[:_MAX_LISTED]),
            # Hours the source returned nothing for, whose earlier archive was kept.
            "kept_hours": dg.MetadataValue.json(kept[:_MAX_LISTED]),
            "time_window": f"{obj.start:%Y-%m-%dT%H:%M}Z .. {obj.end:%Y-%m-%dT%H:%M}Z",
            "total_cost": float(records.get_column("cost").sum() or 0.0),
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
            "destination": self.destination.uri(self.prefix)
            if self.prefix
            else self.destination.uri(""),
        }

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        window = context.asset_partitions_time_window
        frames = [
            read_hour(self.destination, self.prefix, hour)
            for hour in layout.hours_between(window.start, window.end)
        ]
        return pl.concat([pl.DataFrame(schema=RECORD_SCHEMA), *frames])


def read_hour(dest: Destination, prefix: str, hour: Any) -> pl.DataFrame:
    """An archived hour as records, checked against its manifest (empty if never written)."""
    key = layout.manifest_key(prefix, hour)
    if not dest.exists(key):
        if any(layout.is_batch_key(k) for k in dest.list_keys(layout.hour_dir(prefix, hour) + "/")):
            raise ManifestError(
                f"{dest.uri(key)} is missing: the hour is incomplete or being rewritten"
            )
        return pl.DataFrame(schema=RECORD_SCHEMA)
    manifest = Manifest.from_bytes(dest.get_object(key), dest.uri(key))
    frames = []
    for entry in manifest.files:
        data = dest.get_object(f"{layout.hour_dir(prefix, hour)}/{entry.name}")
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            raise ManifestError(
                f"{entry.name} of {manifest.hour} does not match its manifest checksum"
            )
        frames.append(pl.read_ndjson(gzip.decompress(data), schema=RECORD_SCHEMA))
    return pl.concat([pl.DataFrame(schema=RECORD_SCHEMA), *frames])
