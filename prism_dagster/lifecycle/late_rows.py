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

from prism_dagster.archive import layout
from prism_dagster.archive.archive import Archive
from prism_dagster.config import Integration
from prism_dagster.lifecycle.catchup import busy_hours, closed_until
from prism_dagster.names import (
    INTEGRATION_TAG,
    PARTITION_TAG,
    archive_job_name,
    archive_key,
    integration_key,
    partition_key,
)
from prism_dagster.sources.base import EMPTY_FINGERPRINT, LogSource


def archived_fingerprint(archive: Archive, hour: datetime) -> str | None:
    """The source fingerprint an archived hour was written from (empty hours: no rows)."""
    manifest = archive.manifest(hour)
    return EMPTY_FINGERPRINT if manifest is None else manifest.source_fingerprint


def changed_hours(
    instance: dg.DagsterInstance,
    integration: Integration,
    archive: Archive,
    source: LogSource,
    lookback: timedelta,
    now: datetime,
) -> tuple[list[dg.RunRequest], list[datetime]]:
    """A run request for each archived hour in the look-back whose source has changed, and
    the archived hours left alone because a run is writing them now (looked at next tick)."""
    end = closed_until(integration, now)
    start = max(integration.first_hour, layout.as_utc_hour(end - lookback))
    done = instance.get_materialized_partitions(archive_key(integration))
    # An hour a run is writing now is that run's: comparing it mid-write would request a
    # second, concurrent writer of the same hour.
    busy = busy_hours(instance, integration, now)
    recent = [h for h in layout.hours_between(start, end) if partition_key(h) in done]
    hours = [h for h in recent if partition_key(h) not in busy]
    left = [h for h in recent if partition_key(h) in busy]
    if not hours:
        return [], left
    now_prints = source.fingerprints(hours[0], hours[-1] + layout.ONE_HOUR)
    requests = []
    for hour in hours:
        current = now_prints.get(hour)
        if current is None or current == archived_fingerprint(archive, hour):
            # None: the source could not be read whole, so "changed" cannot be told apart
            # from "partly unreadable"; re-archiving now could drop archived rows.
            continue
        key = partition_key(hour)
        digest = hashlib.sha256(current.encode()).hexdigest()[:16]
        requests.append(
            dg.RunRequest(
                job_name=archive_job_name(integration),
                # One request per distinct source state: a re-archive that cannot change the
                # manifest (e.g. an earlier archive kept) is not requested again and again.
                run_key=f"late:{integration_key(integration)}:{key}:{digest}",
                tags={INTEGRATION_TAG: integration_key(integration), PARTITION_TAG: key},
            )
        )
    return requests, left
