"""How batch files are cut, compressed and guarded: declared once for prism.yaml and Dagster."""

from __future__ import annotations

import dagster as dg
from pydantic import BaseModel, Field

from prism_dagster.archive.encoding import DEFAULT_SLICE_ROWS
from prism_dagster.archive.redaction import FieldPolicy


class WriteFields(BaseModel):
    """How an hour is written: file size limits, gzip level and the hour lease.

    Declared once, here: prism.yaml's integrations and ``WriteSettings`` both inherit them.
    """

    gzip_level: int = Field(default=6, ge=1, le=9, description="gzip level, 1 (fast) to 9.")
    max_rows_per_file: int = Field(
        default=1_000_000, ge=1, description="A new batch file every this many rows."
    )
    max_bytes_per_file: int | None = Field(
        default=None, ge=1024, description="Also start a new file before one passes this size."
    )
    slice_rows: int = Field(
        default=DEFAULT_SLICE_ROWS, ge=1, description="Rows per gzip member (memory bound)."
    )
    threads: int = Field(default=2, ge=1, le=64, description="Slices compressed at once.")
    lease_wait_s: float = Field(
        default=60, ge=0, le=3600, description="Wait this long for another run writing an hour."
    )
    lease_ttl_s: float = Field(
        default=30 * 60,
        ge=60,  # leases are not renewed: shorter than an hour's write would let a run in
        le=24 * 3600,
        description="A crashed writer's hour lease is free after this many seconds.",
    )


class FieldSettings(dg.Config):
    """The fields policy as Dagster config; ``salt`` is a ``dg.EnvVar`` until Dagster starts
    the IO manager (the UI and run config show the variable's name, never the salt)."""

    exclude: list[str] = Field(default_factory=list, description="Fields left out.")
    hash: list[str] = Field(default_factory=list, description="Text fields written as HMACs.")
    salt: str | None = Field(
        default=None, repr=False, description="The HMAC key (from an env var)."
    )

    def policy(self) -> FieldPolicy:
        """The policy the writer applies; without the salt while it is not read yet."""
        # An unstarted EnvVar is a str holding the variable's *name*: never a key.
        salt = None if self.salt is None or isinstance(self.salt, dg.EnvVar) else self.salt
        return FieldPolicy(
            tuple(self.exclude), tuple(self.hash), None if salt is None else salt.encode()
        )


class WriteSettings(dg.Config, WriteFields):
    """``WriteFields`` as Dagster config, for the IO manager and the writer."""

    fields: FieldSettings = Field(
        default_factory=FieldSettings, description="Fields excluded or hashed (prism.yaml)."
    )
