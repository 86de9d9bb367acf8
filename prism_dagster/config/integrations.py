"""Integrations in prism.yaml: one model per provider, each building its own destination."""

from __future__ import annotations

import ipaddress
import os
import re
from abc import abstractmethod
from datetime import datetime
from pathlib import PurePath
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, field_validator, model_validator

from prism_dagster.archive import layout
from prism_dagster.archive.settings import WriteFields, WriteSettings
from prism_dagster.config.fields import (
    _NAME,
    _PREFIX_SEGMENT,
    EnvRef,
    Value,
    _Strict,
    _with_env_refs,
    parse_hour,
    resolve,
    shown,
)
from prism_dagster.config.redaction import FieldsConfig
from prism_dagster.destinations.base import Destination
from prism_dagster.destinations.settings import DestinationFields, DestinationSettings


class History(_Strict):
    """Archive hours from ``since`` on first load (a catch-up backfill)."""

    since: datetime

    @field_validator("since", mode="before")
    @classmethod
    def _since(cls, value: Any) -> datetime:
        return parse_hour(value)


class IntegrationBase(WriteFields, DestinationFields, _Strict):
    """Fields every integration has, whatever its provider.

    How files are written (``WriteFields``) and uploaded (``DestinationFields``) are
    declared once, there, with their defaults and ranges; prism.yaml spells them flat.
    """

    name: str
    prefix: str = ""
    start: datetime
    sync_interval: Literal[1, 2, 6, 12, 24] = 1
    grace_minutes: int = Field(default=10, ge=0, le=59)
    history: Literal["none"] | History = "none"
    #: Shown as the archive asset's owners in the catalog: emails or ``team:name``.
    owners: list[str] = Field(default_factory=list)
    #: Record fields left out or written as salted hashes (``config.redaction``).
    fields: FieldsConfig = Field(default_factory=FieldsConfig)
    # Set by the configuration that holds it (``PrismConfig.namespace``), never by YAML.
    _namespace: str = PrivateAttr(default="")

    @property
    def namespace(self) -> str:
        """The namespace of the plugin instance this integration belongs to ("" standalone)."""
        return self._namespace

    @model_validator(mode="before")
    @classmethod
    def _env_refs(cls, raw: Any) -> Any:
        return _with_env_refs(raw)

    def write_settings(self) -> WriteSettings:
        """This integration's write settings, as the archive takes them."""
        fields = set(WriteFields.model_fields)
        return WriteSettings.model_validate(
            {**self.model_dump(include=fields), "fields": self.fields.settings()}
        )

    def destination_settings(self) -> DestinationSettings:
        """This integration's upload settings, as its destination takes them."""
        fields = set(DestinationFields.model_fields)
        return DestinationSettings.model_validate(self.model_dump(include=fields))

    @abstractmethod
    def destination(self) -> Destination:
        """The destination resource this integration writes to (secrets as ``dg.EnvVar``)."""

    def _common(self) -> dict[str, Any]:
        return {"integration": self.name, "settings": self.destination_settings()}

    @property
    def first_hour(self) -> datetime:
        """The first hourly partition: ``start``, or ``history.since`` if that is earlier."""
        if isinstance(self.history, History):
            return min(self.start, self.history.since)
        return self.start

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must start with a letter and hold only letters, digits and _")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value.startswith("/"):
            raise ValueError("must not start with '/'")
        value = value.rstrip("/")
        for segment in value.split("/") if value else []:
            if segment in ("", ".", ".."):
                raise ValueError(f"must not contain an empty, '.' or '..' segment ({value!r})")
            if not _PREFIX_SEGMENT.match(segment):
                raise ValueError(
                    f"segment {segment!r} has characters object stores reject; "
                    "use letters, digits and ! _ . * ' ( ) = -"
                )
        return value

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, value: Any) -> datetime:
        return parse_hour(value)


class LocalIntegration(IntegrationBase):
    """A local folder as the bucket."""

    provider: Literal["local"]
    path: Value

    def destination(self) -> Destination:
        from prism_dagster.destinations.local import LocalDestination

        return LocalDestination(path=resolve(self.path), **self._common())


