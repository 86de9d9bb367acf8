"""The ``prism-dagster`` command as a user runs it (a real process), and a small world for it:
a prism.yaml, a spool and three hours archived by one Dagster run."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from prism_dagster.archive import layout
from prism_dagster.build import build_definitions
from prism_dagster.config import load_config
from prism_dagster.names import (
    PARTITION_RANGE_END_TAG,
    PARTITION_RANGE_START_TAG,
    archive_job_name,
    partition_key,
)
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.rows import hour

PRISM = Path(sys.executable).parent / "prism-dagster"
#: The world's archived hours: 2026-04-01T00, T01 and T02.
FIRST, LAST = hour("2026-04-01T00"), hour("2026-04-01T02")
#: Relative folders: a copied world is a world of its own.
CONFIG = """\
source: {kind: spool, path: spool}
integrations:
  - {name: prod, provider: local, path: archive, start: "2026-04-01T00"}
"""


def prism(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``prism-dagster ARGS`` in ``cwd``, with none of the caller's prism or Dagster settings."""
    base = {k: v for k, v in os.environ.items() if k not in ("PRISM_CONFIG", "DAGSTER_HOME")}
    return subprocess.run(
        [str(PRISM), *map(str, args)],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


@dataclass(frozen=True)
class World:
    """A folder holding prism.yaml (integration ``prod``), its spool, archive and Dagster home."""

    root: Path

    @property
    def env(self) -> dict[str, str]:
        return {"DAGSTER_HOME": str(self.root / "dagster_home")}

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return prism(*args, cwd=self.root, env=self.env)


def archived_world(root: Path) -> World:
    """Three simulated hours archived in one run of ``archive_prod``, as the CLI's demo runs it."""
    world = World(root)
    (root / "dagster_home").mkdir(parents=True)
    (root / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    (root / "prism.yaml").write_text(CONFIG)
    simulate(root / "spool", FIRST, LAST + layout.ONE_HOUR, rate=40, seed=7)
    config = load_config(root / "prism.yaml")
    job = build_definitions(config).resolve_job_def(archive_job_name(config.integrations[0]))
    tags = {
        PARTITION_RANGE_START_TAG: partition_key(FIRST),
        PARTITION_RANGE_END_TAG: partition_key(LAST),
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", world.env["DAGSTER_HOME"])
        with dg.DagsterInstance.get() as instance:
            assert job.execute_in_process(instance=instance, tags=tags).success
    return world
