"""The embedded default: a spool and an archive folder under ``.prism/``, no cloud account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from prism_dagster.archive import layout
from prism_dagster.config.loading import parse_config
from prism_dagster.config.model import PrismConfig

PRISM_DIR = Path(".prism")
DEMO_HOURS = 24
DEFAULT_INTEGRATION = "local_demo"

_TEMPLATE = """\
# prism_dagster configuration, written by `prism-dagster demo`: see docs/configuration.md.
source:
  kind: spool              # the embedded default: gateway NDJSON (.gz) files in a folder
  path: {spool}
  bad_records: keep        # keep: archive good rows, keep bad lines in _rejects_{{id}}.jsonl.gz
                           # fail: fail the run, naming the bad lines
integrations:
  - name: {name}
    provider: local        # a local folder plays the bucket
    path: {archive}
    prefix: prism/demo     # objects go to {{prefix}}/logs/YYYY/MM/DD/hour=HH/
    start: "{start}"  # first UTC hour archived
    # gzip_level, max_rows_per_file, retry, ...: see docs/configuration.md for each and its default
"""


def demo_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last ``DEMO_HOURS`` closed UTC hours: ``[start, end)``."""
    end = layout.as_utc_hour(now or datetime.now(UTC))
    return end - timedelta(hours=DEMO_HOURS), end


def default_yaml(root: Path = PRISM_DIR, now: datetime | None = None) -> str:
    """The text of the default prism.yaml."""
    start, _ = demo_window(now)
    return _TEMPLATE.format(
        spool=root / "spool",
        archive=root / "archive",
        name=DEFAULT_INTEGRATION,
        start=f"{start:%Y-%m-%dT%H}",
    )


def default_config(root: Path = PRISM_DIR) -> PrismConfig:
    """The default configuration, as if prism.yaml held ``default_yaml()``."""
    return parse_config(yaml.safe_load(default_yaml(root)), "built-in default configuration")
