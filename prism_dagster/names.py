"""Every name shared across layers: asset keys, groups, tags, partition keys, jobs, resources.

Dagster's own tag names are written here as the strings Dagster documents: the constants
Dagster keeps for them live in private modules (``dagster._core.storage.tags``), and this is
the one place that spells them, so no other module reaches into Dagster's internals.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dagster as dg

# Dagster's run tags (documented strings; their constants are private to Dagster).
PARTITION_TAG = "dagster/partition"
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
SCHEDULE_TAG = "dagster/schedule_name"
SENSOR_TAG = "dagster/sensor_name"
BACKFILL_TAG = "dagster/backfill"
#: The job Dagster builds for the UI's Materialize (and backfills) over selected assets.
IMPLICIT_ASSET_JOB = "__ASSET_JOB"
#: Dagster's hourly partition keys, e.g. ``2026-03-31-14:00``.
PARTITION_KEY_FORMAT = "%Y-%m-%d-%H:%M"

#: Our run tag naming the integration a run archives (also an asset tag, with the next two).
INTEGRATION_TAG = "prism/integration"
PROVIDER_TAG = "prism/provider"
DESTINATION_TAG = "prism/destination"  # the bucket or container, where a tag value can hold it
#: Metadata keys a failed step carries, so sensors read the cause as data.
CAUSE_METADATA_KEY = "prism/cause"
#: Each hour's materialization metadata: what the source held when the hour was read.
SOURCE_FINGERPRINT_KEY = "source_fingerprint"

GATEWAY_LOGS_KEY = dg.AssetKey(["prism", "gateway_request_logs"])
SOURCE_GROUP = "prism_source"
ARCHIVE_GROUP = "prism_archive"
ANALYTICS_GROUP = "prism_analytics"

SOURCE_RESOURCE_KEY = "log_source"
STATUS_RESOURCE_KEY = "prism_status_store"
STATUS_SENSOR = "prism_status"
#: The asset check that is red while an integration is in Error (catalog and asset health).
STATUS_CHECK = "integration_status"
#: The asset check that writes, reads, lists and deletes a probe object (Validate & Continue).
DESTINATION_CHECK = "destination_writable"
#: The per-hour check proving each archived hour (manifest, objects, totals, source).
ARCHIVE_COMPLETE_CHECK = "archive_complete"
LATE_ROWS_SENSOR = "prism_late_rows"
ERROR_RETRY_SENSOR = "prism_error_retry"
#: The Dagster pool every archive asset declares unless prism.yaml's ``pools.source`` names
#: another: one pool per gateway database, shared by all integrations (and code locations)
#: reading it.
SOURCE_POOL = "prism_gateway"

#: What ``dg.define_asset_job`` returns; its class is not part of Dagster's public API.
AssetJob = Any


def archive_key(integration: str) -> dg.AssetKey:
    """Asset key of an integration's archive, e.g. ``prism/archive/production``."""
    return dg.AssetKey(["prism", "archive", integration])


def usage_key(integration: str) -> dg.AssetKey:
    """Asset key of an integration's daily usage rollup, e.g. ``prism/usage_daily/production``."""
    return dg.AssetKey(["prism", "usage_daily", integration])


def usage_job_name(integration: str) -> str:
    """Name of the job that builds one integration's daily usage rollup."""
    return f"usage_daily_{integration}"


def archive_job_name(integration: str) -> str:
    """Name of the job that archives one integration."""
    return f"archive_{integration}"


def schedule_name(integration: str) -> str:
    """Name of an integration's catch-up schedule."""
    return f"archive_{integration}_schedule"


def io_manager_key(integration: str) -> str:
    """Resource key of an integration's archive IO manager."""
    return f"archive_io_{integration}"


def destination_pool(integration: str) -> str:
    """The Dagster pool of an integration's destination (its probe and read-back checks)."""
    return f"prism_destination_{integration}"


def destination_key(integration: str) -> str:
    """Resource key of an integration's destination."""
    return f"destination_{integration}"


def hourly_partitions(first_hour: datetime) -> dg.HourlyPartitionsDefinition:
    """UTC hours from ``first_hour``; the current, open hour is not a partition."""
    return dg.HourlyPartitionsDefinition(start_date=partition_key(first_hour), timezone="UTC")


def hour_text(moment: datetime) -> str:
    """How an hour (or any moment) is shown to people everywhere: ``2026-03-31T14:00Z``."""
    return f"{moment:%Y-%m-%dT%H:%M}Z"


def partition_key(hour: datetime) -> str:
    """The partition key of a UTC hour."""
    return hour.strftime(PARTITION_KEY_FORMAT)


def partition_hour(key: str) -> datetime:
    """The UTC hour of a partition key."""
    return datetime.strptime(key, PARTITION_KEY_FORMAT).replace(tzinfo=UTC)
