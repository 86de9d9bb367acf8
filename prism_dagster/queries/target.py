"""An integration's archive as a query engine reaches it: which engine fits, and where it is."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.request import url2pathname

from prism_dagster.archive import layout
from prism_dagster.archive.archive import Archive
from prism_dagster.archive.redaction import FieldPolicy
from prism_dagster.config import EnvRef, Integration
from prism_dagster.errors import PrismError
from prism_dagster.queries.engines import ENGINES, FITS, STORES, fitting_engines

#: Fields that say where the archive is. An ``{env: NAME}`` there is read now (the SQL must
#: name the real place); credentials never are: the SQL names their variables instead.
LOCATION_FIELDS = (
    "path",
    "bucket",
    "region",
    "endpoint_url",
    "profile",
    "container",
    "account_url",
    "project",
)


class QueryError(PrismError):
    """No definition fits: the engine cannot read this provider, or the location is unknown."""


@dataclass(frozen=True)
class Target:
    """One integration's archive, with its location fields resolved."""

    integration: Integration
    archive: Archive

    @property
    def name(self) -> str:
        return self.integration.name

    @property
    def provider(self) -> str:
        return self.integration.provider

    def logs_uri(self) -> str:
        """Where every hour lives: ``s3://bucket/prefix/logs/``, ``https://…``, ``file://…``."""
        return self.archive.uri()

    def logs_path(self) -> str:
        """A local archive's ``logs/`` folder as a plain path ending in ``/``."""
        return url2pathname(urlsplit(self.logs_uri()).path).rstrip("/") + "/"

    def where(self) -> str:
        """Where every hour lives, as the engine's user would write it (a path when local)."""
        return self.logs_path() if self.provider == "local" else self.logs_uri()

    def logs_key(self) -> str:
        """The ``logs/`` folder as an object key prefix inside the bucket or container."""
        return layout.logs_folder(self.integration.prefix)

    def prefix_uri(self) -> str:
        """The integration's own folder as a URI."""
        return self.archive.prefix_uri()

    @property
    def policy(self) -> FieldPolicy:
        """The integration's fields policy: which fields its lines hold (no salt: none needed)."""
        return self.integration.fields.policy()

    def value(self, field: str) -> str | None:
        """A resolved location field (None when not set)."""
        value = getattr(self.integration, field, None)
        return None if value is None else str(value)

    def env_name(self, field: str) -> str | None:
        """The variable a credential field is read from (credentials are always ``{env}``)."""
        value = getattr(self.integration, field, None)
        return value.name if isinstance(value, EnvRef) else None


def _resolved(integration: Integration) -> Integration:
    update = {}
    for field in LOCATION_FIELDS:
        value = getattr(integration, field, None)
        if isinstance(value, EnvRef):
            if value.name not in os.environ:
                raise QueryError(
                    f"integration {integration.name!r}: {field} is read from ${value.name}, "
                    "which is not set here; set it to print SQL for the real location"
                )
            update[field] = os.environ[value.name]
    return integration.model_copy(update=update)


def target(integration: Integration, engine: str) -> Target:
    """The integration's archive for ``engine``, or a QueryError naming the engines that fit."""
    if engine not in FITS:
        raise QueryError(f"unknown engine {engine!r} (one of: {', '.join(ENGINES)})")
    provider = integration.provider
    if provider not in FITS[engine]:
        others = " or ".join(f"--engine {e}" for e in fitting_engines(provider))
        readable = ", ".join(STORES[p] for p in FITS[engine])
        raise QueryError(
            f"{engine} cannot read integration {integration.name!r}: it archives to "
            f"{STORES[provider]}, and {engine} reads {readable} only. Use {others}."
        )
    if "*" in integration.prefix:
        raise QueryError(
            f"integration {integration.name!r}: prefix {integration.prefix!r} holds '*', "
            "which query engines read as a wildcard"
        )
    resolved = _resolved(integration)
    archive = Archive(integration.name, resolved.destination(), integration.prefix)
    return Target(resolved, archive)


def header(target: Target, engine: str) -> list[str]:
    """The comment lines every definition starts with (and the fields policy, if any)."""
    lines = [
        f"-- prism-dagster sql {target.name} --engine {engine}",
        f"-- Integration {target.name!r} ({target.provider}): every archived hour under",
        f"--   {target.where()}",
    ]
    policy = target.policy
    if policy.exclude:
        lines.append(f"-- Fields excluded from the archive: {', '.join(policy.exclude)}.")
    if policy.hash:
        lines.append(f"-- Fields written as HMAC-SHA256 hashes: {', '.join(policy.hash)}")
        lines.append("--   (lower-case hex, keyed with the integration's salt; empty stays empty).")
    return lines
