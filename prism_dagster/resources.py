"""Turn prism.yaml entries into Dagster resources (secrets stay ``dg.EnvVar`` references)."""

from __future__ import annotations

from prism_dagster.config import Integration, PrismConfig, resolve
from prism_dagster.destinations import Destination, LocalDestination
from prism_dagster.io_managers import ArchiveIOManager
from prism_dagster.sources import LogSource, SpoolSource

SOURCE_RESOURCE_KEY = "log_source"


def io_manager_key(integration: Integration) -> str:
    """Resource key of an integration's archive IO manager."""
    return f"archive_io_{integration.name}"


def build_source(config: PrismConfig) -> LogSource:
    """The configured log source."""
    source = config.source
    return SpoolSource(path=source.path, bad_records=source.bad_records)


def build_destination(integration: Integration) -> Destination:
    """The destination an integration writes to."""
    return LocalDestination(path=resolve(integration.path))


def build_io_manager(integration: Integration) -> ArchiveIOManager:
    """The archive IO manager of one integration."""
    return ArchiveIOManager(
        destination=build_destination(integration),
        integration=integration.name,
        prefix=integration.prefix,
        gzip_level=integration.gzip_level,
        max_rows_per_file=integration.max_rows_per_file,
        max_bytes_per_file=integration.max_bytes_per_file,
    )
