"""The building blocks of prism.yaml's fields: strict models, hours, ``{env: NAME}`` values."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from pydantic import BaseModel, ConfigDict

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


@dataclass(frozen=True)
class LiteralSecret:
    """Stands in for a secret written literally in prism.yaml: its field's type refuses it,
    so the entry's other problems are still found, and the value itself is not kept."""

    MESSAGE = "secrets are never written in prism.yaml; use {env: NAME} and set the variable"


def _with_env_refs(raw: Any) -> Any:
    """Every ``{env: NAME}`` as an EnvRef; a literal value in a secret field as LiteralSecret."""
    if not isinstance(raw, dict):
        return raw
    values = {key: _env_ref(value) for key, value in raw.items()}
    for key in SECRET_FIELDS & values.keys():
        if values[key] is not None and not isinstance(values[key], EnvRef):
            values[key] = LiteralSecret()
    return values


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


#: The form of an hour everywhere a person types one.
HOUR_FORM = "a UTC hour written YYYY-MM-DDTHH, such as 2026-03-31T14"


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
        except ValueError:
            raise ValueError(f"{value!r} is not {HOUR_FORM}") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    if moment.minute or moment.second or moment.microsecond:
        raise ValueError(f"{value!r} is not on the hour: give {HOUR_FORM}")
    return moment.astimezone(UTC)


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
        "encryption_key",
    }
)


def shown(value: Value | None) -> str | None:
    """A value as it will be at run time: an ``{env: NAME}``'s value if set, else ``${NAME}``.

    For what the command line prints and for comparing destinations, never for secrets.
    """
    if isinstance(value, EnvRef):
        return os.environ.get(value.name) or f"${{{value.name}}}"
    return value


def resolve(value: Value | None) -> Any:
    """A plain value as is; an ``{env: NAME}`` as ``dg.EnvVar`` so the UI shows only the name.

    Dagster reads the variable when the resource starts (in a run, or ``defs.resources.live``
    outside one).
    """
    return dg.EnvVar(value.name) if isinstance(value, EnvRef) else value
