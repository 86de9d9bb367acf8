"""Hourly archive assets, one per integration, downstream of the gateway's request logs."""

import re
import warnings
from collections.abc import Callable
from functools import partial

import dagster as dg

from prism_dagster.archive.archive import Archive
from prism_dagster.archive.layout import ONE_HOUR
from prism_dagster.archive.redaction import FieldPolicy
from prism_dagster.archive.schema import COST_CURRENCY
from prism_dagster.archive.window import ArchiveWindow, read_hour
from prism_dagster.config import Integration, destination_identity
from prism_dagster.defs.columns import (
    GATEWAY_TABLE_SCHEMA,
    record_column_lineage,
    record_table_schema,
)
from prism_dagster.defs.failures import reported_as_failure
from prism_dagster.defs.io_manager import ArchiveOutput, logged_to
from prism_dagster.defs.metadata import Previous
from prism_dagster.destinations.base import Destination
from prism_dagster.lifecycle.lineage import materializations, recorded
from prism_dagster.names import (
    ARCHIVE_GROUP,
    DESTINATION_TAG,
    INTEGRATION_TAG,
    PROVIDER_TAG,
    SOURCE_FINGERPRINT_KEY,
    SOURCE_GROUP,
    archive_key,
    gateway_logs_key,
    hourly_partitions,
    integration_key,
    io_manager_key,
    partition_hour,
    source_resource_key,
)
from prism_dagster.sources import LogSource


def gateway_logs(namespace: str) -> dg.AssetSpec:
    """The gateway's request-log store, declared so lineage shows source -> archive."""
    return dg.AssetSpec(
        key=gateway_logs_key(namespace),
        description="Prism gateway request logs: one row per LLM request, in the gateway's "
        "log store.",
        group_name=SOURCE_GROUP,
        kinds={"json"},
        metadata={"dagster/column_schema": GATEWAY_TABLE_SCHEMA},
    )


# Dagster tag values: letters, digits, "_", "-" and ".", at most 63 characters.
_TAG_VALUE = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")


def catalog_tags(integration: Integration) -> dict[str, str]:
    """Tags the catalog filters by: integration, provider and, when it fits, bucket/container."""
    tags = {INTEGRATION_TAG: integration_key(integration), PROVIDER_TAG: integration.provider}
    where = destination_identity(integration)
    if integration.provider != "local" and _TAG_VALUE.match(where[2]):
        tags[DESTINATION_TAG] = where[2]
    return tags


def build_archive_asset(
    integration: Integration,
    destination: Destination,
    hours_per_run: int,
    pool: str,
) -> dg.AssetsDefinition:
    """The hourly archive asset of one integration, writing to ``destination``.

    A backfill archives up to ``hours_per_run`` hours per run (``catch_up.max_hours_per_run``,
    as catch-up does): each run costs seconds of start-up, each hour within it milliseconds.
    Its step holds a slot of the source's Dagster ``pool`` while it reads and writes.
    """

    source_key = gateway_logs_key(integration.namespace)
    source_resource = source_resource_key(integration.namespace)

    # backfill_policy is a Dagster beta parameter: its notice is Dagster's, not something the
    # operator can act on, so it is silenced here, where the code location loads.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy")

        @dg.asset(
            key=archive_key(integration),
            description=f"Gateway request logs archived as gzip JSON Lines to "
            f"{integration.provider} (prefix {integration.prefix or '(none)'}), one folder "
            "per UTC hour.",
            partitions_def=hourly_partitions(integration.first_hour),
            backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=hours_per_run),
            deps=[source_key],
            pool=pool,
            required_resource_keys={source_resource},
            io_manager_key=io_manager_key(integration),
            group_name=ARCHIVE_GROUP,
            kinds={"polars", integration.provider},
            tags=catalog_tags(integration),
            owners=integration.owners,
            metadata={
                # The fields its lines hold: less any excluded, hashed ones described so.
                "dagster/column_schema": record_table_schema(integration.fields.policy()),
                "integration": integration.name,
                "provider": integration.provider,
                # Where it lands, on the definition (no secret: an {env} bucket shows its name).
                "destination": Archive(
                    integration.name, destination, integration.prefix
                ).prefix_uri(),
                "prefix": integration.prefix or "(none)",
                "cost_currency": COST_CURRENCY,
            },
        )
        def archive(context: dg.AssetExecutionContext) -> dg.Output:
            log_source: LogSource = getattr(context.resources, source_resource)
            policy = integration.fields.policy()
            with reported_as_failure(), logged_to(context.log):
                window = _archive_window(context, log_source, policy)
            output = ArchiveOutput(
                window,
                report_hour=lambda key, meta: context.add_asset_metadata(meta, partition_key=key),
                run_finished=_finished_on(context.instance),
                previous=_previous_on(context.instance, context.asset_key),
                run_metadata={"dagster/column_lineage": record_column_lineage(policy, source_key)},
            )
            # One hour: the source's fingerprint is the hour's data version. A run of many
            # hours has one data version for all of them in Dagster, so each hour's own
            # fingerprint is then in its metadata only (source_fingerprint). The parameter is
            # Dagster beta: its notice in every run's stderr is not the operator's to act on.
            version = dg.DataVersion(window.first.fingerprint) if window.first else None
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=dg.BetaWarning)
                return dg.Output(output, data_version=version)

    return archive


def _finished_on(instance: dg.DagsterInstance) -> Callable[[str], bool]:
    """Whether a run of this Dagster instance has finished (its hour leases are then stale)."""

    def finished(run_id: str) -> bool:
        run = instance.get_run_by_id(run_id)
        return run is not None and run.is_finished

    return finished


def _previous_on(
    instance: dg.DagsterInstance, key: dg.AssetKey
) -> Callable[[str], Previous | None]:
    """The latest materialization of a partition before this run, from Dagster's records."""

    def previous(partition: str) -> Previous | None:
        found = materializations(instance, key, partition_hour(partition))
        if not found:
            return None
        return Previous(found[0].run_id, recorded(found[0], SOURCE_FINGERPRINT_KEY))

    return previous


def _archive_window(
    context: dg.AssetExecutionContext, log_source: LogSource, policy: FieldPolicy
) -> ArchiveWindow:
    """The run's hours, read one at a time as the IO manager writes them.

    A run of one hour reads it here, up front: its fingerprint is the run's data version.
    """
    window = context.partition_time_window
    read = partial(read_hour, log_source, policy=policy)
    first = read(window.start) if window.end - window.start == ONE_HOUR else None
    return ArchiveWindow(window.start, window.end, read, first)
