"""prism.yaml: the source and the integrations, validated at load with operator-grade errors."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import dagster as dg
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from prism_dagster.errors import ConfigError
from prism_dagster.lease import DEFAULT_LEASE_TTL_S, DEFAULT_LEASE_WAIT_S

CONFIG_ENV = "PRISM_CONFIG"
DEFAULT_CONFIG_FILE = "prism.yaml"
# Characters every object store accepts in a key without escaping (S3's "safe" set plus =).
_PREFIX_SEGMENT = re.compile(r"^[A-Za-z0-9!_.*'()=-]+$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class EnvRef:
    """A value read from an environment variable at run time (``{env: NAME}`` in YAML)."""

    name: str


def _env_ref(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"env"}:
        if not isinstance(value["env"], str) or not value["env"]:
            raise ValueError("{env: NAME} needs a variable name")
        return EnvRef(value["env"])
    return value


def _with_env_refs(raw: Any) -> Any:
    """Every ``{env: NAME}`` as an EnvRef; a literal value in a secret field is refused."""
    if not isinstance(raw, dict):
        return raw
    values = {key: _env_ref(value) for key, value in raw.items()}
    for key in SECRET_FIELDS & values.keys():
        if values[key] is not None and not isinstance(values[key], EnvRef):
            raise ValueError(
                f"field {key!r}: secrets are never written in prism.yaml; "
                f"use {{env: NAME}} and set the variable"
            )
    return values


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


def parse_hour(value: Any) -> datetime:
    """``2026-03-01``, ``2026-03-01T00`` or a full ISO time on the hour, as a UTC datetime."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip().replace("Z", "+00:00")
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}", text):
            text += ":00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an ISO date or hour such as 2026-03-01T00") from exc
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    if moment.minute or moment.second or moment.microsecond:
        raise ValueError(f"{value!r} is not on the hour")
    return moment.astimezone(UTC)


class SpoolSourceConfig(_Strict):
    """The embedded default: a folder of gateway NDJSON files."""

    kind: Literal["spool"]
    path: str
    bad_records: Literal["keep", "fail"] = "keep"


class RetryConfig(_Strict):
    """How transient failures (5xx, throttling, timeouts, network) are retried."""

    # A cap only: retrying normally stops at give_up_after_s, which 30 attempts outlast.
    attempts: int = Field(default=30, ge=1, le=100)
    initial_backoff_s: float = Field(default=0.5, gt=0)
    max_backoff_s: float = Field(default=20.0, gt=0)
    give_up_after_s: float = Field(default=120.0, gt=0)
    request_timeout_s: float = Field(default=60.0, gt=0)


Value = str | EnvRef
#: Fields that hold credentials: only ever ``{env: NAME}``, never a literal in the file.
SECRET_FIELDS = frozenset(
    {
        "secret_access_key",
        "session_token",
        "connection_string",
        "account_key",
        "sas_token",
        "service_account_json",
        "dsn",
    }
)


SYNC_INTERVALS = (1, 2, 6, 12, 24)


class History(_Strict):
    """Archive hours from ``since`` on first load (a catch-up backfill)."""

    since: datetime

    @field_validator("since", mode="before")
    @classmethod
    def _since(cls, value: Any) -> datetime:
        return parse_hour(value)


class PostgresSourceConfig(_Strict):
    """The gateway's request-log table in PostgreSQL (read-only: SELECT is all it needs)."""

    kind: Literal["postgres"]
    dsn: EnvRef
    table: str = "agentcc_request_log"
    db_schema: str = "public"
    organization_id: Value
    workspace_id: Value | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    bad_records: Literal["keep", "fail"] = "keep"
    # The one place these defaults are declared; PostgresSource takes its own from here.
    connect_timeout_s: int = Field(
        default=10, ge=2, le=600, description="Give up connecting after this many seconds."
    )
    statement_timeout_s: int = Field(
        default=600, ge=1, description="The server cancels a query running longer than this."
    )
    idle_timeout_s: int = Field(
        default=60, ge=1, description="Fail a read that receives nothing for this many seconds."
    )

    @model_validator(mode="before")
    @classmethod
    def _env_refs(cls, raw: Any) -> Any:
        return _with_env_refs(raw)

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, value: dict[str, str]) -> dict[str, str]:
        from prism_dagster.sources.postgres import DEFAULT_COLUMNS

        unknown = sorted(set(value) - set(DEFAULT_COLUMNS))
        if unknown:
            raise ValueError(f"unknown column name(s) {unknown}; known: {sorted(DEFAULT_COLUMNS)}")
        return value


