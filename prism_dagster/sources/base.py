"""The interface every log source (spool folder, PostgreSQL) implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from prism_dagster.schema import REJECT_SCHEMA

#: The internal column that attributes a rejected line to an hour.
REJECT_TIME = "_event_time"
BadRecordPolicy = Literal["keep", "fail"]


@dataclass(frozen=True)
class SourceBatch:
    """Gateway rows of a time window, plus the source lines that could not be read.

    ``rows`` carries the gateway's own column names (see ``schema.GATEWAY_SCHEMA``);
    ``rejects`` follows ``schema.REJECT_SCHEMA`` plus ``REJECT_TIME``.
    """

    rows: pl.DataFrame
    rejects: pl.DataFrame

    @staticmethod
    def empty_rejects() -> pl.DataFrame:
        return pl.DataFrame(schema={**REJECT_SCHEMA, REJECT_TIME: pl.Datetime("us", "UTC")})


class LogSource(dg.ConfigurableResource, ABC):
    """Reads the gateway's request logs for a UTC time window."""

    bad_records: BadRecordPolicy = Field(
        default="keep",
        description="keep: archive good rows, keep bad lines in _rejects.jsonl.gz; "
        "fail: fail the run naming the first bad lines.",
    )

    @abstractmethod
    def read_window(self, start: datetime, end: datetime) -> SourceBatch:
        """Rows whose event time (started_at, else created_at) is in ``[start, end)``."""

    @abstractmethod
    def describe(self) -> str:
        """A one-line, secret-free description for metadata and logs."""
