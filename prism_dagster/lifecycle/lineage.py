"""One archived hour's chain, from Dagster's own records: the runs that wrote it, how each was
launched, the source's fingerprint then and now, and the manifest's objects."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import dagster as dg

from prism_dagster.archive.archive import Archive
from prism_dagster.lifecycle.late_rows import archived_fingerprint
from prism_dagster.names import (
    BACKFILL_TAG,
    ERROR_RETRY_SENSOR,
    IMPLICIT_ASSET_JOB,
    LATE_ROWS_SENSOR,
    SCHEDULE_TAG,
    SENSOR_TAG,
    SOURCE_FINGERPRINT_KEY,
    hour_text,
    partition_key,
)

#: How a run was launched, by the sensor that launched it.
_SENSORS = {LATE_ROWS_SENSOR: "late-rows sensor", ERROR_RETRY_SENSOR: "error retry"}


@dataclass(frozen=True)
class Write:
    """One materialization of the hour: which run, when, how launched, from what source."""

    run_id: str
    at: str
    launched_by: str
    rows: int | None
    source_fingerprint: str | None


@dataclass
class HourLineage:
    """Everything an analyst asks of one archived hour."""

    integration: str
    hour: str
    partition: str
    writes: list[Write]
    fingerprint_archived: str | None
    fingerprint_now: str | None
    manifest: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def current(self) -> bool:
        """Whether the source still holds what was archived (no late rows waiting)."""
        return (
            self.fingerprint_now is not None and self.fingerprint_now == self.fingerprint_archived
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "source_unchanged": self.current}


def launched_by(run: dg.DagsterRun | None) -> str:
    """How a run was launched, in operator words, from the tags Dagster sets."""
    if run is None:
        return "unknown (run deleted)"
    tags = run.tags
    if BACKFILL_TAG in tags:
        return f"backfill {tags[BACKFILL_TAG]}"
    if SCHEDULE_TAG in tags:
        return f"schedule {tags[SCHEDULE_TAG]}"
    if SENSOR_TAG in tags:
        name = tags[SENSOR_TAG]
        # A namespaced instance's sensors are ``NAMESPACE__prism_late_rows`` and so on.
        plain = name.rpartition("__")[2]
        return _SENSORS.get(plain, f"sensor {name}")
    if run.job_name == IMPLICIT_ASSET_JOB:
        return "UI Materialize (asset job)"
    return f"manual run of {run.job_name} (launchpad, CLI or API)"


def materializations(
    instance: dg.DagsterInstance,
    asset: dg.AssetKey,
    hour: datetime,
    *,
    limit: int = 1,
    oldest_first: bool = False,
) -> list[dg.EventLogRecord]:
    """The hour's materializations in the instance's event log (by default: the latest)."""
    return list(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset, asset_partitions=[partition_key(hour)]),
            limit=limit,
            ascending=oldest_first,
        ).records
    )


def recorded(record: dg.EventLogRecord, key: str) -> str | None:
    """A metadata value of a materialization record, as text; None if absent or ``-``."""
    meta = record.asset_materialization.metadata if record.asset_materialization else {}
    value = meta.get(key)
    return None if value is None or value.value in (None, "-") else str(value.value)


def writes(instance: dg.DagsterInstance, asset: dg.AssetKey, hour: datetime) -> list[Write]:
    """Every materialization of the hour, oldest first, from the instance's event log."""
    out = []
    for record in materializations(instance, asset, hour, limit=1000, oldest_first=True):
        rows = recorded(record, "dagster/row_count")
        out.append(
            Write(
                run_id=record.run_id,
                at=hour_text(datetime.fromtimestamp(record.timestamp).astimezone()),
                launched_by=launched_by(instance.get_run_by_id(record.run_id)),
                rows=int(rows) if rows is not None else None,
                source_fingerprint=recorded(record, SOURCE_FINGERPRINT_KEY),
            )
        )
    return out


def hour_lineage(
    instance: dg.DagsterInstance,
    archive: Archive,
    asset: dg.AssetKey,
    hour: datetime,
    fingerprint_now: str | None,
    problems: list[str],
) -> HourLineage:
    """The chain for one hour of the archive ``asset``; ``problems`` are what the archive's
    verification found."""
    manifest = archive.manifest(hour)
    objects = []
    if manifest is not None:
        objects = [
            {
                "uri": archive.file_uri(hour, f.name),
                "rows": f.rows,
                "bytes": f.bytes,
                "sha256": f.sha256,
            }
            for f in manifest.entries
        ]
    return HourLineage(
        integration=archive.integration,
        hour=hour_text(hour),
        partition=partition_key(hour),
        writes=writes(instance, asset, hour),
        fingerprint_archived=archived_fingerprint(archive, hour) if manifest else None,
        fingerprint_now=fingerprint_now,
        manifest=archive.manifest_uri(hour),
        objects=objects,
        complete=manifest is not None and not problems,
        problems=problems,
    )
