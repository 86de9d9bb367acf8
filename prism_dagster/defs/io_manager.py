"""The archive IO manager: writes each hour of a partition window to a destination."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field

from prism_dagster.archive import layout
from prism_dagster.archive.archive import Archive
from prism_dagster.archive.settings import WriteSettings
from prism_dagster.archive.window import ArchiveWindow, HourBatch
from prism_dagster.archive.writer import Writer
from prism_dagster.defs.failures import reported_as_failure
from prism_dagster.defs.metadata import Previous, hour_line, hour_metadata, window_metadata
from prism_dagster.destinations.base import Destination
from prism_dagster.errors import HourBusyError
from prism_dagster.names import partition_key


class _ToRunLog(logging.Handler):
    """Our library's log records (retries, lease waits) as events of the run's log."""

    def __init__(self, log: Any) -> None:
        super().__init__(logging.INFO)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        say = self._log.warning if record.levelno >= logging.WARNING else self._log.info
        say(record.getMessage())


@contextmanager
def logged_to(run_log: Any) -> Iterator[None]:
    """Meanwhile, records of the ``prism_dagster`` logger go to the run's event log too."""
    handler, logger = _ToRunLog(run_log), logging.getLogger("prism_dagster")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


@dataclass(frozen=True)
class ArchiveOutput:
    """The archive asset's value: the window to write, and where each hour's figures go.

    Dagster builds each partition's materialization after ``handle_output`` returns, merging
    what was recorded for that partition with ``AssetExecutionContext.add_asset_metadata(
    partition_key=…)`` over the output's metadata. ``OutputContext`` has no per-partition
    variant, so the asset hands that public method over as ``report_hour``.
    """

    window: ArchiveWindow
    report_hour: Callable[[str, Mapping[str, Any]], None] | None = None
    #: Whether a run has finished (its hour leases are then stale); from the run's instance.
    run_finished: Callable[[str], bool] | None = None
    #: The hour's materialization before this run, by partition key (provenance).
    previous: Callable[[str], Previous | None] | None = None
    #: What every hour of the run shows last, after its own figures and the window's.
    run_metadata: Mapping[str, Any] = field(default_factory=dict)


class _SaidOnce:
    """Paths the source could not read, or does not read, warned once per run, not per hour."""

    def __init__(self, log: Any) -> None:
        self._log = log
        self.ignored: list[str] = []
        self.unreadable: list[str] = []

    def problems(self, batch: HourBatch) -> None:
        new = [p for p in batch.unreadable if p not in self.unreadable]
        for problem in new[:5]:
            self._log.warning(f"could not read {problem}; its rows are not in this archive")
        self.unreadable += new
        ignored = [p for p in batch.ignored if p not in self.ignored]
        if ignored:
            self._log.warning(
                f"{len(ignored)} spool entries are not log files and were not read: "
                + ", ".join(ignored[:10])
            )
        self.ignored += ignored


class ArchiveIOManager(dg.ConfigurableIOManager):
    """Writes hourly gzip JSON Lines archives with a manifest; reads them back verified."""

    destination: Destination
    integration: str = Field(description="Integration name; part of every batch id.")
    prefix: str = Field(default="", description="Key prefix, e.g. prism/production.")
    settings: WriteSettings = Field(default_factory=WriteSettings)

    @property
    def archive(self) -> Archive:
        """The integration's archive this IO manager writes and reads."""
        return Archive(self.integration, self.destination, self.prefix, self.settings)

    def handle_output(self, context: dg.OutputContext, obj: ArchiveOutput) -> None:
        with reported_as_failure(), logged_to(context.log):
            self._write(context, obj)

    def _write(self, context: dg.OutputContext, obj: ArchiveOutput) -> None:
        window = context.asset_partitions_time_window
        if (window.start, window.end) != (obj.window.start, obj.window.end):
            raise ValueError(f"asset produced {obj.window} for partitions {window}")
        writer = Writer(context.run_id, obj.run_finished)
        archive = self.archive
        results, busy, said = [], [], _SaidOnce(context.log)
        # One hour at a time: read, write, report, let go; then the next.
        for batch in obj.window.hours():
            said.problems(batch)
            try:
                result = archive.write_hour(
                    batch.hour, batch.records, batch.rejects, batch.fingerprint, writer
                )
            except HourBusyError as exc:
                # Another run is writing this hour: leave it to that run, write the others.
                context.log.warning(str(exc))
                busy.append(exc)
                continue
            finally:
                # Let go of the hour's rows (in memory, or a large hour's minutes on disk)
                # before the next hour is read: the loop variable would keep them until then.
                batch.records.close()
            context.log.info(hour_line(result, archive))
            key = partition_key(batch.hour)
            if obj.report_hour is not None:
                before = obj.previous(key) if obj.previous is not None else None
                obj.report_hour(key, hour_metadata(result, batch.records, archive, before))
            results.append(result)
        # The window's totals follow each hour's own figures (not the output's metadata, which
        # Dagster would show first), so an hour's page leads with the hour.
        window = window_metadata(obj.window, results, archive, said.ignored, said.unreadable)
        if obj.report_hour is not None:
            for result in results:
                obj.report_hour(partition_key(result.hour), {**window, **obj.run_metadata})
        else:
            context.add_output_metadata({**window, **obj.run_metadata})
        if busy:
            hours = [label for exc in busy for label in exc.hours]
            # Who holds each hour and until when, first: what the operator waits for.
            held = [
                f"{label} (run {exc.holder} holds it until {exc.until})" if exc.holder else label
                for exc in busy
                for label in exc.hours
            ]
            raise HourBusyError(
                f"{len(busy)} hour(s) were being written by another run and were left to it: "
                f"{', '.join(held)}. The other {len(results)} hour(s) were archived; rerun "
                "the hour(s) once that run has finished.",
                hours,
                holder=busy[0].holder,
                until=busy[0].until,
            )

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        window = context.asset_partitions_time_window
        archive = self.archive
        with reported_as_failure():
            frames = [archive.read_hour(h) for h in layout.hours_between(window.start, window.end)]
        # Hours written under another fields policy hold other columns: nulls where absent,
        # and none the policy now excludes (the asset's column schema says which there are).
        schema = archive.schema()
        joined = pl.concat([pl.DataFrame(schema=schema), *frames], how="diagonal")
        return joined.select(list(schema))
