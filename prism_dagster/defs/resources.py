"""Resources, chosen in one place: the source, the status store, and per integration its
destination and archive IO manager. Secrets stay ``dg.EnvVar`` references until Dagster
starts a resource; the command line starts them the same way (``live``)."""

from __future__ import annotations

import os
from typing import Any, TypeVar

import dagster as dg
from pydantic import PrivateAttr

from prism_dagster.archive.archive import Archive
from prism_dagster.config import Integration, PrismConfig, resolve
from prism_dagster.defs.io_manager import ArchiveIOManager
from prism_dagster.destinations.base import Destination
from prism_dagster.errors import ConfigError
from prism_dagster.lifecycle.status import StatusStore
from prism_dagster.names import (
    destination_key,
    io_manager_key,
    source_resource_key,
    status_resource_key,
)

R = TypeVar("R", bound=dg.ConfigurableResource)


class StatusStoreResource(dg.ConfigurableResource):
    """The integration status store (SQLite under $DAGSTER_HOME unless ``url`` is set)."""

    url: str | None = None
    _store: StatusStore | None = PrivateAttr(default=None)

    def store(self) -> StatusStore:
        """The store, opened once."""
        if self._store is None:
            self._store = StatusStore(self.url)
        return self._store


def build_resources(config: PrismConfig) -> dict[str, Any]:
    """Every resource of the code location, by key."""
    resources: dict[str, Any] = {
        source_resource_key(config.namespace): config.source.log_source(),
        status_resource_key(config.namespace): status_resource(config),
    }
    for integration in config.integrations:
        destination = integration.destination()
        resources[destination_key(integration)] = destination
        resources[io_manager_key(integration)] = archive_io_manager(integration, destination)
    return resources


def archive_io_manager(integration: Integration, destination: Destination) -> ArchiveIOManager:
    """The IO manager writing an integration's archive: how prism.yaml reaches the writer.

    Its settings hold the fields policy's salt as ``dg.EnvVar``, read when it is started.
    """
    return ArchiveIOManager(
        destination=destination,
        integration=integration.name,
        prefix=integration.prefix,
        settings=integration.write_settings(),
    )


def status_resource(config: PrismConfig) -> StatusStoreResource:
    """The status store resource for a configuration."""
    url = config.status_store.url
    return StatusStoreResource(url=resolve(url))


def _env_names(value: Any) -> list[str]:
    if isinstance(value, dg.EnvVar):
        return [value.env_var_name]
    if isinstance(value, dg.ConfigurableResource | dg.Config):
        return [name for field in value.__dict__.values() for name in _env_names(field)]
    return []


def live(resource: R) -> R:
    """``resource`` started as Dagster starts it in a run: ``dg.EnvVar`` values read now.

    For the command line, outside any run; an unset variable is a ConfigError naming it.
    """
    missing = sorted({name for name in _env_names(resource) if name not in os.environ})
    if missing:
        raise ConfigError(f"environment variable {missing[0]} is not set (see prism.yaml)")
    with dg.build_resources({"resource": resource}) as started:
        return started.resource


def live_archive(integration: Integration) -> Archive:
    """An integration's archive with its destination started, for the command line.

    The fields policy's salt is not read: the command line only reads archives, which needs
    no salt (each manifest lists its hour's columns); writing records through it would refuse.
    """
    return Archive(
        integration.name,
        live(integration.destination()),
        integration.prefix,
        integration.write_settings(),
    )