class S3Integration(IntegrationBase):
    """An S3 bucket; without keys, the standard AWS credential chain (role, IRSA, profile)."""

    provider: Literal["s3"]
    bucket: Value
    region: Value
    access_key_id: Value | None = None
    secret_access_key: EnvRef | None = None
    session_token: EnvRef | None = None
    endpoint_url: Value | None = None
    profile: Value | None = None
    #: Server-side encryption asked of S3 on every object: SSE-S3 or SSE-KMS.
    sse: Literal["AES256", "aws:kms"] | None = None
    #: The KMS key (id, ARN or alias ARN) for ``sse: aws:kms``; else the account's aws/s3 key.
    kms_key_id: Value | None = None
    #: With ``aws:kms``: an S3 Bucket Key, so S3 calls KMS per bucket, not per object.
    bucket_key: bool = True
    #: Check a plain upload's ETag is its MD5 too; off for S3-compatible stores whose ETags
    #: are not MD5s (some encrypt, some hash parts otherwise). S3's own SHA-256 check stays.
    check_etag: bool = True

    def destination(self) -> Destination:
        from dagster_aws.s3 import S3Resource

        from prism_dagster.destinations.s3 import S3Destination

        s3 = S3Resource(
            region_name=resolve(self.region),
            endpoint_url=resolve(self.endpoint_url),
            profile_name=resolve(self.profile),
            aws_access_key_id=resolve(self.access_key_id),
            aws_secret_access_key=resolve(self.secret_access_key),
            aws_session_token=resolve(self.session_token),
        )
        return S3Destination(
            bucket=resolve(self.bucket),
            s3=s3,
            sse=self.sse,
            kms_key_id=resolve(self.kms_key_id),
            bucket_key=self.bucket_key,
            check_etag=self.check_etag,
            **self._common(),
        )

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_url(cls, value: Value | None) -> Value | None:
        return no_password(value, "endpoint_url")

    @model_validator(mode="after")
    def _keys_in_pairs(self) -> S3Integration:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        if self.kms_key_id is not None and self.sse != "aws:kms":
            raise ValueError("kms_key_id needs sse: aws:kms")
        return self


class AzureIntegration(IntegrationBase):
    """An Azure Blob container: connection string, or account URL with key, SAS or identity."""

    provider: Literal["azure"]
    container: Value
    connection_string: EnvRef | None = None
    account_url: Value | None = None
    account_key: EnvRef | None = None
    sas_token: EnvRef | None = None
    #: A storage account encryption scope (its own Key Vault key) for every blob written.
    encryption_scope: Value | None = None
    #: A customer-provided AES-256 key, base64, sent with every request and never stored.
    encryption_key: EnvRef | None = None

    def destination(self) -> Destination:
        from prism_dagster.destinations.azure import AzureDestination

        return AzureDestination(
            container=resolve(self.container),
            connection_string=resolve(self.connection_string),
            account_url=resolve(self.account_url),
            account_key=resolve(self.account_key),
            sas_token=resolve(self.sas_token),
            encryption_scope=resolve(self.encryption_scope),
            encryption_key=resolve(self.encryption_key),
            **self._common(),
        )

    @field_validator("account_url")
    @classmethod
    def _no_sas_in_url(cls, value: Value | None) -> Value | None:
        if isinstance(value, str) and "?" in value:
            raise ValueError("must not carry a query string; put a SAS in sas_token: {env: NAME}")
        return no_password(value, "account_url")

    @model_validator(mode="after")
    def _one_credential(self) -> AzureIntegration:
        if (self.connection_string is None) == (self.account_url is None):
            raise ValueError("give connection_string, or account_url, but not both")
        if self.account_key is not None and self.sas_token is not None:
            raise ValueError("give account_key or sas_token, not both")
        if self.connection_string is not None and (self.account_key or self.sas_token):
            raise ValueError("account_key and sas_token go with account_url, not connection_string")
        if self.encryption_scope is not None and self.encryption_key is not None:
            raise ValueError("give encryption_scope or encryption_key, not both")
        return self


class GcsIntegration(IntegrationBase):
    """A GCS bucket: a service account key from an env var, else application default credentials."""

    provider: Literal["gcs"]
    bucket: Value
    service_account_json: EnvRef | None = None
    project: Value | None = None
    endpoint_url: Value | None = None
    anonymous: bool = False  # unauthenticated, for emulators only
    #: A Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) for every object (CMEK).
    kms_key_name: Value | None = None

    def destination(self) -> Destination:
        from prism_dagster.destinations.gcs import GcsDestination

        return GcsDestination(
            bucket=resolve(self.bucket),
            service_account_json=resolve(self.service_account_json),
            project=resolve(self.project),
            endpoint_url=resolve(self.endpoint_url),
            anonymous=self.anonymous,
            kms_key_name=resolve(self.kms_key_name),
            **self._common(),
        )

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_url(cls, value: Value | None) -> Value | None:
        return no_password(value, "endpoint_url")


