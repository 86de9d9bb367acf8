"""The late-rows sensor: re-archive recent hours whose source changed (see lifecycle.late_rows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import dagster as dg

from prism_dagster import clock
from prism_dagster.archive.archive import Archive
from prism_dagster.config import PrismConfig, secret_env_values
from prism_dagster.defs.resources import StatusStoreResource
from prism_dagster.errors import PrismError, redact
from prism_dagster.lifecycle.late_rows import changed_hours
from prism_dagster.lifecycle.status import Status
from prism_dagster.names import (
    LATE_ROWS_SENSOR,
    AssetJob,
    destination_key,
    hour_text,
    integration_key,
    sensor_name,
    source_resource_key,
    status_resource_key,
)
from prism_dagster.sources.base import LogSource


def build_late_rows_sensor(config: PrismConfig, jobs: Sequence[AssetJob]) -> dg.SensorDefinition:
    """The sensor comparing recent archived hours with the source."""
    settings = config.late_rows
    source_key = source_resource_key(config.namespace)
    status_key = status_resource_key(config.namespace)

    @dg.sensor(
        name=sensor_name(config.namespace, LATE_ROWS_SENSOR),
        jobs=list(jobs),
        # The destinations come from Dagster, started with the code server's {env: NAME}s.
        required_resource_keys={
            source_key,
            status_key,
            *(destination_key(i) for i in config.integrations),
        },
        minimum_interval_seconds=settings.check_every_minutes * 60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Re-archives hours of the last {settings.lookback_hours}h whose source "
        "rows changed after they were archived (late inserts, updates, deletes).",
    )
    def late_rows(context: dg.SensorEvaluationContext, **_: object) -> dg.SensorResult:
        # Resources come from context.resources (one per destination, so not parameters);
        # ``**_`` takes the copies Dagster hands a directly invoked sensor.
        resources = context.resources
        source: LogSource = getattr(resources, source_key)
        status: StatusStoreResource = getattr(resources, status_key)
        store = status.store()
        requests: list[dg.RunRequest] = []
        said: list[str] = []
        for integration in config.integrations:
            state = store.get(integration_key(integration))
            if state is not None and state.status in (Status.PAUSED, Status.ERROR):
                continue  # paused stays paused; the error-retry sensor owns failing ones
            destination = getattr(resources, destination_key(integration))
            archive = Archive(integration.name, destination, integration.prefix)
            lookback = timedelta(hours=settings.lookback_hours)
            try:
                found, busy = changed_hours(
                    context.instance, integration, archive, source, lookback, clock.utc_now()
                )
            except (PrismError, OSError) as exc:
                # A destination or source that cannot be read is the runs' to report (and the
                # status's); the tick skips with the reason and never fails.
                reason = redact(str(exc).strip().splitlines()[0], secret_env_values(config))
                said.append(f"{integration.name}: could not compare with the archive: {reason}")
                continue
            requests += found
            if busy:
                shown = ", ".join(hour_text(h) for h in busy[:5])
                said.append(
                    f"{integration.name}: {shown} being written by a run now; "
                    "looked at again at the next tick"
                )
        skip = None if requests else "; ".join(said) or "no archived hour changed in the source"
        return dg.SensorResult(run_requests=requests, skip_reason=skip)

    return late_rows
