"""Asset checks: "Validate & Continue" for each integration, launchable from the Dagster UI."""

import dagster as dg

from prism_dagster.assets import archive_key
from prism_dagster.config import Integration
from prism_dagster.io_managers import ArchiveIOManager
from prism_dagster.resources import io_manager_key
from prism_dagster.validate import Status, validate_destination


def build_destination_check(integration: Integration) -> dg.AssetChecksDefinition:
    """Write, read back, list and delete a probe object under the integration's prefix."""
    key = io_manager_key(integration)

    @dg.asset_check(
        asset=archive_key(integration),
        name="destination_writable",
        description="Writes a probe object under the prefix, reads it back, lists the prefix "
        "and deletes the probe: the same steps as `prism-dagster validate`.",
        required_resource_keys={key},
        blocking=False,
    )
    def destination_writable(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        io_manager: ArchiveIOManager = getattr(context.resources, key)
        result = validate_destination(io_manager.destination, io_manager.prefix, integration.name)
        warned = any(step.status is Status.WARN for step in result.steps)
        return dg.AssetCheckResult(
            passed=result.ok,
            severity=dg.AssetCheckSeverity.ERROR if not result.ok else dg.AssetCheckSeverity.WARN,
            description="\n".join(result.lines()),
            metadata={
                **{step.name: f"{step.status.value}: {step.detail}" for step in result.steps},
                "warnings": int(warned),
            },
        )

    return destination_writable
