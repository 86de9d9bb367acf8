"""Catch-up: every closed hour not archived yet, oldest first, in bounded multi-hour runs.

The schedule (normal cadence), the error-retry sensor (after a failure) and first load with
``history`` all use this one path, so nothing is lost to an outage, only delayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import dagster as dg

from prism_dagster.archive import layout
from prism_dagster.config import CatchUpConfig, History, Integration
from prism_dagster.lifecycle.status import Status, StatusStore
from prism_dagster.names import (
    INTEGRATION_TAG,
    PARTITION_RANGE_END_TAG,
    PARTITION_RANGE_START_TAG,
    PARTITION_TAG,
    archive_job_name,
    archive_key,
    hourly_partitions,
    integration_key,
    partition_hour,
    partition_key,
)

_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
#: A run still in flight after this long no longer holds its hours (its worker died).
STALE_RUN_AFTER = timedelta(hours=6)


@dataclass(frozen=True)
class CatchUp:
    """What a tick found: the hours still to archive and the runs it requests now."""

    pending: list[datetime]
    requests: list[dg.RunRequest]
    failed: set[datetime]  # hours whose latest attempt failed, in flight again or not


def closed_until(integration: Integration, now: datetime) -> datetime:
    """Hours before this one are closed and past their grace period."""
    return layout.as_utc_hour(now - timedelta(minutes=integration.grace_minutes))


def first_wanted(integration: Integration, added_at: datetime) -> datetime:
    """``history.since``, or (history: none) the hour the integration was added."""
    if isinstance(integration.history, History):
        return integration.history.since
    return max(integration.start, layout.as_utc_hour(added_at))


def _hours_of(run: dg.DagsterRun) -> set[str]:
    tags = run.tags
    if PARTITION_TAG in tags:
        return {tags[PARTITION_TAG]}
    if PARTITION_RANGE_START_TAG in tags:
        first = partition_hour(tags[PARTITION_RANGE_START_TAG])
        last = partition_hour(tags[PARTITION_RANGE_END_TAG])
        hours = layout.hours_between(first, last + layout.ONE_HOUR)
        return {partition_key(h) for h in hours}
    return set()


def busy_hours(instance: dg.DagsterInstance, integration: Integration, now: datetime) -> set[str]:
    """Partition keys of the integration's hours that a queued or running run will write."""
    # Every in-flight run, not only this job's: a Materialize or backfill from the UI runs
    # the asset under Dagster's implicit asset job.
    key = archive_key(integration)
    records = instance.get_run_records(dg.RunsFilter(statuses=_IN_FLIGHT))
    live = [
        r.dagster_run
        for r in records
        if now - r.create_timestamp < STALE_RUN_AFTER
        and (
            r.dagster_run.job_name == archive_job_name(integration)
            or key in (r.dagster_run.asset_selection or ())
        )
    ]
    return set().union(*(_hours_of(run) for run in live)) if live else set()


def plan(
    instance: dg.DagsterInstance,
    integration: Integration,
    settings: CatchUpConfig,
    added_at: datetime,
    now: datetime,
) -> CatchUp:
    """Closed hours to archive, oldest first, and the runs to archive them.

    Missing hours since the first one wanted, and every hour whose last attempt failed since
    the integration's first partition, whatever ``history`` says (the partition grid shows
    them red): the same hours the UI shows as missing or failed. Hours in flight wait.
    """
    end = closed_until(integration, now)
    failed = failed_hours(instance, integration, end)
    due = pending_hours(instance, integration, added_at, now, failed)
    busy = busy_hours(instance, integration, now)
    pending = [h for h in due if partition_key(h) not in busy]
    return CatchUp(pending, _requests(integration, pending, settings), failed)


def pending_hours(
    instance: dg.DagsterInstance,
    integration: Integration,
    added_at: datetime,
    now: datetime,
    failed: set[datetime] | None = None,
) -> list[datetime]:
    """Closed hours not archived: never materialised since the first one wanted, or whose
    latest attempt failed (as the partition grid shows them); read from Dagster each time,
    so whoever shows the figure agrees with the grid. Hours a run is writing are counted."""
    end = closed_until(integration, now)
    done = instance.get_materialized_partitions(archive_key(integration))
    wanted = layout.hours_between(first_wanted(integration, added_at), end)
    missing = {h for h in wanted if partition_key(h) not in done}
    if failed is None:
        failed = failed_hours(instance, integration, end)
    return sorted(missing | failed)


def failed_hours(
    instance: dg.DagsterInstance, integration: Integration, end: datetime
) -> set[datetime]:
    """Hours before ``end`` whose latest materialisation attempt failed."""
    keys = [partition_key(h) for h in layout.hours_between(integration.first_hour, end)]
    if not keys:
        return set()
    statuses = instance.get_status_by_partition(
        archive_key(integration), keys, hourly_partitions(integration.first_hour)
    )
    failed = dg.AssetPartitionStatus.FAILED
    return {partition_hour(k) for k, status in (statuses or {}).items() if status == failed}


def _requests(
    integration: Integration, pending: list[datetime], settings: CatchUpConfig
) -> list[dg.RunRequest]:
    groups: list[list[datetime]] = []
    for hour in pending:
        group = groups[-1] if groups else None
        if (
            group
            and hour - group[-1] == layout.ONE_HOUR
            and len(group) < settings.max_hours_per_run
        ):
            group.append(hour)
        elif len(groups) < settings.max_runs_per_tick:
            groups.append([hour])
        else:
            break
    return [
        dg.RunRequest(
            job_name=archive_job_name(integration),
            tags={
                INTEGRATION_TAG: integration_key(integration),
                PARTITION_RANGE_START_TAG: partition_key(group[0]),
                PARTITION_RANGE_END_TAG: partition_key(group[-1]),
            },
        )
        for group in groups
    ]


def tick(
    instance: dg.DagsterInstance,
    integration: Integration,
    settings: CatchUpConfig,
    store: StatusStore,
    now: datetime,
    retrying: bool = False,
) -> list[dg.RunRequest] | dg.SkipReason:
    """One schedule or retry-sensor tick for one integration: skip with a reason, or run."""
    name, key = integration.name, integration_key(integration)
    store.ensure([key], now)
    state = store.get(key)
    assert state is not None  # ensure() just added it
    if state.status is Status.PAUSED:
        return dg.SkipReason(f"{name} is paused; `prism-dagster resume {name}` to catch up")
    if state.status is Status.ERROR and state.next_retry_at and now < state.next_retry_at:
        return dg.SkipReason(
            f"{name} is in Error ({state.error_cause}); next retry at {state.next_retry_at:%H:%M}Z"
        )
    if retrying and state.status is not Status.ERROR:
        return dg.SkipReason(f"{name} is {state.status.value}: nothing to retry")
    work = plan(instance, integration, settings, state.added_at, now)
    if work.requests:
        return work.requests
    if state.status is Status.ERROR and not work.failed and store.mark_recovered(key):
        # Never leave a retry due with nothing to do: the failed hours were archived since.
        return dg.SkipReason(f"{name}: no failed or missing hour is left; Active again")
    return dg.SkipReason(f"{name}: every closed hour is archived or in progress")
