"""A schedule per integration, at its sync interval, past its grace period: it catches up."""

import dagster as dg

from prism_dagster import clock
from prism_dagster.config import CatchUpConfig, Integration
from prism_dagster.defs.resources import StatusStoreResource
from prism_dagster.lifecycle.catchup import tick
from prism_dagster.names import AssetJob, schedule_name, status_resource_key


def cron_for(integration: Integration) -> str:
    """Every ``sync_interval`` hours, ``grace_minutes`` past the hour (UTC)."""
    hours = "*" if integration.sync_interval == 1 else f"*/{integration.sync_interval}"
    return f"{integration.grace_minutes} {hours} * * *"


def build_schedule(
    integration: Integration, job: AssetJob, settings: CatchUpConfig
) -> dg.ScheduleDefinition:
    """Each tick requests every closed hour not archived yet, oldest first, bounded per tick."""
    status_key = status_resource_key(integration.namespace)

    @dg.schedule(
        name=schedule_name(integration),
        cron_schedule=cron_for(integration),
        execution_timezone="UTC",
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        required_resource_keys={status_key},
        description=f"Archive {integration.name!r} every {integration.sync_interval}h, "
        f"{integration.grace_minutes} min after the hour closes; catches up missed hours.",
    )
    def archive_schedule(
        context: dg.ScheduleEvaluationContext, **_: object
    ) -> list[dg.RunRequest] | dg.SkipReason:
        status: StatusStoreResource = getattr(context.resources, status_key)
        store = status.store()
        return tick(context.instance, integration, settings, store, clock.utc_now())

    return archive_schedule
