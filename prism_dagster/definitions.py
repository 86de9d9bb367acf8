"""The Dagster code location: one hourly archive asset and job per integration in prism.yaml."""

from __future__ import annotations

import dagster as dg

from prism_dagster.assets import GATEWAY_LOGS, archive_key, build_archive_asset
from prism_dagster.checks import build_destination_check
from prism_dagster.config import PrismConfig, config_path, load_config
from prism_dagster.defaults import default_config
from prism_dagster.resources import (
    SOURCE_RESOURCE_KEY,
    build_io_manager,
    build_source,
    io_manager_key,
)


def archive_job_name(name: str) -> str:
    """Name of the job that archives one integration."""
    return f"archive_{name}"


def build_definitions(config: PrismConfig) -> dg.Definitions:
    """Assets, jobs and resources for a configuration."""
    resources: dict[str, object] = {SOURCE_RESOURCE_KEY: build_source(config)}
    assets: list[object] = [GATEWAY_LOGS]
    jobs = []
    checks = []
    for integration in config.integrations:
        resources[io_manager_key(integration)] = build_io_manager(integration)
        assets.append(build_archive_asset(integration))
        checks.append(build_destination_check(integration))
        jobs.append(
            dg.define_asset_job(
                archive_job_name(integration.name),
                # The destination check is the operator's to launch, not every hourly run's.
                selection=dg.AssetSelection.assets(archive_key(integration)).without_checks(),
                description=f"Archive integration {integration.name!r}, one UTC hour a partition.",
            )
        )
    return dg.Definitions(assets=assets, asset_checks=checks, jobs=jobs, resources=resources)


def _load() -> PrismConfig:
    # Without prism.yaml the location still loads, on the embedded default the demo uses.
    return load_config() if config_path().exists() else default_config()


defs = build_definitions(_load())
