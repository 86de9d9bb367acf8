"""Asset checks: "Validate & Continue" for each integration, launchable from the Dagster UI."""

import dagster as dg

from prism_dagster import clock
from prism_dagster.archive.archive import Archive
from prism_dagster.config import Integration
from prism_dagster.defs.resources import StatusStoreResource
from prism_dagster.defs.sensors import status_evaluation
from prism_dagster.lifecycle.catchup import pending_hours
from prism_dagster.lifecycle.validate import Outcome, validate_destination
from prism_dagster.names import (
    DESTINATION_CHECK,
    STATUS_CHECK,
    archive_key,
    destination_key,
    destination_pool,
    integration_key,
    status_resource_key,
)


def build_destination_check(integration: Integration) -> dg.AssetChecksDefinition:
    """Write, read back, list and delete a probe object under the integration's prefix."""
    key = destination_key(integration)

    @dg.asset_check(
        asset=archive_key(integration),
        name=DESTINATION_CHECK,
        description="Writes a probe object under the prefix, reads it back, lists the prefix "
        "and deletes the probe: the same steps as `prism-dagster validate`.",
        required_resource_keys={key},
        blocking=False,
        pool=destination_pool(integration),
    )
    def destination_writable(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        archive = Archive(integration.name, getattr(context.resources, key), integration.prefix)
        result = validate_destination(archive)
        warned = any(step.outcome is Outcome.WARN for step in result.steps)
        return dg.AssetCheckResult(
            passed=result.ok,
            severity=dg.AssetCheckSeverity.ERROR if not result.ok else dg.AssetCheckSeverity.WARN,
            description="\n".join(result.lines()),
            metadata={
                **{step.name: f"{step.outcome.value}: {step.detail}" for step in result.steps},
                "warnings": int(warned),
            },
        )

    return destination_writable


def build_status_check(integration: Integration) -> dg.AssetChecksDefinition:
    """Red while the integration is in Error; the status sensor reports it on each change."""
    status_key = status_resource_key(integration.namespace)

    @dg.asset_check(
        asset=archive_key(integration),
        name=STATUS_CHECK,
        description="Fails (severity ERROR) while the integration is in Error: its cause, "
        "message and next retry are in the metadata. Evaluated by the prism_status sensor "
        "on every change; executing it reads the status store now.",
        blocking=False,
        required_resource_keys={status_key},
    )
    def integration_status(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        status: StatusStoreResource = getattr(context.resources, status_key)
        store = status.store()
        store.ensure([integration_key(integration)])
        state = store.get(integration_key(integration))
        assert state is not None  # ensure() just added it
        due = pending_hours(context.instance, integration, state.added_at, clock.utc_now())
        evaluation = status_evaluation(integration, state, len(due))
        return dg.AssetCheckResult(
            passed=evaluation.passed,
            severity=evaluation.severity,
            description=evaluation.description,
            metadata=evaluation.metadata,
        )

    return integration_status
