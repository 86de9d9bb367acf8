"""The Azure role assignment for an Azure integration: a data role on the container, with an
ABAC condition that keeps every blob operation under the integration's prefix.

destinations/azure.py calls upload_blob, stage_block, commit_block_list (blobs/write),
download_blob (blobs/read), list_blobs with a prefix (blobs/read, sub-operation Blob.List) and
delete_blob (blobs/delete); ``validate`` makes the same calls.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from prism_dagster.access.common import Placeholders, roots, unset_env
from prism_dagster.config.fields import EnvRef, shown
from prism_dagster.config.integrations import AzureIntegration
from prism_dagster.destinations.azure import account_name, blob_endpoint, connection_pairs

ROLE = "Storage Blob Data Contributor"
ROLE_ID = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
PRINCIPAL = "<principal-object-id>"
_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
#: The role's blob actions that name one blob: allowed only on a path under the prefix.
PATH_ACTIONS = ("read", "write", "add/action", "delete", "move/action")


def azure_permissions(integration: AzureIntegration, where: Placeholders) -> dict[str, Any]:
    """The role assignment (role, scope, condition), the az command that creates it, notes."""
    account = _account(integration)
    container = shown(integration.container) or ""
    keys = roots(integration.prefix)
    scope = (
        f"/subscriptions/{where.subscription}/resourceGroups/{where.resource_group}"
        f"/providers/Microsoft.Storage/storageAccounts/{account}"
        f"/blobServices/default/containers/{container}"
    )
    condition = abac_condition(keys)
    command = [
        "az", "role", "assignment", "create", "--assignee-object-id", PRINCIPAL,
        "--assignee-principal-type", "ServicePrincipal", "--role", ROLE, "--scope", scope,
        "--condition", condition, "--condition-version", "2.0",
    ]  # fmt: skip
    notes = unset_env(integration.container, integration.account_url)
    notes.append(
        "applies when the plugin signs in with Microsoft Entra ID (account_url alone: "
        "DefaultAzureCredential); an account key or connection string bypasses Azure RBAC"
    )
    if integration.sas_token is not None:
        notes.append("sas_token: a container SAS needs racwdl and cannot be limited to a prefix")
    if integration.encryption_scope is not None or integration.encryption_key is not None:
        notes.append("writing with an encryption scope or customer-provided key needs no more")
    return {
        "integration": integration.name,
        "provider": "azure",
        "account": account,
        "container": container,
        "prefixes": keys,
        "role_assignment": {
            "role": ROLE,
            "roleDefinitionId": ROLE_ID,
            "principalId": PRINCIPAL,
            "scope": scope,
            "condition": condition,
            "conditionVersion": "2.0",
        },
        "commands": [shlex.join(command)],
        "notes": notes,
    }


def abac_condition(keys: list[str]) -> str:
    """Blob reads, writes and deletes on a path under ``keys``; listing with such a prefix."""
    not_path = " AND ".join(
        f"!(ActionMatches{{'{_BLOBS}/read'}} AND NOT SubOperationMatches{{'Blob.List'}})"
        if action == "read"
        else f"!(ActionMatches{{'{_BLOBS}/{action}'}})"
        for action in PATH_ACTIONS
    )
    on_path = " OR ".join(f"@Resource[{_BLOBS}:path] StringStartsWith '{k}'" for k in keys)
    not_list = f"!(ActionMatches{{'{_BLOBS}/read'}} AND SubOperationMatches{{'Blob.List'}})"
    listed = " OR ".join(f"@Request[{_BLOBS}:prefix] StringStartsWith '{k}'" for k in keys)
    return f"(({not_path}) OR ({on_path})) AND (({not_list}) OR ({listed}))"


def _account(integration: AzureIntegration) -> str:
    """The storage account's name, from account_url or the connection string's AccountName."""
    unknown = "<storage-account>"
    if integration.account_url is not None:
        return account_name(shown(integration.account_url) or "") or unknown
    secret = integration.connection_string
    text = os.environ.get(secret.name, "") if isinstance(secret, EnvRef) else ""
    if not text:
        return unknown
    return connection_pairs(text).get("AccountName") or account_name(blob_endpoint(text)) or unknown
