"""Turn prism.yaml entries into Dagster resources (secrets stay ``dg.EnvVar`` references)."""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from prism_dagster.config import (
    AzureIntegration,
    GcsIntegration,
    Integration,
    LocalIntegration,
    PrismConfig,
    S3Integration,
    SpoolSourceConfig,
    resolve,
)
from prism_dagster.destinations import Destination, LocalDestination
from prism_dagster.io_managers import ArchiveIOManager
from prism_dagster.sources import LogSource, SpoolSource
from prism_dagster.status import StatusStore

SOURCE_RESOURCE_KEY = "log_source"
STATUS_RESOURCE_KEY = "prism_status"


class StatusStoreResource(dg.ConfigurableResource):
    """The integration status store (SQLite under $DAGSTER_HOME unless ``url`` is set)."""

    url: str | None = None
    _store: StatusStore | None = PrivateAttr(default=None)

    def store(self) -> StatusStore:
        """The store, opened once."""
        if self._store is None:
            self._store = StatusStore(self.url)
        return self._store


def build_status_resource(config: PrismConfig) -> StatusStoreResource:
    """The status store resource for a configuration."""
    url = config.status_store.url
    return StatusStoreResource(url=None if url is None else resolve(url))


def io_manager_key(integration: Integration) -> str:
    """Resource key of an integration's archive IO manager."""
    return f"archive_io_{integration.name}"


def build_source(config: PrismConfig, live: bool = False) -> LogSource:
    """The configured log source (``live``: resolve ``{env: NAME}`` now, outside Dagster)."""
    source = config.source
    if isinstance(source, SpoolSourceConfig):
        return SpoolSource(path=source.path, bad_records=source.bad_records)
    from prism_dagster.sources.postgres import PostgresSource

    return PostgresSource(
        dsn=resolve(source.dsn, live),
        table=source.table,
        db_schema=source.db_schema,
        organization_id=resolve(source.organization_id, live),
        workspace_id=None if source.workspace_id is None else resolve(source.workspace_id, live),
        columns=source.columns,
        bad_records=source.bad_records,
        connect_timeout_s=source.connect_timeout_s,
        statement_timeout_s=source.statement_timeout_s,
        idle_timeout_s=source.idle_timeout_s,
    )


def _common(integration: Integration) -> dict[str, Any]:
    retry = integration.retry
    return {
        "integration": integration.name,
        "gzip_content_encoding": integration.gzip_content_encoding,
        "retry_attempts": retry.attempts,
        "retry_initial_backoff_s": retry.initial_backoff_s,
        "retry_max_backoff_s": retry.max_backoff_s,
        "retry_timeout_s": retry.give_up_after_s,
        "timeout_s": retry.request_timeout_s,
        "part_size": integration.part_size_mb * 2**20,
    }


def build_destination(integration: Integration, live: bool = False) -> Destination:
    """The destination an integration writes to (cloud SDKs are imported only when used).

    ``live`` resolves ``{env: NAME}`` now, for use outside a Dagster run (the CLI).
    """

    def _opt(value: Any) -> Any:
        return None if value is None else resolve(value, live)

    common = _common(integration)
    if isinstance(integration, LocalIntegration):
        return LocalDestination(path=_opt(integration.path), **common)
    if isinstance(integration, S3Integration):
        from dagster_aws.s3 import S3Resource

        from prism_dagster.destinations.s3 import S3Destination

        s3 = S3Resource(
            region_name=_opt(integration.region),
            endpoint_url=_opt(integration.endpoint_url),
            profile_name=_opt(integration.profile),
            aws_access_key_id=_opt(integration.access_key_id),
            aws_secret_access_key=_opt(integration.secret_access_key),
            aws_session_token=_opt(integration.session_token),
        )
        return S3Destination(bucket=_opt(integration.bucket), s3=s3, **common)
    if isinstance(integration, AzureIntegration):
        from prism_dagster.destinations.azure import AzureDestination

        return AzureDestination(
            container=_opt(integration.container),
            connection_string=_opt(integration.connection_string),
            account_url=_opt(integration.account_url),
            account_key=_opt(integration.account_key),
            sas_token=_opt(integration.sas_token),
            **common,
        )
    if isinstance(integration, GcsIntegration):
        from prism_dagster.destinations.gcs import GcsDestination

        return GcsDestination(
            bucket=_opt(integration.bucket),
            service_account_json=_opt(integration.service_account_json),
            project=_opt(integration.project),
            endpoint_url=_opt(integration.endpoint_url),
            anonymous=integration.anonymous,
            **common,
        )
    raise AssertionError(f"unhandled provider {integration.provider!r}")


def build_io_manager(integration: Integration) -> ArchiveIOManager:
    """The archive IO manager of one integration."""
    return ArchiveIOManager(
        destination=build_destination(integration),
        integration=integration.name,
        prefix=integration.prefix,
        gzip_level=integration.gzip_level,
        max_rows_per_file=integration.max_rows_per_file,
        max_bytes_per_file=integration.max_bytes_per_file,
        lease_wait_s=integration.lease_wait_s,
        lease_ttl_s=integration.lease_ttl_s,
    )
