"""The configuration reference, ``docs/configuration.md``, generated from the models.

    python -m prism_dagster.config.reference > docs/configuration.md

Every field of ``prism.yaml`` (and of a ``PrismArchiveComponent``'s attributes) is listed with
its type, default and range as the pydantic models declare them. A field's description is its
``Field(description=...)``, else the ``#:`` comment above it, else an entry of
``_DESCRIPTIONS`` below; a field with none of these stops ``render`` (so a new field cannot
go undocumented). The prose around the tables lives here too, so the whole page is one output
and ``prism_dagster_tests/test_docs.py`` can insist the file equals ``render()``.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import annotated_types
import polars as pl
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from prism_dagster.archive.redaction import MIN_SALT_CHARS
from prism_dagster.archive.schema import RECORD_COLUMNS, RECORD_SCHEMA
from prism_dagster.archive.settings import WriteFields
from prism_dagster.config.fields import _NAME, _PREFIX_SEGMENT, SECRET_FIELDS, EnvRef
from prism_dagster.config.integrations import (
    AzureIntegration,
    GcsIntegration,
    History,
    IntegrationBase,
    LocalIntegration,
    S3Integration,
)
from prism_dagster.config.loading import parse_config
from prism_dagster.config.model import (
    _NAMESPACE,
    CatchUpConfig,
    LateRowsConfig,
    PrismConfig,
    StatusStoreConfig,
)
from prism_dagster.config.pools import _POOL_NAME, PoolsConfig
from prism_dagster.config.redaction import FieldsConfig
from prism_dagster.config.sources import PostgresSourceConfig, SpoolSourceConfig
from prism_dagster.destinations.settings import DestinationFields, RetryPolicy
from prism_dagster.errors import ConfigError

# --- descriptions the models do not carry themselves ---------------------------------------

_TEXT_FIELDS = [c for c in RECORD_COLUMNS if RECORD_SCHEMA[c] == pl.String and c != "timestamp"]


def _gateway_columns() -> str:
    from prism_dagster.sources.postgres import DEFAULT_COLUMNS

    return ", ".join(f"`{name}`" for name in DEFAULT_COLUMNS)


#: "Model.field" -> description, for fields without ``Field(description=...)`` or a ``#:``
#: comment; an entry here also overrides those. A callable is called when rendering.
_DESCRIPTIONS: dict[str, str | Callable[[], str]] = {
    "PrismConfig.source": "Where the gateway's request logs are read: a spool folder "
    "(`kind: spool`) or the gateway's PostgreSQL table (`kind: postgres`).",
    "PrismConfig.integrations": "The destinations. Each is one archive asset, one job, one "
    "schedule and one status.",
    "PrismConfig.status_store": "Where each integration's status is kept.",
    "PrismConfig.catch_up": "How much missed work one schedule or sensor tick may launch.",
    "PrismConfig.late_rows": "How far back the late-rows sensor compares the source with "
    "archived hours.",
    "PrismConfig.pools": "Dagster concurrency pools guarding the source and each destination.",
    "StatusStoreConfig.url": "A SQLAlchemy URL, e.g. PostgreSQL for a multi-node Dagster. "
    "A URL holding a password must be `{env: NAME}` (a literal one is refused). Unset: "
    "`$PRISM_STATUS_URL`, else the production profile's PostgreSQL (when `DAGSTER_PG_HOST` is "
    "set), else SQLite at `$DAGSTER_HOME/prism_status.db`.",
    "CatchUpConfig.max_runs_per_tick": "Runs one schedule or error-retry tick may launch.",
    "CatchUpConfig.max_hours_per_run": "Hours archived in one run: catch-up, error retries and "
    "backfills from the UI alike.",
    "LateRowsConfig.lookback_hours": "Archived hours this far back are compared with the source.",
    "LateRowsConfig.check_every_minutes": "How often the late-rows sensor compares them.",
    "SpoolSourceConfig.kind": "Selects the spool source.",
    "SpoolSourceConfig.path": "The folder the gateway writes NDJSON files to. Every "
    "`*.ndjson`, `*.jsonl` and `*.json` below it (optionally `.gz`) is read.",
    "SpoolSourceConfig.bad_records": "`keep`: archive the good rows and keep each bad line in "
    "the hour's rejects file. `fail`: fail the run, naming the first bad lines.",
    "PostgresSourceConfig.kind": "Selects the PostgreSQL source.",
    "PostgresSourceConfig.dsn": "The connection string, e.g. "
    "`postgresql://archiver:PASSWORD@db:5432/gateway`.",
    "PostgresSourceConfig.table": "The gateway's request-log table.",
    "PostgresSourceConfig.db_schema": "The table's schema.",
    "PostgresSourceConfig.organization_id": "Whose requests are archived (a uuid).",
    "PostgresSourceConfig.workspace_id": "Only this workspace's requests. Unset: every row of "
    "the organisation, rows without a workspace included.",
    "PostgresSourceConfig.columns": lambda: (
        "Other names for columns of the gateway's layout, "
        f"e.g. `{{latency_ms: latency}}`. Known names: {_gateway_columns()}."
    ),
    "PostgresSourceConfig.bad_records": "`keep`: archive the good rows and keep each bad row "
    "(a value out of its range) as a reject. `fail`: fail the run, naming the first bad rows.",
    "IntegrationBase.name": "Unique. Part of asset keys, job, schedule and pool names, and "
    "batch ids.",
    "IntegrationBase.prefix": "Key prefix in the bucket, container or folder: objects go "
    "under `{prefix}/logs/`. No leading `/`, no empty, `.` or `..` segment. Changing it later "
    "leaves the files already written under the old prefix.",
    "IntegrationBase.start": "The first UTC hour the integration's partitions cover.",
    "IntegrationBase.sync_interval": "Hours between two ticks of the integration's schedule.",
    "IntegrationBase.grace_minutes": "Minutes after an hour closes before the schedule "
    "archives it, so late writes are included.",
    "IntegrationBase.history": "`none`: archive from the later of `start` and the hour the "
    "integration is first seen. `{since: HOUR}`: archive from that hour; the first tick queues "
    "the missed hours through the catch-up.",
    "IntegrationBase.fields": "Record fields left out of the archive, or written as salted hashes.",
    "LocalIntegration.provider": "A local folder plays the bucket.",
    "LocalIntegration.path": "The folder (created if missing).",
    "S3Integration.provider": "Amazon S3 or an S3-compatible store.",
    "S3Integration.bucket": "The bucket.",
    "S3Integration.region": "The bucket's region, e.g. `us-east-1`.",
    "S3Integration.access_key_id": "An access key, with `secret_access_key`: give both or "
    "neither. Neither (and no `profile`): the standard AWS credential chain.",
    "S3Integration.secret_access_key": "The secret key of `access_key_id`.",
    "S3Integration.session_token": "The session token of temporary keys.",
    "S3Integration.endpoint_url": "An S3-compatible store's endpoint (MinIO, R2, an emulator).",
    "S3Integration.profile": "A profile of the AWS config files.",
    "AzureIntegration.provider": "Azure Blob Storage.",
    "AzureIntegration.container": "The container.",
    "AzureIntegration.connection_string": "A storage account connection string. Give it or "
    "`account_url`, not both.",
    "AzureIntegration.account_url": "`https://ACCOUNT.blob.core.windows.net`, with "
    "`account_key`, `sas_token` or neither (then `DefaultAzureCredential`: managed or workload "
    "identity, `az login`). No query string: a SAS goes in `sas_token`.",
    "AzureIntegration.account_key": "The storage account key, with `account_url`.",
    "AzureIntegration.sas_token": "A shared access signature, with `account_url`.",
    "GcsIntegration.provider": "Google Cloud Storage.",
    "GcsIntegration.bucket": "The bucket.",
    "GcsIntegration.service_account_json": "A service account key, the whole JSON. Unset: "
    "application default credentials.",
    "GcsIntegration.project": "The project, when the credentials do not name it.",
    "GcsIntegration.endpoint_url": "Another endpoint: a private one, or an emulator (with "
    "`anonymous: true`).",
    "GcsIntegration.anonymous": "Unauthenticated requests, for emulators only.",
    "DestinationFields.retry": "How transient failures are retried (below).",
    "RetryPolicy.initial_backoff_s": "The longest first wait, in seconds. Each later wait's "
    "ceiling doubles, up to `max_backoff_s`; the wait itself is drawn below it (full jitter).",
    "RetryPolicy.max_backoff_s": "The ceiling of any one wait, in seconds.",
    "History.since": "The first hour to archive: `2026-02-01` or `2026-02-01T06`.",
    "FieldsConfig.exclude": "Fields left out of every line.",
    "FieldsConfig.hash": "Fields written as HMAC-SHA256 of their value, 64 lower-case hex "
    "characters. Needs `salt`.",
    "FieldsConfig.salt": lambda: (
        "The HMAC key, from a variable whose value is at least "
        f"{MIN_SALT_CHARS} characters (`openssl rand -hex 32` makes one). Changing it changes "
        "every hash."
    ),
    "PoolsConfig.source_limit": "Archive steps reading the source at once.",
    "PoolsConfig.destination_limit": "For each integration's destination pool: its checks "
    "(probe writes, per-hour read-backs) running at once.",
}

#: "Model.field" -> what the validators allow beyond the declared constraints.
_RULES: dict[str, Callable[[], str]] = {
    "PrismConfig.namespace": lambda: f"pattern `{_NAMESPACE.pattern}`",
    "IntegrationBase.name": lambda: f"unique; pattern `{_NAME.pattern}`",
    "IntegrationBase.prefix": lambda: f"`/`-separated segments, each `{_PREFIX_SEGMENT.pattern}`",
    "PoolsConfig.source": lambda: f"pattern `{_POOL_NAME.pattern}`",
    "PoolsConfig.destinations": lambda: "each limit 1 to 1000",
    "FieldsConfig.exclude": lambda: "record fields except `timestamp`",
    "FieldsConfig.hash": lambda: (
        "text fields except `timestamp`: " + ", ".join(f"`{c}`" for c in _TEXT_FIELDS)
    ),
}


# --- reading the models ---------------------------------------------------------------------


def _rst(text: str) -> str:
    """reStructuredText's ``code`` as Markdown's `code`, lines joined."""
    return " ".join(text.replace("``", "`").split())


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """The ``#:`` comment above each field of ``model``'s own class body."""
    try:
        source = textwrap.dedent(inspect.getsource(model))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    found: dict[str, str] = {}
    for node in ast.parse(source).body[0].body:  # type: ignore[attr-defined]
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        index = node.lineno - 2
        while index >= 0 and lines[index].strip().startswith("#:"):
            above.insert(0, lines[index].strip().removeprefix("#:").strip())
            index -= 1
        if above:
            found[node.target.id] = _rst(" ".join(above))
    return found


