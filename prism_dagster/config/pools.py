"""The ``pools`` section of prism.yaml: Dagster concurrency pools guarding what we touch.

Every archive asset declares the source's pool (all integrations reading one gateway
database share it); each integration's destination checks declare its destination pool.
Dagster keeps the limits in its instance: ``prism-dagster pools --apply`` sets the ones
configured here with ``dagster instance concurrency set``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import Field, field_validator

from prism_dagster.config.fields import _Strict
from prism_dagster.names import SOURCE_POOL, Named, destination_pool, scoped

#: Source reads running at once, unless prism.yaml says otherwise.
DEFAULT_SOURCE_LIMIT = 2
#: Destination checks (probe writes, read-backs) running at once per destination.
DEFAULT_DESTINATION_LIMIT = 4
_POOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$")


class PoolsConfig(_Strict):
    """Pool names and limits; the limits reach Dagster through ``prism-dagster pools``."""

    #: The source's pool; unset, ``prism_gateway`` in the instance's namespace. A name given
    #: here is taken as written, so instances reading one database can share it.
    source: str | None = None
    source_limit: int = Field(default=DEFAULT_SOURCE_LIMIT, ge=1, le=1000)
    destination_limit: int = Field(default=DEFAULT_DESTINATION_LIMIT, ge=1, le=1000)
    #: Per integration (by name): its destination pool's limit, overriding destination_limit.
    destinations: dict[str, int] = Field(default_factory=dict)

    @field_validator("source")
    @classmethod
    def _pool_name(cls, value: str | None) -> str | None:
        if value is not None and not _POOL_NAME.match(value):
            raise ValueError("must start with a letter and hold only letters, digits, _ . -")
        return value

    @field_validator("destinations")
    @classmethod
    def _positive(cls, value: dict[str, int]) -> dict[str, int]:
        for name, limit in value.items():
            if not 1 <= limit <= 1000:
                raise ValueError(f"{name}: limit must be between 1 and 1000, not {limit}")
        return value

    def source_pool(self, namespace: str) -> str:
        """The pool every archive asset of the instance in ``namespace`` declares."""
        return self.source or scoped(namespace, SOURCE_POOL)

    def limits(self, namespace: str, integrations: Sequence[Named]) -> dict[str, int]:
        """Every pool this configuration declares, with its limit."""
        found = {self.source_pool(namespace): self.source_limit}
        for integration in integrations:
            limit = self.destinations.get(integration.name, self.destination_limit)
            found[destination_pool(integration)] = limit
        return found

    def unknown(self, integrations: list[str]) -> list[str]:
        """Names under ``destinations`` that are no configured integration."""
        return sorted(set(self.destinations) - set(integrations))
