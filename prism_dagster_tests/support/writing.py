"""Hour 14 of integration ``prod`` under ``prism/production``, written as the writer tests do."""

from __future__ import annotations

from typing import Any

import polars as pl

from prism_dagster.archive.settings import WriteSettings
from prism_dagster.archive.writer import HourResult, Writer, write_hour
from prism_dagster.destinations import Destination
from prism_dagster.sources import SourceBatch
from prism_dagster_tests.support.rows import hour

H14 = hour("2026-03-31T14")
PREFIX = "prism/production"


def write(
    dest: Destination,
    frame: pl.DataFrame,
    rejects: pl.DataFrame | None = None,
    writer: Writer | None = None,
    **settings: Any,
) -> HourResult:
    """Replace hour 14 with ``frame`` (small slices by default, so files have many members)."""
    return write_hour(
        dest,
        integration="prod",
        prefix=PREFIX,
        hour=H14,
        records=frame,
        rejects=SourceBatch.empty_rejects() if rejects is None else rejects,
        settings=WriteSettings(**{"slice_rows": 1000, **settings}),
        writer=writer,
    )
