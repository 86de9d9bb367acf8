"""`prism-dagster sql NAME --engine ENGINE`: query definitions for an integration's archive."""

from __future__ import annotations

import argparse
from pathlib import Path

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
    """Print the definitions; a PrismError (wrong engine for the provider) exits non-zero."""
    print(render(args.config, args.name, args.engine), end="")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``sql`` on the top-level parser's subcommands."""
    sql = sub.add_parser("sql", help="print SQL that defines an integration's archive as a view")
    sql.add_argument("name", help="integration name in prism.yaml")
    sql.add_argument("--engine", choices=ENGINES, default="duckdb", help=ENGINE_HELP)
    sql.add_argument(
        "--config", type=Path, default=None, help="default: $PRISM_CONFIG or prism.yaml"
    )
    sql.set_defaults(run=run)
