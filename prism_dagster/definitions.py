"""The standalone code location (``workspace.yaml``, ``make dev``): ``prism.yaml`` (or the
embedded demo configuration) through the same component a Dagster project uses."""

from __future__ import annotations

from prism_dagster.build import build_definitions
from prism_dagster.component import PrismArchiveComponent
from prism_dagster.config import PrismConfig, config_path, load_config
from prism_dagster.config.defaults import default_config

__all__ = ["build_definitions", "defs"]


def _load() -> PrismConfig:
    # Without prism.yaml the location still loads, on the embedded default the demo uses.
    return load_config() if config_path().exists() else default_config()


defs = PrismArchiveComponent(_load()).definitions()
