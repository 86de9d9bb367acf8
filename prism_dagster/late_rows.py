"""Late rows: re-archive recent hours whose source changed after they were archived.

Rows reach the store late (webhook retries, clock skew). Each manifest records the source's
fingerprint of its hour as it was read; this sensor compares it with the source's fingerprint
now and requests the hours that differ. Deterministic batch ids make the re-archive replace
the hour's files, so every row is there exactly once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)
from dagster._core.storage.tags import PARTITION_NAME_TAG

from prism_dagster import clock, layout
from prism_dagster.assets import INTEGRATION_TAG, PARTITION_KEY_FORMAT, archive_key
from prism_dagster.catchup import busy_hours, closed_until
from prism_dagster.config import Integration, PrismConfig
from prism_dagster.destinations.base import Destination
from prism_dagster.jobs import archive_job_name
from prism_dagster.manifest import Manifest
from prism_dagster.resources import StatusStoreResource, build_destination
from prism_dagster.sources.base import EMPTY_FINGERPRINT, LogSource
from prism_dagster.status import Status


def archived_fingerprint(dest: Destination, prefix: str, hour: datetime) -> str | None:
    """The source fingerprint an archived hour was written from (empty hours: no rows)."""
    key = layout.manifest_key(prefix, hour)
    if not dest.exists(key):
        return EMPTY_FINGERPRINT
    return Manifest.from_bytes(dest.get_object(key), dest.uri(key)).source_fingerprint


def changed_hours(
    instance: dg.DagsterInstance,
    integration: Integration,
    dest: Destination,
    source: LogSource,
    lookback: timedelta,
    now: datetime,
) -> list[dg.RunRequest]:
    """A run request for each archived hour in the look-back whose source has changed."""
    end = closed_until(integration, now)
    start = max(integration.first_hour, layout.as_utc_hour(end - lookback))
    done = instance.get_materialized_partitions(archive_key(integration))
    # An hour a run is writing now is that run's: comparing it mid-write would request a
    # second, concurrent writer of the same hour.
    busy = busy_hours(instance, integration, now)
    hours = [
        h
        for h in layout.hours_between(start, end)
        if h.strftime(PARTITION_KEY_FORMAT) in done - busy
    ]
    if not hours:
        return []
    now_prints = source.fingerprints(hours[0], hours[-1] + layout.ONE_HOUR)
    requests = []
    for hour in hours:
        current = now_prints.get(hour)
        if current is None or current == archived_fingerprint(dest, integration.prefix, hour):
            # None: the source could not be read whole, so "changed" cannot be told apart
            # from "partly unreadable"; re-archiving now could drop archived rows.
            continue
        key = hour.strftime(PARTITION_KEY_FORMAT)
        digest = hashlib.sha256(current.encode()).hexdigest()[:16]
        requests.append(
            dg.RunRequest(
                job_name=archive_job_name(integration.name),
                # One request per distinct source state: a re-archive that cannot change the
                # manifest (e.g. an earlier archive kept) is not requested again and again.
                run_key=f"late:{integration.name}:{key}:{digest}",
                tags={INTEGRATION_TAG: integration.name, PARTITION_NAME_TAG: key},
            )
        )
    return requests


def build_late_rows_sensor(
    config: PrismConfig, jobs: list[UnresolvedAssetJobDefinition]
) -> dg.SensorDefinition:
    """The sensor comparing recent archived hours with the source."""
    settings = config.late_rows

    @dg.sensor(
        name="prism_late_rows",
        jobs=jobs,
        minimum_interval_seconds=settings.check_every_minutes * 60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Re-archives hours of the last {settings.lookback_hours}h whose source "
        "rows changed after they were archived (late inserts, updates, deletes).",
    )
    def late_rows(
        context: dg.SensorEvaluationContext,
        log_source: LogSource,
        prism_status: StatusStoreResource,
    ) -> dg.SensorResult:
        store = prism_status.store()
        requests: list[dg.RunRequest] = []
        for integration in config.integrations:
            state = store.get(integration.name)
            if state is not None and state.status in (Status.PAUSED, Status.ERROR):
                continue  # paused stays paused; the error-retry sensor owns failing ones
            # Built per tick, not from the IO manager resources: the sensor only reads
            # manifests, and the code server it runs in has the {env: NAME} values.
            dest = build_destination(integration, live=True)
            lookback = timedelta(hours=settings.lookback_hours)
            requests += changed_hours(
                context.instance, integration, dest, log_source, lookback, clock.utc_now()
            )
        skip = None if requests else "no archived hour changed in the source"
        return dg.SensorResult(run_requests=requests, skip_reason=skip)

    return late_rows
