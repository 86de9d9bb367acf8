"""The prism-dagster command line."""

from prism_dagster.cli.main import main

__all__ = ["main"]
