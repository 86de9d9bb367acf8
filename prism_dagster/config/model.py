"""The whole of prism.yaml: source, integrations, status store, catch-up and late rows."""

from __future__ import annotations

import os
import re
from pathlib import PurePath
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from prism_dagster.config.fields import SECRET_FIELDS, EnvRef, Value, _env_ref, _Strict
from prism_dagster.config.integrations import Integration, archive_root, no_password
from prism_dagster.config.pools import PoolsConfig
from prism_dagster.config.sources import PostgresSourceConfig, SpoolSourceConfig


class StatusStoreConfig(_Strict):
    """Where integration status lives: SQLite under $DAGSTER_HOME unless a URL is given."""

    url: Value | None = None

    @field_validator("url", mode="before")
    @classmethod
    def _url(cls, value: Any) -> Any:
        return no_password(_env_ref(value), "url")


class CatchUpConfig(_Strict):
    """How much missed work one schedule or sensor tick may launch."""

    max_runs_per_tick: int = Field(default=4, ge=1, le=100)
    max_hours_per_run: int = Field(default=24, ge=1, le=24 * 31)


class LateRowsConfig(_Strict):
    """How far back the late-rows sensor compares the source with archived hours."""

    lookback_hours: int = Field(default=48, ge=1, le=24 * 31)
    check_every_minutes: int = Field(default=5, ge=1, le=24 * 60)


#: A namespace: lower-case words joined by single underscores (``team_a``), so that the names
#: built in it (``team_a__archive_prod``) split one way only.
_NAMESPACE = re.compile(r"^([a-z][a-z0-9]*(_[a-z0-9]+)*)?$")


class PrismConfig(_Strict):
    """The whole of prism.yaml (and of a ``PrismArchiveComponent``'s attributes)."""

    #: Prefixes every asset key, job, schedule, sensor, resource and default pool of this
    #: instance, so several instances share one Dagster project. A component defaults it to
    #: its folder's name; "" (the standalone location's default) prefixes nothing.
    namespace: str = ""
    source: Annotated[SpoolSourceConfig | PostgresSourceConfig, Field(discriminator="kind")]
    integrations: list[Integration] = Field(min_length=1)
    status_store: StatusStoreConfig = Field(default_factory=StatusStoreConfig)
    catch_up: CatchUpConfig = Field(default_factory=CatchUpConfig)
    late_rows: LateRowsConfig = Field(default_factory=LateRowsConfig)
    pools: PoolsConfig = Field(default_factory=PoolsConfig)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not _NAMESPACE.match(value):
            raise ValueError(
                "must be lower-case letters and digits in words joined by single underscores "
                f"(for example team_a), not {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> PrismConfig:
        for integration in self.integrations:
            integration._namespace = self.namespace
        seen: set[str] = set()
        for integration in self.integrations:
            if integration.name in seen:
                raise ValueError(f"integration {integration.name!r}: name is used twice")
            seen.add(integration.name)
        problem = shared_destination(self.integrations)
        if problem:
            raise ValueError(problem)
        unknown = self.pools.unknown([i.name for i in self.integrations])
        if unknown:
            raise ValueError(f"pools.destinations names no integration: {', '.join(unknown)}")
        return self

    def in_namespace(self, namespace: str) -> PrismConfig:
        """This configuration in another namespace."""
        copy = self.model_copy(
            update={
                "namespace": self._namespace(namespace),
                "integrations": [i.model_copy() for i in self.integrations],
            }
        )
        for integration in copy.integrations:
            integration._namespace = namespace
        return copy


def shared_destination(integrations: list[Integration]) -> str | None:
    """Why two integrations' archives would overlap, if they would (else None).

    One root inside the other's, however spelled: the outer one's hour folders would hold
    the inner one's objects, and two equal roots write the same keys.
    """
    # Two integrations writing one place would replace each other's manifests and delete
    # each other's batches as stale.
    roots = [(integration, *archive_root(integration)) for integration in integrations]
    for later, (integration, store, folders) in enumerate(roots):
        for other, other_store, other_folders in roots[:later]:
            if store != other_store:
                continue
            if folders == other_folders:
                return (
                    f"integration {integration.name!r}: writes the same destination and prefix "
                    f"as {other.name!r} ({_place(store, folders)}); "
                    "give each integration its own prefix"
                )
            pair = sorted([(folders, integration.name), (other_folders, other.name)])
            (outer, outer_name), (inner, inner_name) = pair
            if inner[: len(outer)] == outer:
                return (
                    f"integration {integration.name!r}: its archive overlaps that of "
                    f"{other.name!r}: the archive of {inner_name!r} ({_place(store, inner)}) "
                    f"lies inside that of {outer_name!r} ({_place(store, outer)}), whose runs "
                    "would take its files for their own; give each integration a prefix "
                    "outside the other's"
                )
    return None


def _place(store: tuple[str, ...], folders: tuple[str, ...]) -> str:
    """An archive root as the operator knows it: a folder, or ``s3://bucket/key at endpoint``."""
    if store == ("local",):
        return str(PurePath(*folders))
    provider, endpoint, bucket = store
    return f"{provider}://{bucket}/{'/'.join(folders)}" + (f" at {endpoint}" if endpoint else "")


def secret_env_values(config: PrismConfig) -> list[str]:
    """Current values of every environment variable that holds a secret, to scrub messages."""
    names = {
        value.name
        for integration in config.integrations
        for key, value in integration
        if key in SECRET_FIELDS and isinstance(value, EnvRef)
    }
    names |= {i.fields.salt.name for i in config.integrations if i.fields.salt is not None}
    if isinstance(config.status_store.url, EnvRef):
        names.add(config.status_store.url.name)
    if isinstance(config.source, PostgresSourceConfig):
        names.add(config.source.dsn.name)
    return [os.environ[name] for name in sorted(names) if os.environ.get(name)]