def _owner(model: type[BaseModel], name: str) -> type[BaseModel]:
    """The class in ``model``'s hierarchy that declares field ``name``."""
    for cls in model.__mro__:
        if name in inspect.get_annotations(cls):
            return cls
    return model


def description(model: type[BaseModel], name: str) -> str:
    """A field's description: ``_DESCRIPTIONS``, else ``Field(description=...)``, else ``#:``."""
    owner = _owner(model, name)
    given = _DESCRIPTIONS.get(f"{owner.__name__}.{name}")
    if given is not None:
        return given() if callable(given) else given
    info = model.model_fields[name]
    if info.description:
        return _rst(info.description)
    comment = _comments(owner).get(name)
    if comment:
        return comment
    raise ValueError(
        f"{owner.__name__}.{name} has no description: give it Field(description=...), a #: "
        "comment above it, or an entry in prism_dagster.config.reference._DESCRIPTIONS"
    )


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _members(annotation: Any) -> list[Any]:
    annotation = _strip_annotated(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [_strip_annotated(a) for a in typing.get_args(annotation)]
    return [annotation]


_PLAIN = {str: "text", int: "integer", float: "number", bool: "boolean"}


def _type(annotation: Any, links: dict[type, str]) -> str:
    members = _members(annotation)
    if str in members and EnvRef in members:
        members = [m for m in members if m not in (str, EnvRef)]
        members.insert(0, "VALUE")
    words = []
    for member in members:
        origin = typing.get_origin(member)
        if member == "VALUE":
            words.append("text or `{env: NAME}`")
        elif member is EnvRef:
            words.append("`{env: NAME}` only")
        elif member is type(None):
            continue
        elif origin is typing.Literal:
            choices = typing.get_args(member)
            words.append(f"`{choices[0]}`" if len(choices) == 1 else "one of the choices")
        elif origin is list:
            words.append(f"list of {_type(typing.get_args(member)[0], links)}")
        elif origin is dict:
            key, value = typing.get_args(member)
            words.append(f"mapping of {_type(key, links)} to {_type(value, links)}")
        elif member is datetime:
            words.append("UTC hour")
        elif isinstance(member, type) and issubclass(member, BaseModel):
            words.append(f"mapping ({links[member]})" if member in links else "mapping")
        else:
            words.append(_PLAIN.get(member, getattr(member, "__name__", str(member))))
    return " or ".join(dict.fromkeys(words))


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "its fields' defaults"
        return f"`{yaml.safe_dump(value, default_flow_style=True).strip()}`"
    if info.default is PydanticUndefined:
        return "required"
    value = info.default
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == "":
        return '`""`'
    return f"`{_number(value)}`"


_BOUNDS = {
    "ge": annotated_types.Ge,
    "le": annotated_types.Le,
    "gt": annotated_types.Gt,
    "lt": annotated_types.Lt,
    "min_length": annotated_types.MinLen,
}


def _range(model: type[BaseModel], name: str) -> str:
    info = model.model_fields[name]
    bounds: dict[str, Any] = {}
    parts: list[str] = []
    for item in info.metadata:
        for attr, kind in _BOUNDS.items():
            if isinstance(item, kind):
                bounds[attr] = getattr(item, attr)
    if "ge" in bounds and "le" in bounds:
        parts.append(f"{_number(bounds['ge'])} to {_number(bounds['le'])}")
    else:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if attr in bounds:
                parts.append(f"{sign} {_number(bounds[attr])}")
    if "min_length" in bounds:
        parts.append(f"at least {bounds['min_length']}")
    for member in _members(info.annotation):
        choices = typing.get_args(member) if typing.get_origin(member) is typing.Literal else ()
        if len(choices) > 1:
            parts.append(", ".join(f"`{c}`" for c in choices))
    rule = _RULES.get(f"{_owner(model, name).__name__}.{name}")
    if rule is not None:
        parts.append(rule())
    return "; ".join(parts) or "—"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(model: type[BaseModel], names: list[str], links: dict[type, str]) -> str:
    """The Markdown table of ``names``, fields of ``model``."""
    rows = ["| field | type | default | range | description |", "|---|---|---|---|---|"]
    for name in names:
        info = model.model_fields[name]
        cells = [
            f"`{name}`",
            _type(info.annotation, links),
            _default(info),
            _range(model, name),
            description(model, name),
        ]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows)


