"""Asset checks: "Validate & Continue" for each integration, launchable from the Dagster UI."""

import dagster as dg

from prism_dagster.archive.archive import Archive
from prism_dagster.config import Integration
from prism_dagster.lifecycle.validate import Outcome, validate_destination
from prism_dagster.names import archive_key, destination_key


def build_destination_check(integration: Integration) -> dg.AssetChecksDefinition:
    """Write, read back, list and delete a probe object under the integration's prefix."""
    key = destination_key(integration.name)

    @dg.asset_check(
        asset=archive_key(integration.name),
        name="destination_writable",
        description="Writes a probe object under the prefix, reads it back, lists the prefix "
        "and deletes the probe: the same steps as `prism-dagster validate`.",
        required_resource_keys={key},
        blocking=False,
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
