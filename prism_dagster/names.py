"""Every name shared across layers: asset keys, groups, tags, partition keys, jobs, resources.

Dagster's own tag names are written here as the strings Dagster documents: the constants
Dagster keeps for them live in private modules (``dagster._core.storage.tags``), and this is
the one place that spells them, so no other module reaches into Dagster's internals.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

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

SOURCE_GROUP = "prism_source"
ARCHIVE_GROUP = "prism_archive"
ANALYTICS_GROUP = "prism_analytics"

#: The asset check that is red while an integration is in Error (catalog and asset health).
STATUS_CHECK = "integration_status"
#: The asset check that writes, reads, lists and deletes a probe object (Validate & Continue).
DESTINATION_CHECK = "destination_writable"
#: The per-hour check proving each archived hour (manifest, objects, totals, source).
ARCHIVE_COMPLETE_CHECK = "archive_complete"
#: The Dagster pool every archive asset declares unless prism.yaml's ``pools.source`` names
#: another (a named pool is taken as written, so several instances can share it on purpose).
SOURCE_POOL = "prism_gateway"

#: What ``dg.define_asset_job`` returns; its class is not part of Dagster's public API.
AssetJob = Any

# Several instances of the plugin (two gateways, two teams' archives) can live in one Dagster
# project: each has a namespace ("" for the standalone location), and every name below that
# Dagster or the status store keeps is built in it, so two instances never collide.


class Named(Protocol):
    """What names an integration: its instance's namespace and its own name."""

    @property
    def namespace(self) -> str: ...

    @property
    def name(self) -> str: ...


def scoped(namespace: str, name: str) -> str:
    """A Dagster object name in a namespace: ``team_a__prism_status`` (``name`` if none)."""
    return f"{namespace}__{name}" if namespace else name


def _asset_key(namespace: str, *parts: str) -> dg.AssetKey:
    # Dagster's convention for a namespace is a key prefix.
    return dg.AssetKey([namespace, *parts] if namespace else list(parts))


#: An integration, or its bare name (an integration of the standalone location, namespace "").
Ref = Named | str


def _split(integration: Ref) -> tuple[str, str]:
    if isinstance(integration, str):
        return "", integration
    return integration.namespace, integration.name


def integration_key(integration: Ref) -> str:
    """An integration's identity in the Dagster instance: run tags and the status store."""
    return scoped(*_split(integration))


def gateway_logs_key(namespace: str) -> dg.AssetKey:
    """Asset key of the gateway's request logs (the source), e.g. ``prism/gateway_request_logs``."""
    return _asset_key(namespace, "prism", "gateway_request_logs")


def archive_key(integration: Ref) -> dg.AssetKey:
    """Asset key of an integration's archive, e.g. ``prism/archive/production``."""
    namespace, name = _split(integration)
    return _asset_key(namespace, "prism", "archive", name)


def usage_key(integration: Ref) -> dg.AssetKey:
    """Asset key of an integration's daily usage rollup, e.g. ``prism/usage_daily/production``."""
    namespace, name = _split(integration)
    return _asset_key(namespace, "prism", "usage_daily", name)


def usage_job_name(integration: Ref) -> str:
    """Name of the job that builds one integration's daily usage rollup."""
    namespace, name = _split(integration)
    return scoped(namespace, f"usage_daily_{name}")


def archive_job_name(integration: Ref) -> str:
    """Name of the job that archives one integration."""
    namespace, name = _split(integration)
    return scoped(namespace, f"archive_{name}")


def schedule_name(integration: Ref) -> str:
    """Name of an integration's catch-up schedule."""
    namespace, name = _split(integration)
    return scoped(namespace, f"archive_{name}_schedule")


def io_manager_key(integration: Ref) -> str:
    """Resource key of an integration's archive IO manager."""
    namespace, name = _split(integration)
    return scoped(namespace, f"archive_io_{name}")


def destination_pool(integration: Ref) -> str:
    """The Dagster pool of an integration's destination (its probe and read-back checks)."""
    namespace, name = _split(integration)
    return scoped(namespace, f"prism_destination_{name}")


def destination_key(integration: Ref) -> str:
    """Resource key of an integration's destination."""
    namespace, name = _split(integration)
    return scoped(namespace, f"destination_{name}")


def source_resource_key(namespace: str) -> str:
    """Resource key of the log source."""
    return scoped(namespace, "log_source")


def status_resource_key(namespace: str) -> str:
    """Resource key of the status store."""
    return scoped(namespace, "prism_status_store")


def sensor_name(namespace: str, sensor: str) -> str:
    """Name of one of an instance's sensors (``STATUS_SENSOR``, ``LATE_ROWS_SENSOR``, …)."""
    return scoped(namespace, sensor)


STATUS_SENSOR = "prism_status"
LATE_ROWS_SENSOR = "prism_late_rows"
ERROR_RETRY_SENSOR = "prism_error_retry"
RUN_STARTED_SENSOR = "prism_run_started"
RUN_SUCCEEDED_SENSOR = "prism_run_succeeded"
RUN_FAILED_SENSOR = "prism_run_failed"
USAGE_AUTOMATION_SENSOR = "prism_usage_automation"


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
