"""What every provider's permissions share: the key roots, placeholders, unset variables."""

from __future__ import annotations

import os
from dataclasses import dataclass

from prism_dagster.archive import layout
from prism_dagster.config.fields import EnvRef


@dataclass(frozen=True)
class Placeholders:
    """Values prism.yaml does not hold: given on the command line, else shown as placeholders."""

    account_id: str = "<aws-account-id>"
    subscription: str = "<subscription-id>"
    resource_group: str = "<resource-group>"
    project_number: str = "<project-number>"


def unset_env(*values: str | EnvRef | None) -> list[str]:
    """Notes for the ``{env: NAME}`` fields whose variable is not set here."""
    missing = [v.name for v in values if isinstance(v, EnvRef) and not os.environ.get(v.name)]
    return [
        f"${name} is not set here, so ${{{name}}} stands for its value: set it and rerun"
        for name in missing
    ]


def roots(prefix: str) -> list[str]:
    """The key prefixes (ending in ``/``) the plugin reads, writes, lists and deletes under.

    Every key it writes is ``{prefix}/logs/...`` (batches, manifests, rejects, hour leases and
    their claims) or ``{prefix}/_prism_validate/...`` (``validate``'s probes), so a set prefix
    is one root; with no prefix those two folders are the roots, never the whole bucket.
    """
    prefix = prefix.strip("/")
    if prefix:
        return [f"{prefix}/"]
    return [f"{layout.LOGS_DIR}/", f"{layout.PROBE_DIR}/"]
