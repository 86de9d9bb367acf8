"""The log source section of prism.yaml; each kind builds its own source resource."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from prism_dagster.config.fields import EnvRef, Value, _Strict, _with_env_refs, resolve
from prism_dagster.sources.base import DEFAULT_HOUR_MEMORY_MB, LogSource

HOUR_MEMORY_MB = Field(
    default=DEFAULT_HOUR_MEMORY_MB,
    ge=1,
    description="MiB of one hour's records held in memory; a larger hour is sorted on local "
    "disk (TMPDIR) a minute at a time.",
)


class SpoolSourceConfig(_Strict):
    """The embedded default: a folder of gateway NDJSON files."""

    kind: Literal["spool"]
    path: str
    bad_records: Literal["keep", "fail"] = "keep"
    hour_memory_mb: int = HOUR_MEMORY_MB

    def log_source(self) -> LogSource:
        """The spool source resource."""
        from prism_dagster.sources.spool import SpoolSource

        return SpoolSource(
            path=self.path, bad_records=self.bad_records, hour_memory_mb=self.hour_memory_mb
        )


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
    hour_memory_mb: int = HOUR_MEMORY_MB
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

    def log_source(self) -> LogSource:
        """The PostgreSQL source resource (secrets and scope as ``dg.EnvVar`` references)."""
        from prism_dagster.sources.postgres import PostgresSource

        return PostgresSource(
            dsn=resolve(self.dsn),
            table=self.table,
            db_schema=self.db_schema,
            organization_id=resolve(self.organization_id),
            workspace_id=resolve(self.workspace_id),
            columns=self.columns,
            bad_records=self.bad_records,
            hour_memory_mb=self.hour_memory_mb,
            connect_timeout_s=self.connect_timeout_s,
            statement_timeout_s=self.statement_timeout_s,
            idle_timeout_s=self.idle_timeout_s,
        )

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, value: dict[str, str]) -> dict[str, str]:
        from prism_dagster.sources.postgres import DEFAULT_COLUMNS

        unknown = sorted(set(value) - set(DEFAULT_COLUMNS))
        if unknown:
            raise ValueError(f"unknown column name(s) {unknown}; known: {sorted(DEFAULT_COLUMNS)}")
        return value