Integration = Annotated[
    LocalIntegration | S3Integration | AzureIntegration | GcsIntegration,
    Field(discriminator="provider"),
]


PROVIDERS: tuple[str, ...] = ("local", "s3", "azure", "gcs")


def no_password(value: Value | None, field: str) -> Value | None:
    """``value``, unless it is a literal URL carrying a password (``http://user:secret@…``)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            password = urlsplit(text if "://" in text else f"//{text}").password
        except ValueError:
            password = None  # not a URL we can read: the SDK will say so, with no secret in it
        if password:
            raise ValueError(
                "holds a password: secrets are never written in prism.yaml; "
                f"use {field}: {{env: NAME}} and set the variable"
            )
    return value


def _plain(value: Value | None) -> str:
    return shown(value) or ""


#: S3's own endpoints, whatever the region or spelling: one bucket namespace per partition.
_AWS_S3 = re.compile(r"^(?:[a-z0-9.-]+\.)?s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com(\.cn)?$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host(host: str) -> str:
    host = host.lower().rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "localhost" if host == "localhost" else host
    # 127.0.0.1, ::1 and localhost reach one server: one spelling for all of them.
    return "localhost" if address.is_loopback or address.is_unspecified else address.compressed


def _endpoint(url: str, default: str) -> str:
    """One spelling per server: case, trailing dots and ``/``, default ports, loopback
    aliases and S3's regional or legacy endpoints all fold into it."""
    parts = urlsplit(url.strip() or default)
    host = _host(parts.hostname or "")
    match = _AWS_S3.match(host)
    if match:
        return "aws-cn" if match.group(1) else "aws"
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        port = None  # an unreadable port: the SDK refuses it when the resource starts
    return f"{host}:{port}{parts.path.rstrip('/')}" if port else f"{host}{parts.path.rstrip('/')}"


def destination_identity(integration: Integration) -> tuple[str, ...]:
    """Where an integration's objects really land, after env values and aliases resolve:
    (provider, endpoint or folder, bucket or container, prefix).

    ``X`` and ``X/.``, a relative and an absolute path, a literal bucket and an ``{env}``
    naming it, endpoint spellings of one server (see ``_endpoint``) all give one identity.
    """
    prefix = integration.prefix.strip("/")
    if isinstance(integration, LocalIntegration):
        path = os.path.expanduser(_plain(integration.path))
        # A relative folder means "next to prism.yaml": compared once load_config anchors it,
        # never against whatever the working directory happens to be.
        real = os.path.realpath(path) if os.path.isabs(path) else os.path.normpath(path)
        return ("local", real, prefix)
    if isinstance(integration, S3Integration):
        endpoint = _endpoint(_plain(integration.endpoint_url), "https://s3.amazonaws.com")
        return ("s3", endpoint, _plain(integration.bucket), prefix)
    if isinstance(integration, GcsIntegration):
        endpoint = _endpoint(_plain(integration.endpoint_url), "https://storage.googleapis.com")
        return ("gcs", endpoint, _plain(integration.bucket), prefix)
    if integration.connection_string is not None:
        from prism_dagster.destinations.azure import blob_endpoint

        account = blob_endpoint(_plain(integration.connection_string))
    else:
        account = _plain(integration.account_url)
    return ("azure", _endpoint(account, ""), _plain(integration.container), prefix)


def archive_root(integration: Integration) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the store, the folders down to the archive's root): where every hour lives.

    Two archives overlap when they share a store and one's folders start with the other's:
    then one's hour folders hold the other's objects.
    """
    *store, prefix = destination_identity(integration)
    logs = tuple(layout.logs_dir(prefix).split("/"))
    if isinstance(integration, LocalIntegration):
        # A path/prefix split (X + p/q, X/p + q) is one folder: compare whole paths.
        return ("local",), PurePath(store[1]).parts + logs
    return tuple(store), logs
