"""``prism-dagster demo``: simulate a day of traffic and archive it through Dagster."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg
import polars as pl

from prism_dagster.archive import layout
from prism_dagster.build import build_definitions
from prism_dagster.config import (
    Integration,
    PrismConfig,
    SpoolSourceConfig,
    load_config,
    secret_env_values,
)
from prism_dagster.config.defaults import PRISM_DIR, default_yaml, demo_window
from prism_dagster.defs.resources import live, live_archive, status_resource
from prism_dagster.errors import ConfigError, FailureCause, PrismError
from prism_dagster.lifecycle.causes import run_failure
from prism_dagster.lifecycle.run_outcome import record_outcome
from prism_dagster.names import (
    PARTITION_RANGE_END_TAG,
    PARTITION_RANGE_START_TAG,
    archive_job_name,
    partition_key,
    usage_job_name,
    usage_key,
)
from prism_dagster.sources.simulate import simulate

# The run's events still go to the instance (and the UI); the terminal gets the summary.
# The demo prints its own summary, or the failure's cause in one line (with the status
# recorded): Dagster's console log would add a traceback per failed step and run.
_QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class DemoFailed(PrismError):
    """The demo's archive run failed; its cause is recorded as the integration's status."""

    def __init__(self, message: str, cause: FailureCause) -> None:
        super().__init__(message)
        self.cause = cause


@dataclass(frozen=True)
class DemoSummary:
    """What the demo archived, read back from the manifests it wrote."""

    integration: str
    hours: int
    hours_with_data: int
    rows: int
    rejected_rows: int
    files: int
    bytes: int
    location: str
    #: The daily usage rollup of the window's first (closed) day: (day, its table).
    usage: tuple[str, pl.DataFrame] | None = None


def dagster_instance(root: Path) -> dg.DagsterInstance:
    """``$DAGSTER_HOME`` if set, else a persistent instance under ``.prism/dagster_home``.

    Persistent so that ``dagster dev`` pointed at the same home shows the demo's runs.
    """
    if not os.environ.get("DAGSTER_HOME"):
        home = (root / "dagster_home").resolve()
        home.mkdir(parents=True, exist_ok=True)
        settings = home / "dagster.yaml"
        if not settings.exists():
            # The demo's own instance: no telemetry, so no banner on the first `make demo`.
            settings.write_text("telemetry:\n  enabled: false\n")
        os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def ensure_config(config_file: Path, root: Path = PRISM_DIR) -> PrismConfig:
    """Load ``config_file``, writing the default one first if there is none."""
    if not config_file.exists():
        config_file.write_text(default_yaml(root))
    return load_config(config_file)


def archive_window(
    config: PrismConfig, start: datetime, end: datetime, instance: dg.DagsterInstance
) -> list[DemoSummary]:
    """Materialise ``[start, end)`` of every integration in one Dagster run each."""
    defs = build_definitions(config)
    # In-process runs reach no run-status sensor: record their outcome as the sensors would.
    store = live(status_resource(config)).store()
    summaries = []
    for integration in config.integrations:
        first = max(start, integration.start)
        if first >= end:
            continue
        last = end - layout.ONE_HOUR
        tags = {
            PARTITION_RANGE_START_TAG: partition_key(first),
            PARTITION_RANGE_END_TAG: partition_key(last),
        }
        job = defs.resolve_job_def(archive_job_name(integration))
        result = job.execute_in_process(
            run_config=_QUIET, instance=instance, tags=tags, raise_on_error=False
        )
        run = instance.get_run_by_id(result.run_id)
        secrets = secret_env_values(config)
        if run is not None:
            record_outcome(store, instance, run, [integration], secrets)
        if not result.success:
            # The status now says Error with the cause, as a sensor would have recorded it;
            # the operator reads the same sentence here, not Dagster's traceback.
            cause, message = run_failure(instance, result.run_id, secrets)
            raise DemoFailed(
                f"{integration.name}: the demo's run {result.run_id} failed ({cause.value}): "
                f"{message}",
                cause,
            )
        usage = daily_usage(defs, integration, first, instance)
        summaries.append(summarize(config, integration.name, first, end, usage))
    return summaries


def daily_usage(
    defs: dg.Definitions, integration: Integration, first: datetime, instance: dg.DagsterInstance
) -> tuple[str, pl.DataFrame] | None:
    """Build the rollup of ``first``'s UTC day, once that day has ended (else None)."""
    day = first.strftime("%Y-%m-%d")
    job = defs.resolve_job_def(usage_job_name(integration))
    if day not in job.partitions_def.get_partition_keys(dynamic_partitions_store=instance):
        return None
    result = job.execute_in_process(run_config=_QUIET, instance=instance, partition_key=day)
    return day, result.output_for_node(usage_key(integration).to_python_identifier())


def summarize(
    config: PrismConfig,
    name: str,
    start: datetime,
    end: datetime,
    usage: tuple[str, pl.DataFrame] | None = None,
) -> DemoSummary:
    """Totals of an integration's archive over ``[start, end)``, from its manifests."""
    integration = next(i for i in config.integrations if i.name == name)
    archive = live_archive(integration)
    hours = list(layout.hours_between(start, end))
    manifests = [m for m in (archive.manifest(hour) for hour in hours) if m is not None]
    return DemoSummary(
        integration=name,
        hours=len(hours),
        hours_with_data=sum(1 for m in manifests if m.total_rows),
        rows=sum(m.total_rows for m in manifests),
        rejected_rows=sum(m.rejected_rows for m in manifests),
        files=sum(len(m.files) for m in manifests),
        bytes=sum(f.bytes for m in manifests for f in m.files),
        location=archive.uri(),
        usage=usage,
    )


def run_demo(config_file: Path, rate: int = 500, now: datetime | None = None) -> list[DemoSummary]:
    """Write the default config if missing, simulate the last 24 hours, archive them."""
    config = ensure_config(config_file)
    if not isinstance(config.source, SpoolSourceConfig):
        raise ConfigError(f"{config_file}: the demo simulates traffic into a spool source only")
    start, end = demo_window(now)
    simulate(Path(config.source.path), start, end, rate)
    return archive_window(config, start, end, dagster_instance(PRISM_DIR))
