"""Least-privilege access for one integration: what ``prism-dagster permissions`` prints."""

from __future__ import annotations

from typing import Any

from prism_dagster.access.azure import azure_permissions
from prism_dagster.access.common import Placeholders, roots
from prism_dagster.access.gcs import gcs_permissions
from prism_dagster.access.s3 import s3_permissions
from prism_dagster.config.fields import shown
from prism_dagster.config.integrations import (
    AzureIntegration,
    GcsIntegration,
    Integration,
    S3Integration,
)


def permissions(integration: Integration, where: Placeholders | None = None) -> dict[str, Any]:
    """The provider's policy, role assignment or bindings for ``integration``, as plain data."""
    where = where or Placeholders()
    if isinstance(integration, S3Integration):
        return s3_permissions(integration, where)
    if isinstance(integration, AzureIntegration):
        return azure_permissions(integration, where)
    if isinstance(integration, GcsIntegration):
        return gcs_permissions(integration, where)
    return {
        "integration": integration.name,
        "provider": "local",
        "path": shown(integration.path),
        "prefixes": roots(integration.prefix),
        "notes": [
            "a local folder: no cloud policy applies; the user running Dagster needs to read, "
            "write, create folders and delete under the path"
        ],
    }


__all__ = ["Placeholders", "permissions"]
