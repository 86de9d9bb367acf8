"""`prism-dagster sql NAME --engine ENGINE`: query definitions for an integration's archive."""

from __future__ import annotations

import argparse
from pathlib import Path

from prism_dagster.cli.arguments import (
    FINE,
    add_command,
    add_config_option,
    add_name_argument,
    exit_codes,
)
from prism_dagster.queries.engines import ENGINES

ENGINE_HELP = (
    "duckdb (any provider), athena (s3), bigquery (gcs) or synapse (azure); default duckdb"
)


def render(config_path: Path | None, name: str, engine: str) -> str:
    """The SQL for integration ``name`` of prism.yaml, for ``engine``."""
    from prism_dagster.config import find_integration, load_config
    from prism_dagster.queries import definitions

    return definitions(find_integration(load_config(config_path), name), engine)


def run(args: argparse.Namespace) -> int:
    """Print the definitions; an engine that cannot read the provider is a usage error (2)."""
    print(render(args.config, args.name, args.engine), end="")
    return FINE


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``sql`` on the top-level parser's subcommands."""
    sql = add_command(
        sub,
        "sql",
        "print SQL that defines an integration's archive as a view",
        exit_codes("the definitions were printed"),
        run,
    )
    add_name_argument(sql)
    sql.add_argument("--engine", choices=ENGINES, default="duckdb", help=ENGINE_HELP)
    add_config_option(sql)
