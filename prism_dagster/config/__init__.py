"""prism.yaml: the models that validate it (``model``, ``sources``, ``integrations``,
``fields``, ``redaction``), reading it (``loading``) and the embedded default (``defaults``)."""

from prism_dagster.config.fields import EnvRef, parse_hour, resolve
from prism_dagster.config.integrations import (
    AzureIntegration,
    GcsIntegration,
    History,
    Integration,
    LocalIntegration,
    S3Integration,
    destination_identity,
)
from prism_dagster.config.loading import (
    CONFIG_ENV,
    config_path,
    find_integration,
    load_config,
    parse_config,
)
from prism_dagster.config.model import CatchUpConfig, PrismConfig, secret_env_values
from prism_dagster.config.redaction import FieldsConfig
from prism_dagster.config.sources import PostgresSourceConfig, SpoolSourceConfig

__all__ = [
    "CONFIG_ENV",
    "AzureIntegration",
    "CatchUpConfig",
    "EnvRef",
    "FieldsConfig",
    "GcsIntegration",
    "History",
    "Integration",
    "LocalIntegration",
    "PostgresSourceConfig",
    "PrismConfig",
    "S3Integration",
    "SpoolSourceConfig",
    "config_path",
    "destination_identity",
    "find_integration",
    "load_config",
    "parse_config",
    "parse_hour",
    "resolve",
    "secret_env_values",
]
