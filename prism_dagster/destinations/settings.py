"""How every destination uploads and retries: declared once, read by prism.yaml and Dagster."""

from __future__ import annotations

import dagster as dg
from pydantic import BaseModel, ConfigDict, Field


class RetryPolicy(dg.Config):
    """How transient failures (5xx, throttling, timeouts, network) are retried."""

    # A misspelt key in prism.yaml's retry block is an error, not a silently kept default.
    model_config = ConfigDict(extra="forbid")

    # A cap only: retrying normally stops at give_up_after_s, which 30 attempts outlast.
    attempts: int = Field(default=30, ge=1, le=100, description="At most this many tries.")
    initial_backoff_s: float = Field(default=0.5, gt=0)
    max_backoff_s: float = Field(default=20.0, gt=0)
    give_up_after_s: float = Field(
        default=120.0, gt=0, description="Stop retrying a request this long after its first try."
    )
    request_timeout_s: float = Field(default=60.0, gt=0, description="Connect/read timeout.")

    def for_cleanup(self) -> RetryPolicy:
        """The short budget of a clean-up after a failure (aborting an upload, letting go of
        a lease): one retry, soon. The store may be what failed, and the next run finishes
        what is left (it aborts unfinished uploads and takes over a lease whose run is gone).
        """
        return self.model_copy(
            update={
                "attempts": min(self.attempts, CLEANUP_ATTEMPTS),
                "give_up_after_s": min(self.give_up_after_s, CLEANUP_BUDGET_S),
                "max_backoff_s": min(self.max_backoff_s, self.initial_backoff_s),
            }
        )


#: A clean-up request is tried at most this often, over at most this long.
CLEANUP_ATTEMPTS = 2
CLEANUP_BUDGET_S = 5.0


class DestinationFields(BaseModel):
    """Upload settings every provider shares; declared once, inherited by prism.yaml's
    integrations and by ``DestinationSettings``."""

    gzip_content_encoding: bool = Field(
        default=False,
        description="Store batches as Content-Type application/x-ndjson with Content-Encoding "
        "gzip. Off by default: browsers, consoles and SDKs then decompress on download and "
        "the saved file is no longer gzip. Default: Content-Type application/gzip, no encoding.",
    )
    part_size_mb: int = Field(
        default=8, ge=5, le=512, description="Objects larger than this upload in parts."
    )
    retry: RetryPolicy = Field(default_factory=RetryPolicy)


class DestinationSettings(dg.Config, DestinationFields):
    """``DestinationFields`` as Dagster config, for the destination resources."""

    @property
    def part_size(self) -> int:
        """``part_size_mb`` in bytes."""
        return self.part_size_mb * 2**20
