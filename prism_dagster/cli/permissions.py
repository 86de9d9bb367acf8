"""`prism-dagster permissions NAME`: the least-privilege access one integration needs.

S3: an IAM policy document; Azure: a role assignment with an ABAC condition; GCS: IAM
bindings; each with the CLI commands that apply it. Output is JSON (also valid YAML) or YAML.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from prism_dagster.cli.arguments import (
    FINE,
    add_command,
    add_config_option,
    add_name_argument,
    exit_codes,
)

if TYPE_CHECKING:
    from prism_dagster.access import Placeholders


def render(config_path: Path | None, name: str, where: Placeholders, fmt: str = "json") -> str:
    """The permissions of integration ``name`` of prism.yaml, as JSON or YAML text."""
    from prism_dagster.access import permissions
    from prism_dagster.config import find_integration, load_config

    found = permissions(find_integration(load_config(config_path), name), where)
    if fmt == "yaml":
        return yaml.safe_dump(found, sort_keys=False, width=10_000)
    return json.dumps(found, indent=2) + "\n"


def run(args: argparse.Namespace) -> int:
    """Print them; an unknown name is the CLI's ConfigError (exit 2)."""
    from prism_dagster.access import Placeholders

    defaults = Placeholders()
    where = Placeholders(
        account_id=args.account_id or defaults.account_id,
        subscription=args.subscription or defaults.subscription,
        resource_group=args.resource_group or defaults.resource_group,
        project_number=args.project_number or defaults.project_number,
    )
    print(render(args.config, args.name, where, args.format), end="")
    return FINE


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``permissions`` on the top-level parser's subcommands."""
    cmd = add_command(
        sub,
        "permissions",
        "the least-privilege policy an integration needs",
        exit_codes("the policy was printed"),
        run,
    )
    add_name_argument(cmd)
    cmd.add_argument("--format", choices=("json", "yaml"), default="json")
    cmd.add_argument("--account-id", help="AWS account, for a KMS key given without its ARN")
    cmd.add_argument("--subscription", help="Azure subscription id of the storage account")
    cmd.add_argument("--resource-group", help="Azure resource group of the storage account")
    cmd.add_argument("--project-number", help="GCP project number, for the CMEK service agent")
    add_config_option(cmd)
