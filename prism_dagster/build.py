"""One instance's definitions from its configuration: the road every way in takes (the
component, the standalone location, ``build_definitions`` in a hand-written project)."""

from __future__ import annotations

import dagster as dg

from prism_dagster.config import PrismConfig
from prism_dagster.defs.assets import build_archive_asset, gateway_logs
from prism_dagster.defs.checks import build_destination_check, build_status_check
from prism_dagster.defs.jobs import build_archive_job
from prism_dagster.defs.late_rows import build_late_rows_sensor
from prism_dagster.defs.reconcile import build_archive_complete_check
from prism_dagster.defs.resources import build_resources
from prism_dagster.defs.schedules import build_schedule
from prism_dagster.defs.sensors import build_sensors
from prism_dagster.defs.usage import build_usage_asset, build_usage_automation, build_usage_job
from prism_dagster.names import destination_key, usage_key


def build_definitions(config: PrismConfig) -> dg.Definitions:
    """Assets, checks, jobs, schedules, sensors and resources for a configuration.

    Every name is built in ``config.namespace``, so the result merges with a project's own
    definitions (``dg.Definitions.merge``) and with other instances'.
    """
    resources = build_resources(config)
    pool = config.pools.source_pool(config.namespace)
    assets: list[object] = [gateway_logs(config.namespace)]
    checks, jobs, schedules, usage_jobs = [], [], [], []
    for integration in config.integrations:
        destination = resources[destination_key(integration)]
        hours = config.catch_up.max_hours_per_run
        assets.append(build_archive_asset(integration, destination, hours, pool))
        checks += [build_destination_check(integration), build_status_check(integration)]
        checks.append(build_archive_complete_check(integration, hours))
        job = build_archive_job(integration)
        jobs.append(job)
        assets.append(build_usage_asset(integration))
        usage_jobs.append(build_usage_job(integration))
        schedules.append(build_schedule(integration, job, config.catch_up))
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[*jobs, *usage_jobs],
        schedules=schedules,
        sensors=[
            *build_sensors(config, jobs),
            build_late_rows_sensor(config, jobs),
            build_usage_automation(config.namespace, [usage_key(i) for i in config.integrations]),
        ],
        resources=resources,
    )
