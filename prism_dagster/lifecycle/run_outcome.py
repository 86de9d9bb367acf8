"""What a finished or started Dagster run means for each integration it archived.

One rule for every way a run starts (a schedule, a sensor, the asset page's Materialize, a
backfill, ``dagster job execute``, the demo): a run concerns an integration when it carries
the integration's tag or selects its archive asset.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import dagster as dg

from prism_dagster.lifecycle.causes import run_failure
from prism_dagster.lifecycle.status import StatusStore
from prism_dagster.names import (
    INTEGRATION_TAG,
    PARTITION_RANGE_END_TAG,
    PARTITION_TAG,
    Named,
    archive_key,
    integration_key,
    partition_hour,
)


def integrations_of(run: dg.DagsterRun, integrations: Sequence[Named]) -> list[str]:
    """The status-store keys of the integrations whose archive this run materialises."""
    tagged = run.tags.get(INTEGRATION_TAG)
    selected = set(run.asset_selection or ())
    keys = [(integration_key(i), archive_key(i)) for i in integrations]
    return [key for key, asset in keys if key == tagged or asset in selected]


def last_hour(run: dg.DagsterRun) -> datetime | None:
    """The newest hour a run archived, from its partition tags."""
    key = run.tags.get(PARTITION_TAG) or run.tags.get(PARTITION_RANGE_END_TAG)
    return partition_hour(key) if key else None


def record_outcome(
    store: StatusStore,
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    integrations: Sequence[Named],
    secrets: Sequence[str] = (),
    now: datetime | None = None,
    only_if_syncing: bool = False,
) -> list[str]:
    """Apply a run's state to every integration it concerns; those whose status it set.

    ``only_if_syncing``: change only rows still showing this run as Syncing (recovery).
    """
    concerned = integrations_of(run, integrations)
    if not concerned:
        return []
    store.ensure(concerned)
    guard = {"now": now, "only_if_syncing": only_if_syncing}
    if run.status is dg.DagsterRunStatus.SUCCESS and (hour := last_hour(run)):
        for name in concerned:
            store.mark_success(name, run.run_id, hour, **guard)
    elif run.status is dg.DagsterRunStatus.FAILURE:
        cause, message = run_failure(instance, run.run_id, secrets)
        for name in concerned:
            store.mark_error(name, run.run_id, cause.category, message, **guard)
    elif not run.is_finished and not only_if_syncing:
        for name in concerned:
            store.mark_syncing(name, run.run_id, now)
    else:
        return []
    return concerned
