"""The Dagster code location: per integration an hourly archive asset, its job, schedule and
destination check; sensors that keep integration status true."""

from __future__ import annotations

import dagster as dg

from prism_dagster.config import PrismConfig, config_path, load_config
from prism_dagster.config.defaults import default_config
from prism_dagster.defs.assets import GATEWAY_LOGS, build_archive_asset
from prism_dagster.defs.checks import build_destination_check, build_status_check
from prism_dagster.defs.jobs import build_archive_job
from prism_dagster.defs.late_rows import build_late_rows_sensor
from prism_dagster.defs.reconcile import build_archive_complete_check
from prism_dagster.defs.resources import build_resources
from prism_dagster.defs.schedules import build_schedule
from prism_dagster.defs.sensors import build_sensors
from prism_dagster.defs.usage import build_usage_asset, build_usage_job
from prism_dagster.names import destination_key


def build_definitions(config: PrismConfig) -> dg.Definitions:
    """Assets, checks, jobs, schedules, sensors and resources for a configuration."""
    resources = build_resources(config)
    assets: list[object] = [GATEWAY_LOGS]
    checks, jobs, schedules, usage_jobs = [], [], [], []
    for integration in config.integrations:
        destination = resources[destination_key(integration.name)]
        assets.append(
            build_archive_asset(
                integration, destination, config.catch_up.max_hours_per_run, config.pools.source
            )
        )
        checks += [build_destination_check(integration), build_status_check(integration)]
        checks.append(build_archive_complete_check(integration, config.catch_up.max_hours_per_run))
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
        sensors=[*build_sensors(config, jobs), build_late_rows_sensor(config, jobs)],
        resources=resources,
    )


def _load() -> PrismConfig:
    # Without prism.yaml the location still loads, on the embedded default the demo uses.
    return load_config() if config_path().exists() else default_config()


defs = build_definitions(_load())
