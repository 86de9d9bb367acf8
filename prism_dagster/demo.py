"""``prism-dagster demo``: simulate a day of traffic and archive it through Dagster."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from prism_dagster import layout
from prism_dagster.assets import PARTITION_KEY_FORMAT
from prism_dagster.config import PrismConfig, SpoolSourceConfig, load_config
from prism_dagster.defaults import PRISM_DIR, default_yaml, demo_window
from prism_dagster.definitions import build_definitions
from prism_dagster.errors import ConfigError
from prism_dagster.jobs import archive_job_name
from prism_dagster.manifest import Manifest
from prism_dagster.resources import build_destination
from prism_dagster.simulate import simulate

# The run's events still go to the instance (and the UI); the terminal gets the summary.
_QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


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


def dagster_instance(root: Path) -> dg.DagsterInstance:
    """``$DAGSTER_HOME`` if set, else a persistent instance under ``.prism/dagster_home``.

    Persistent so that ``dagster dev`` pointed at the same home shows the demo's runs.
    """
    if not os.environ.get("DAGSTER_HOME"):
        home = (root / "dagster_home").resolve()
        home.mkdir(parents=True, exist_ok=True)
        (home / "dagster.yaml").touch()  # defaults are right; the file only silences a warning
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
    summaries = []
    for integration in config.integrations:
        first = max(start, integration.start)
        if first >= end:
            continue
        last = end - layout.ONE_HOUR
        tags = {
            ASSET_PARTITION_RANGE_START_TAG: first.strftime(PARTITION_KEY_FORMAT),
            ASSET_PARTITION_RANGE_END_TAG: last.strftime(PARTITION_KEY_FORMAT),
        }
        job = defs.resolve_job_def(archive_job_name(integration.name))
        job.execute_in_process(run_config=_QUIET, instance=instance, tags=tags)
        summaries.append(summarize(config, integration.name, first, end))
    return summaries


def summarize(config: PrismConfig, name: str, start: datetime, end: datetime) -> DemoSummary:
    """Totals of an integration's archive over ``[start, end)``, from its manifests."""
    integration = next(i for i in config.integrations if i.name == name)
    dest = build_destination(integration, live=True)
    hours = list(layout.hours_between(start, end))
    manifests = []
    for hour in hours:
        key = layout.manifest_key(integration.prefix, hour)
        if dest.exists(key):
            manifests.append(Manifest.from_bytes(dest.get_object(key), dest.uri(key)))
    return DemoSummary(
        integration=name,
        hours=len(hours),
        hours_with_data=sum(1 for m in manifests if m.total_rows),
        rows=sum(m.total_rows for m in manifests),
        rejected_rows=sum(m.rejected_rows for m in manifests),
        files=sum(len(m.files) for m in manifests),
        bytes=sum(f.bytes for m in manifests for f in m.files),
        location=dest.uri(f"{integration.prefix}/logs/" if integration.prefix else "logs/"),
    )


def run_demo(config_file: Path, rate: int = 500, now: datetime | None = None) -> list[DemoSummary]:
    """Write the default config if missing, simulate the last 24 hours, archive them."""
    config = ensure_config(config_file)
    if not isinstance(config.source, SpoolSourceConfig):
        raise ConfigError(f"{config_file}: the demo simulates traffic into a spool source only")
    start, end = demo_window(now)
    simulate(Path(config.source.path), start, end, rate)
    return archive_window(config, start, end, dagster_instance(PRISM_DIR))
