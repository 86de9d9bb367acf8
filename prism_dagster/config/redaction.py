"""An integration's ``fields:`` in prism.yaml: record fields left out or hashed when written.

    fields: {exclude: [error_message], hash: [request_id], salt: {env: PRISM_HASH_SALT}}

The rules live with the record (``archive.redaction.field_problem``); this model reads them
from YAML and turns them into the writer's settings, in one place (``settings``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from prism_dagster.archive.redaction import FieldPolicy, field_problem
from prism_dagster.archive.schema import RECORD_COLUMNS
from prism_dagster.archive.settings import FieldSettings
from prism_dagster.config.fields import EnvRef, _env_ref, _Strict, resolve


def _checked(names: list[str], how: str) -> list[str]:
    for name in names:
        problem = field_problem(name, how)
        if problem:
            raise ValueError(problem)
    # The record's key order, each once: the manifest and the metadata list them so.
    return [name for name in RECORD_COLUMNS if name in names]


class FieldsConfig(_Strict):
    """Fields to leave out (``exclude``) or write as salted hashes (``hash``)."""

    exclude: list[str] = Field(default_factory=list)
    hash: list[str] = Field(default_factory=list)
    #: The HMAC key: an ``{env: NAME}`` only, like every secret.
    salt: EnvRef | None = None

    @field_validator("exclude")
    @classmethod
    def _exclude(cls, value: list[str]) -> list[str]:
        return _checked(value, "exclude")

    @field_validator("hash")
    @classmethod
    def _hash(cls, value: list[str]) -> list[str]:
        return _checked(value, "hash")

    @field_validator("salt", mode="before")
    @classmethod
    def _salt(cls, value: Any) -> Any:
        value = _env_ref(value)
        if value is not None and not isinstance(value, EnvRef):
            raise ValueError(
                "the salt is a secret and is never written in prism.yaml; "
                "use salt: {env: NAME} and set the variable"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FieldsConfig:
        both = [name for name in self.exclude if name in self.hash]
        if both:
            raise ValueError(f"{', '.join(both)}: a field is either excluded or hashed, not both")
        if self.hash and self.salt is None:
            raise ValueError("hash needs salt: {env: NAME} (the HMAC key, from a variable)")
        return self

    def settings(self) -> FieldSettings:
        """The writer's settings: the salt as ``dg.EnvVar``, read when Dagster starts them."""
        return FieldSettings(exclude=self.exclude, hash=self.hash, salt=resolve(self.salt))

    def policy(self) -> FieldPolicy:
        """The policy without its salt: which fields are written, and how (metadata, SQL)."""
        return self.settings().policy()