def own_fields(model: type[BaseModel]) -> list[str]:
    """The fields ``model`` itself declares (not its bases), in declaration order."""
    own = inspect.get_annotations(model)
    return [name for name in model.model_fields if name in own]


def slug(title: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


# --- the page ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """One heading and its table: fields of ``model`` under YAML path ``title``."""

    title: str
    model: type[BaseModel]
    fields: list[str]
    before: str = ""
    after: str = ""


INTRO = """\
# Configuration reference

<!-- Generated by `python -m prism_dagster.config.reference > docs/configuration.md` from the
pydantic models in prism_dagster/config/. Edit the models or prism_dagster/config/reference.py,
then regenerate: prism_dagster_tests/test_docs.py fails while this file differs. -->

Every field of `prism.yaml`, which are also the `attributes` of a `PrismArchiveComponent`'s
`defs.yaml` (see [component.md](component.md)), with its type, default and range as the code
declares them. One set of models validates both.

## Where the configuration is read

- **Standalone** (`make dev`, `make demo`, the `prism-dagster` command): `prism.yaml` in the
  working directory, or the file `PRISM_CONFIG` names. A command with `--config PATH` reads that
  file. A component's `defs.yaml` is read the same way: its `attributes` are the configuration.
  Without any file the standalone code location still loads, on the demo's configuration.
- **In a Dagster project**: the `attributes:` of the component's `defs.yaml`, plus
  `namespace`. `dg check defs` reports a bad value as loading `prism.yaml` does.
- **Relative folders** (`source.path`, a local integration's `path`) are relative to the folder
  holding `prism.yaml`; in a component's attributes, to the project root (the nearest folder
  with a `pyproject.toml`).

## Rules every file follows

- **Unknown keys are refused**, in every section: a misspelt key is an error, never a silently
  kept default. A key given twice in one mapping is refused too (YAML would keep the last).
- **Secrets never go in the file.** Any field typed "text or `{env: NAME}`" may instead say
  `{env: NAME}`, and its value is read from the environment variable `NAME`. The credential
  fields SECRET_FIELDS and `fields.salt` accept *only* `{env: NAME}`: a literal value there is
  refused at load, and a component's `dg check defs` never echoes it. `status_store.url` must be
  `{env: NAME}` when it carries a password. Dagster gets every such value as
  `dg.EnvVar("NAME")`, so the UI and the run config show the variable's name, never its value,
  and error messages are scrubbed of secret values.
- **Two integrations never share an archive.** At load each destination is resolved: the
  real path of a local folder (so `X`, `X/.`, `./X` and `/abs/X` are one), and for the clouds
  the endpoint, bucket or container and the prefix, with `{env: NAME}` values read when they are
  set. Two integrations writing the same place, or one inside the other's archive, are refused,
  naming both. (Two *component instances* are checked each on its own: give them different
  destinations.)
- **Every problem is reported at once**, each naming the integration and the field:

```text
EXAMPLE_ERROR
```

## A complete example

Everything optional is shown with a value; the tables below give each default.

```yaml
EXAMPLE_YAML```
"""

EXAMPLE = """\
source:
  kind: spool
  path: .prism/spool
  bad_records: keep
  hour_memory_mb: 64
integrations:
  - name: production
    provider: s3
    bucket: acme-llm-logs
    region: us-east-1
    access_key_id: {env: PRISM_AWS_ACCESS_KEY_ID}
    secret_access_key: {env: PRISM_AWS_SECRET_ACCESS_KEY}
    prefix: prism/production
    start: "2026-03-01T00"
    sync_interval: 1
    grace_minutes: 10
    history: {since: "2026-02-01"}
    owners: [team:data_platform]
    fields:
      exclude: [error_message]
      hash: [request_id]
      salt: {env: PRISM_HASH_SALT}
    gzip_level: 6
    max_rows_per_file: 1000000
    part_size_mb: 8
    retry: {attempts: 30, give_up_after_s: 120}
  - name: local_copy
    provider: local
    path: .prism/archive
    prefix: prism/copy
    start: "2026-03-01T00"
status_store: {url: {env: PRISM_STATUS_URL}}
catch_up: {max_runs_per_tick: 4, max_hours_per_run: 24}
late_rows: {lookback_hours: 48, check_every_minutes: 5}
pools: {source_limit: 2, destination_limit: 4, destinations: {production: 2}}
"""

#: A configuration with one mistake, whose error message the page quotes as the code words it.
_BAD = {
    "source": {"kind": "spool", "path": ".prism/spool"},
    "integrations": [
        {
            "name": "prod",
            "provider": "local",
            "path": ".prism/archive",
            "prefix": "a/../b",
            "start": "2026-03-01T00",
            "gzip_level": 11,
        }
    ],
}


def _example_error() -> str:
    try:
        parse_config(_BAD)
    except ConfigError as exc:
        return str(exc)
    raise AssertionError("the example of an invalid configuration was accepted")


def sections() -> list[Section]:
    """The page's tables, in order."""
    every = own_fields(IntegrationBase)
    return [
        Section(
            "Top level",
            PrismConfig,
            list(PrismConfig.model_fields),
            before="`namespace` matters in a Dagster project with the component: see "
            "[component.md](component.md#namespace).",
        ),
        Section(
            "source: spool",
            SpoolSourceConfig,
            list(SpoolSourceConfig.model_fields),
            before="A folder of the gateway's NDJSON files, the embedded default. How the "
            "folder is read: [operations.md](operations.md#the-source-a-spool-folder).",
        ),
        Section(
            "source: postgres",
            PostgresSourceConfig,
            list(PostgresSourceConfig.model_fields),
            before="The gateway's request-log table, read-only. How it is read: "
            "[operations.md](operations.md#the-source-the-gateways-postgresql-table).",
        ),
        Section(
            "integrations: every provider",
            IntegrationBase,
            every,
            before="Each entry of `integrations` has these fields, then its provider's "
            "(below), then the write and upload settings (further below).",
        ),
        Section(
            "provider: local",
            LocalIntegration,
            own_fields(LocalIntegration),
        ),
        Section(
            "provider: s3",
            S3Integration,
            own_fields(S3Integration),
            after="Without keys and `profile`, the standard AWS credential chain applies "
            "(environment, profile, instance role, web identity): see "
            "[providers.md](providers.md#keyless-authentication). `kms_key_id` needs "
            "`sse: aws:kms`.",
        ),
        Section(
            "provider: azure",
            AzureIntegration,
            own_fields(AzureIntegration),
            after="Give `connection_string`, or `account_url`, not both. With `account_url`, "
            "`account_key` or `sas_token` (not both), or neither for `DefaultAzureCredential`. "
            "`encryption_scope` or `encryption_key`, not both.",
        ),
        Section(
            "provider: gcs",
            GcsIntegration,
            own_fields(GcsIntegration),
        ),
        Section(
            "integrations: how files are written",
            WriteFields,
            list(WriteFields.model_fields),
            before="Every provider. A batch file holds at most `max_rows_per_file` rows; each "
            "`slice_rows` rows are one gzip member, compressed on `threads` threads.",
        ),
        Section(
            "integrations: how objects are uploaded",
            DestinationFields,
            list(DestinationFields.model_fields),
            before="Every provider. Why `gzip_content_encoding` is off by default: "
            "[providers.md](providers.md#content-type-and-why-not-content-encoding-gzip).",
        ),
        Section(
            "integrations: retry",
            RetryPolicy,
            list(RetryPolicy.model_fields),
            before="Transient failures (timeouts, connection errors, 5xx, throttling) are "
            "retried per request with exponential backoff and full jitter until "
            "`give_up_after_s` has passed; `attempts` is only a cap. Permanent failures "
            "(access denied, missing bucket, bad key) fail at once.",
        ),
        Section(
            "integrations: history",
            History,
            list(History.model_fields),
            before="`history` is `none` (the default) or this mapping.",
        ),
        Section(
            "integrations: fields",
            FieldsConfig,
            list(FieldsConfig.model_fields),
            before="What is written under a policy: "
            "[providers.md](providers.md#field-selection-and-redaction-fields).",
        ),
        Section("status_store", StatusStoreConfig, list(StatusStoreConfig.model_fields)),
        Section("catch_up", CatchUpConfig, list(CatchUpConfig.model_fields)),
        Section("late_rows", LateRowsConfig, list(LateRowsConfig.model_fields)),
        Section(
            "pools",
            PoolsConfig,
            list(PoolsConfig.model_fields),
            before="Dagster keeps pool limits in its instance: `prism-dagster pools --apply` "
            "sets these. See [operations.md](operations.md#pools).",
        ),
    ]


def render() -> str:
    """The whole of ``docs/configuration.md``."""
    parts = sections()
    links = {
        SpoolSourceConfig: "[spool](#source-spool)",
        PostgresSourceConfig: "[postgres](#source-postgres)",
        RetryPolicy: "[retry](#integrations-retry)",
        History: "[history](#integrations-history)",
        FieldsConfig: "[fields](#integrations-fields)",
        StatusStoreConfig: "[status_store](#status_store)",
        CatchUpConfig: "[catch_up](#catch_up)",
        LateRowsConfig: "[late_rows](#late_rows)",
        PoolsConfig: "[pools](#pools)",
    }
    for provider in (LocalIntegration, S3Integration, AzureIntegration, GcsIntegration):
        links[provider] = "[integrations](#integrations-every-provider)"
    for linked in links.values():
        anchor = linked.split("(#", 1)[1].rstrip(")")
        if anchor not in {slug(s.title) for s in parts}:
            raise AssertionError(f"no section has the anchor #{anchor}")
    secrets = ", ".join(f"`{name}`" for name in sorted(SECRET_FIELDS))
    intro = (
        INTRO.replace("SECRET_FIELDS", secrets)
        .replace("EXAMPLE_ERROR", _example_error())
        .replace("EXAMPLE_YAML", EXAMPLE)
    )
    out = [intro]
    for section in parts:
        out.append(f"## {section.title}\n")
        if section.before:
            out.append(section.before + "\n")
        out.append(table(section.model, section.fields, links) + "\n")
        if section.after:
            out.append(section.after + "\n")
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render())