class IntegrationBase(_Strict):
    """Fields every integration has, whatever its provider."""

    name: str
    prefix: str = ""
    start: datetime
    sync_interval: Literal[1, 2, 6, 12, 24] = 1
    grace_minutes: int = Field(default=10, ge=0, le=59)
    history: Literal["none"] | History = "none"
    gzip_level: int = Field(default=6, ge=1, le=9)
    max_rows_per_file: int = Field(default=1_000_000, ge=1)
    max_bytes_per_file: int | None = Field(default=None, ge=1024)
    lease_wait_s: float = Field(default=DEFAULT_LEASE_WAIT_S, ge=0, le=3600)
    lease_ttl_s: float = Field(default=DEFAULT_LEASE_TTL_S, ge=60, le=24 * 3600)
    gzip_content_encoding: bool = False
    part_size_mb: int = Field(default=8, ge=5, le=512)
    retry: RetryConfig = Field(default_factory=RetryConfig)

    @model_validator(mode="before")
    @classmethod
    def _env_refs(cls, raw: Any) -> Any:
        return _with_env_refs(raw)

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

    @model_validator(mode="after")
    def _keys_in_pairs(self) -> S3Integration:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        return self


class AzureIntegration(IntegrationBase):
    """An Azure Blob container: connection string, or account URL with key, SAS or identity."""

    provider: Literal["azure"]
    container: Value
    connection_string: EnvRef | None = None
    account_url: Value | None = None
    account_key: EnvRef | None = None
    sas_token: EnvRef | None = None

    @field_validator("account_url")
    @classmethod
    def _no_sas_in_url(cls, value: Value | None) -> Value | None:
        if isinstance(value, str) and "?" in value:
            raise ValueError("must not carry a query string; put a SAS in sas_token: {env: NAME}")
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> AzureIntegration:
        if (self.connection_string is None) == (self.account_url is None):
            raise ValueError("give connection_string, or account_url, but not both")
        if self.account_key is not None and self.sas_token is not None:
            raise ValueError("give account_key or sas_token, not both")
        if self.connection_string is not None and (self.account_key or self.sas_token):
            raise ValueError("account_key and sas_token go with account_url, not connection_string")
        return self


class GcsIntegration(IntegrationBase):
    """A GCS bucket: a service account key from an env var, else application default credentials."""

    provider: Literal["gcs"]
    bucket: Value
    service_account_json: EnvRef | None = None
    project: Value | None = None
    endpoint_url: Value | None = None
    anonymous: bool = False  # unauthenticated, for emulators only


Integration = Annotated[
    LocalIntegration | S3Integration | AzureIntegration | GcsIntegration,
    Field(discriminator="provider"),
]
PROVIDERS: tuple[str, ...] = ("local", "s3", "azure", "gcs")


class StatusStoreConfig(_Strict):
    """Where integration status lives: SQLite under $DAGSTER_HOME unless a URL is given."""

    url: Value | None = None

    @field_validator("url", mode="before")
    @classmethod
    def _url(cls, value: Any) -> Any:
        value = _env_ref(value)
        if isinstance(value, str) and urlsplit(value).password:
            raise ValueError(
                "holds a password: secrets are never written in prism.yaml; "
                "use url: {env: NAME} and set the variable"
            )
        return value


