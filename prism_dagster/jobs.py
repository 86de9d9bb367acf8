"""One archive job per integration: what schedules, sensors and the launchpad run."""

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from prism_dagster.assets import INTEGRATION_TAG, archive_key
from prism_dagster.config import Integration


def archive_job_name(name: str) -> str:
    """Name of the job that archives one integration."""
    return f"archive_{name}"


def build_archive_job(integration: Integration) -> UnresolvedAssetJobDefinition:
    """The job archiving ``integration``'s hours (its destination check is not part of it)."""
    return dg.define_asset_job(
        archive_job_name(integration.name),
        # The destination check is the operator's to launch, not every hourly run's.
        selection=dg.AssetSelection.assets(archive_key(integration)).without_checks(),
        tags={INTEGRATION_TAG: integration.name},
        description=f"Archive integration {integration.name!r}, one UTC hour a partition.",
    )
