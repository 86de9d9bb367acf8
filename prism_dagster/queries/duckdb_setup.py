"""DuckDB's extensions and ``CREATE SECRET`` for an integration's store.

Credentials are never printed: a secret names the environment variable prism.yaml names, read
with ``getenv`` (a DuckDB CLI function; from Python, register one, see docs/analysts.md), or a
placeholder variable where DuckDB needs a credential prism.yaml does not have.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from prism_dagster.archive import layout
from prism_dagster.queries.columns import sql_string
from prism_dagster.queries.target import Target

GCS_HMAC_KEY_ENV = "PRISM_GCS_HMAC_KEY_ID"
GCS_HMAC_SECRET_ENV = "PRISM_GCS_HMAC_SECRET"


def getenv(name: str) -> str:
    """The SQL that reads variable ``name`` when the statement runs."""
    return f"getenv({sql_string(name)})"


def _load(*extensions: str) -> str:
    return "\n".join(f"INSTALL {e};\nLOAD {e};" for e in extensions)


def _secret(
    target: Target, kind: str, options: list[tuple[str, str]], scope: str, notes: list[str]
) -> str:
    body = ",\n".join(f"    {key} {value}" for key, value in [("TYPE", kind), *options])
    body += f",\n    SCOPE {sql_string(scope)}"
    return "\n".join([*notes, f"CREATE OR REPLACE SECRET prism_{target.name} (\n{body}\n);"])


def _s3(target: Target) -> list[str]:
    integration = target.integration
    options: list[tuple[str, str]] = []
    notes: list[str] = []
    extensions = ["httpfs"]
    key_env = target.env_name("access_key_id")
    secret_env = target.env_name("secret_access_key")
    if secret_env:
        key_id = getattr(integration, "access_key_id", None)
        options.append(("KEY_ID", getenv(key_env) if key_env else sql_string(str(key_id))))
        options.append(("SECRET", getenv(secret_env)))
        token_env = target.env_name("session_token")
        if token_env:
            options.append(("SESSION_TOKEN", getenv(token_env)))
    else:
        notes.append("-- No keys in prism.yaml: the AWS credential chain, as the archive uses.")
        extensions.append("aws")
        options.append(("PROVIDER", "credential_chain"))
        profile = target.value("profile")
        if profile:
            options += [("CHAIN", "'config'"), ("PROFILE", sql_string(profile))]
    options.append(("REGION", sql_string(target.value("region") or "")))
    endpoint = target.value("endpoint_url")
    if endpoint:
        parts = urlsplit(endpoint)
        host = parts.netloc + parts.path.rstrip("/")
        ssl = "false" if parts.scheme == "http" else "true"
        options += [
            ("ENDPOINT", sql_string(host)),
            ("URL_STYLE", "'path'"),
            ("USE_SSL", ssl),
        ]
    return [_load(*extensions), _secret(target, "s3", options, target.prefix_uri(), notes)]


def _gcs(target: Target) -> list[str]:
    notes = [
        "-- DuckDB reads GCS with an HMAC key of the service account (Cloud Storage >",
        "-- Settings > Interoperability), not with its JSON key: export both variables.",
        f"-- (Or BEARER_TOKEN {getenv('PRISM_GCS_ACCESS_TOKEN')}, from",
        "-- `gcloud auth print-access-token`, instead of KEY_ID and SECRET.)",
    ]
    if target.value("endpoint_url"):
        notes.append("-- endpoint_url is not used: DuckDB reaches GCS's XML API on its own.")
    options = [("KEY_ID", getenv(GCS_HMAC_KEY_ENV)), ("SECRET", getenv(GCS_HMAC_SECRET_ENV))]
    return [_load("httpfs"), _secret(target, "gcs", options, target.prefix_uri(), notes)]


def azure_account(account_url: str) -> str:
    """The storage account of an account URL (``https://ACCOUNT.blob…`` or ``…/ACCOUNT``)."""
    parts = urlsplit(account_url)
    host = parts.hostname or ""
    if ".blob." in host:
        return host.split(".", 1)[0]
    return parts.path.strip("/").split("/", 1)[0]


def azure_uri(target: Target, key: str) -> str:
    """DuckDB's ``az://container/key`` for a key of the integration's container."""
    return f"az://{target.value('container')}/{key}"


def _azure(target: Target) -> list[str]:
    connection_env = target.env_name("connection_string")
    account_url = (target.value("account_url") or "").rstrip("/")
    key_env = target.env_name("account_key")
    sas_env = target.env_name("sas_token")
    if connection_env:
        options = [("CONNECTION_STRING", getenv(connection_env))]
    elif key_env:
        account = azure_account(account_url)
        text = f"AccountName={account};BlobEndpoint={account_url};AccountKey="
        options = [("CONNECTION_STRING", f"{sql_string(text)} || {getenv(key_env)}")]
    elif sas_env:
        text = f"BlobEndpoint={account_url};SharedAccessSignature="
        options = [("CONNECTION_STRING", f"{sql_string(text)} || {getenv(sas_env)}")]
    else:
        options = [
            ("PROVIDER", "credential_chain"),
            ("ACCOUNT_NAME", sql_string(azure_account(account_url))),
        ]
    scope = azure_uri(target, layout.prefix_dir(target.integration.prefix))
    return [_load("azure"), _secret(target, "azure", options, scope, [])]


def setup(target: Target) -> list[str]:
    """Blocks of statements (with their comments) that let DuckDB read the integration's store."""
    return {
        "local": lambda t: [],
        "s3": _s3,
        "gcs": _gcs,
        "azure": _azure,
    }[target.provider](target)