class CatchUpConfig(_Strict):
    """How much missed work one schedule or sensor tick may launch."""

    max_runs_per_tick: int = Field(default=4, ge=1, le=100)
    max_hours_per_run: int = Field(default=24, ge=1, le=24 * 31)


class LateRowsConfig(_Strict):
    """How far back the late-rows sensor compares the source with archived hours."""

    lookback_hours: int = Field(default=48, ge=1, le=24 * 31)
    check_every_minutes: int = Field(default=5, ge=1, le=24 * 60)


class PrismConfig(_Strict):
    """The whole of prism.yaml."""

    source: Annotated[SpoolSourceConfig | PostgresSourceConfig, Field(discriminator="kind")]
    integrations: list[Integration] = Field(min_length=1)
    status_store: StatusStoreConfig = Field(default_factory=StatusStoreConfig)
    catch_up: CatchUpConfig = Field(default_factory=CatchUpConfig)
    late_rows: LateRowsConfig = Field(default_factory=LateRowsConfig)

    @model_validator(mode="after")
    def _unique_names(self) -> PrismConfig:
        seen: set[str] = set()
        for integration in self.integrations:
            if integration.name in seen:
                raise ValueError(f"integration {integration.name!r}: name is used twice")
            seen.add(integration.name)
        problem = shared_destination(self.integrations)
        if problem:
            raise ValueError(problem)
        return self


def _plain(value: Value | None) -> str:
    """A value as it will be at run time: an env var's value when it is set, else its name."""
    if isinstance(value, EnvRef):
        return os.environ.get(value.name, f"${{{value.name}}}")
    return "" if value is None else str(value)


def _endpoint(url: str, default: str) -> str:
    parts = urlsplit(url.strip() or default)
    port = f":{parts.port}" if parts.port else ""
    return (
        f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}{port}{parts.path.rstrip('/')}"
    )


def destination_identity(integration: Integration) -> tuple[str, ...]:
    """Where an integration's objects really land, after env values and aliases resolve.

    ``X`` and ``X/.``, a relative and an absolute path, a literal bucket and an ``{env}``
    naming it, an endpoint with and without a trailing ``/`` all give one identity.
    """
    prefix = integration.prefix.strip("/")
    if isinstance(integration, LocalIntegration):
        return ("local", os.path.realpath(os.path.expanduser(_plain(integration.path))), prefix)
    if isinstance(integration, S3Integration):
        endpoint = _endpoint(_plain(integration.endpoint_url), "https://s3.amazonaws.com")
        return ("s3", endpoint, _plain(integration.bucket), prefix)
    if isinstance(integration, GcsIntegration):
        endpoint = _endpoint(_plain(integration.endpoint_url), "https://storage.googleapis.com")
        return ("gcs", endpoint, _plain(integration.bucket), prefix)
    if integration.connection_string is not None:
        pairs = dict(
            part.split("=", 1)
            for part in _plain(integration.connection_string).split(";")
            if "=" in part
        )
        account = pairs.get("BlobEndpoint") or (
            f"https://{pairs.get('AccountName', '')}.blob.core.windows.net"
        )
    else:
        account = _plain(integration.account_url)
    return ("azure", _endpoint(account, ""), _plain(integration.container), prefix)


def shared_destination(integrations: list[Integration]) -> str | None:
    """Why two integrations would write the same place, if they would (else None)."""
    places: dict[tuple[str, ...], str] = {}
    for integration in integrations:
        # Two integrations writing one prefix would delete each other's batches as stale.
        place = destination_identity(integration)
        if place in places:
            return (
                f"integration {integration.name!r}: writes the same destination and prefix as "
                f"{places[place]!r} ({' '.join(p for p in place if p)}); "
                "give each integration its own prefix"
            )
        places[place] = integration.name
    return None


