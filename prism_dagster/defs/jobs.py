"""One archive job per integration: what schedules, sensors and the launchpad run."""

import dagster as dg

from prism_dagster.config import Integration
from prism_dagster.names import INTEGRATION_TAG, AssetJob, archive_job_name, archive_key


def build_archive_job(integration: Integration) -> AssetJob:
    """The job archiving ``integration``'s hours (its destination check is not part of it)."""
    return dg.define_asset_job(
        archive_job_name(integration.name),
        # The destination check is the operator's to launch, not every hourly run's.
        selection=dg.AssetSelection.assets(archive_key(integration.name)).without_checks(),
        tags={INTEGRATION_TAG: integration.name},
        description=f"Archive integration {integration.name!r}, one UTC hour a partition.",
    )
