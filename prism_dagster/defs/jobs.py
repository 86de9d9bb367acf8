"""One archive job per integration: what schedules, sensors and the launchpad run."""

import dagster as dg

from prism_dagster.config import Integration
from prism_dagster.names import (
    ARCHIVE_COMPLETE_CHECK,
    INTEGRATION_TAG,
    AssetJob,
    archive_job_name,
    archive_key,
    integration_key,
)


def build_archive_job(integration: Integration) -> AssetJob:
    """The job archiving ``integration``'s hours, each proven by ``archive_complete`` after."""
    asset = archive_key(integration)
    return dg.define_asset_job(
        archive_job_name(integration),
        # The destination check (a probe write) is the operator's to launch, not every hourly
        # run's; each archived hour is proven in the run that wrote it.
        selection=dg.AssetSelection.assets(asset).without_checks()
        | dg.AssetSelection.checks(dg.AssetCheckKey(asset, ARCHIVE_COMPLETE_CHECK)),
        tags={INTEGRATION_TAG: integration_key(integration)},
        description=f"Archive integration {integration.name!r}, one UTC hour a partition.",
    )