def _describe(error: dict[str, Any], raw: dict[str, Any]) -> str:
    loc = list(error["loc"])
    where = "prism.yaml"
    if loc[:1] == ["integrations"] and len(loc) > 1 and isinstance(loc[1], int):
        entry = (raw.get("integrations") or [])[loc[1]]
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"integration {name!r}" if name else f"integration #{loc[1] + 1}"
        loc = [part for part in loc[2:] if part not in PROVIDERS]
    elif loc[:1] == ["source"]:
        where, loc = "source", [part for part in loc[1:] if part not in ("spool", "postgres")]
    if error["type"] == "union_tag_invalid":
        ctx = error["ctx"]
        kind = ctx["discriminator"].strip("'")
        return f"{where}: unknown {kind} {ctx['tag']!r} (expected one of: {ctx['expected_tags']})"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "required field is missing"
    if not loc:
        return message if where == "prism.yaml" else f"{where}: {message}"
    field = ".".join(str(part) for part in loc)
    return f"{where}: field {field!r}: {message}"


def parse_config(raw: Any, origin: str = "prism.yaml") -> PrismConfig:
    """Validate a parsed YAML document; raise ConfigError naming integration and field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: expected a mapping with 'source' and 'integrations'")
    try:
        return PrismConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "\n  ".join(_describe(error, raw) for error in exc.errors())
        raise ConfigError(f"{origin} is invalid:\n  {problems}") from None


def config_path() -> Path:
    """``$PRISM_CONFIG`` if set, else ``prism.yaml`` in the working directory."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice (YAML would silently keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config(path: Path | None = None) -> PrismConfig:
    """Read and validate the configuration file."""
    path = path or config_path()
    try:
        raw = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file (set {CONFIG_ENV} or run `prism-dagster demo`)"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    config = _relative_to(parse_config(raw, str(path)), path.parent)
    # Again now that relative folders mean "next to prism.yaml": an alias may show only now.
    problem = shared_destination(config.integrations)
    if problem:
        raise ConfigError(f"{path} is invalid:\n  {problem}")
    return config


def find_integration(config: PrismConfig, name: str) -> Integration:
    """The integration called ``name``, or a ConfigError listing the names there are."""
    for integration in config.integrations:
        if integration.name == name:
            return integration
    names = ", ".join(i.name for i in config.integrations)
    raise ConfigError(f"no integration named {name!r} (configured: {names})")


def _relative_to(config: PrismConfig, base: Path) -> PrismConfig:
    # Relative folders in prism.yaml mean "next to prism.yaml", wherever Dagster runs from.
    def anchor(value: str | EnvRef) -> str | EnvRef:
        if isinstance(value, EnvRef) or Path(value).expanduser().is_absolute():
            return value
        return str((base / value).resolve())

    source = config.source
    if isinstance(source, SpoolSourceConfig):
        source = source.model_copy(update={"path": anchor(source.path)})
    integrations = [
        i.model_copy(update={"path": anchor(i.path)}) if i.provider == "local" else i
        for i in config.integrations
    ]
    return config.model_copy(update={"source": source, "integrations": integrations})


def resolve(value: str | EnvRef, live: bool = False) -> Any:
    """A plain value as is; an ``{env: NAME}`` as ``dg.EnvVar`` so the UI shows only the name.

    ``live`` (outside Dagster, e.g. the CLI) reads the variable now instead.
    """
    if not isinstance(value, EnvRef):
        return value
    if not live:
        return dg.EnvVar(value.name)
    if value.name not in os.environ:
        raise ConfigError(f"environment variable {value.name} is not set (see prism.yaml)")
    return os.environ[value.name]


def secret_env_values(config: PrismConfig) -> list[str]:
    """Current values of every environment variable that holds a secret, to scrub messages."""
    names = {
        value.name
        for integration in config.integrations
        for key, value in integration
        if key in SECRET_FIELDS and isinstance(value, EnvRef)
    }
    if isinstance(config.status_store.url, EnvRef):
        names.add(config.status_store.url.name)
    if isinstance(config.source, PostgresSourceConfig):
        names.add(config.source.dsn.name)
    return [os.environ[name] for name in sorted(names) if os.environ.get(name)]
