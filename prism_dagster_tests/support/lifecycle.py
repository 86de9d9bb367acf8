"""Drive the lifecycle as the Dagster daemon would: ticks, real runs, then their sensors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dagster as dg
import pytest

from prism_dagster import clock
from prism_dagster.config import PrismConfig, parse_config
from prism_dagster.definitions import build_definitions
from prism_dagster.defs.resources import StatusStoreResource
from prism_dagster.lifecycle.status import StatusStore
from prism_dagster.names import archive_job_name, archive_key


class Daemon:
    """One configuration, one Dagster instance, one status store, and a settable clock."""

    def __init__(
        self,
        raw: dict[str, Any],
        instance: dg.DagsterInstance,
        monkeypatch: pytest.MonkeyPatch,
        now: datetime,
    ) -> None:
        self.config: PrismConfig = parse_config(raw)
        self.defs = build_definitions(self.config)
        self.instance = instance
        self.status = StatusStoreResource(url=raw["status_store"]["url"])
        self.store: StatusStore = self.status.store()
        self.now = now
        monkeypatch.setattr(clock, "utc_now", lambda: self.now)

    def schedule(self, name: str = "prod") -> list[dg.RunRequest] | dg.SkipReason:
        schedule = self.defs.resolve_schedule_def(f"archive_{name}_schedule")
        # Entered and left here: a context left to the garbage collector resets Dagster's
        # current-instance context variable later, to an instance a finished test disposed.
        with dg.build_schedule_context(
            instance=self.instance, resources={"prism_status_store": self.status}
        ) as context:
            return schedule(context)

    def sensor(self, name: str, cursor: str | None = None) -> dg.SensorResult:
        sensor = self.defs.resolve_sensor_def(name)
        resources = {**self.defs.resources, "prism_status_store": self.status}
        # Entered, as the daemon does: IO manager resources are context managers.
        with dg.build_sensor_context(
            instance=self.instance, resources=resources, cursor=cursor
        ) as context:
            return sensor(context)

    def launch(
        self, request: dg.RunRequest, name: str = "prod", by: dict[str, str] | None = None
    ) -> dg.ExecuteInProcessResult:
        """Run a request for real, then fire the run-status sensors the daemon would.

        ``by``: the tag the daemon adds naming what launched it (schedule or sensor).
        """
        job = self.defs.resolve_job_def(archive_job_name(name))
        result = job.execute_in_process(
            instance=self.instance, tags={**request.tags, **(by or {})}, raise_on_error=False
        )
        return self._report(result)

    def materialize_from_ui(self, partition: str, *names: str) -> dg.ExecuteInProcessResult:
        """What the asset page's Materialize launches: Dagster's implicit asset job, the
        selected archive assets and a partition tag, none of our tags; then its sensors."""
        job = self.defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=self.instance,
            tags={"dagster/partition": partition},
            asset_selection=[archive_key(name) for name in names],
            raise_on_error=False,
        )
        return self._report(result)

    def _report(self, result: dg.ExecuteInProcessResult) -> dg.ExecuteInProcessResult:
        run = self.instance.get_run_by_id(result.run_id)
        self._fire("prism_run_started", run, dg.DagsterEventType.RUN_START)
        if result.success:
            self._fire("prism_run_succeeded", run, dg.DagsterEventType.RUN_SUCCESS)
        else:
            self._fire("prism_run_failed", run, dg.DagsterEventType.RUN_FAILURE, failure=True)
        return result

    def _fire(
        self, sensor_name: str, run: dg.DagsterRun, kind: dg.DagsterEventType, failure: bool = False
    ) -> None:
        [record] = self.instance.get_records_for_run(run.run_id, of_type=kind).records
        sensor = self.defs.resolve_sensor_def(sensor_name)
        with dg.build_run_status_sensor_context(
            sensor_name=sensor_name,
            dagster_event=record.event_log_entry.dagster_event,
            dagster_instance=self.instance,
            dagster_run=run,
            resources={"prism_status_store": self.status},
        ) as context:
            sensor(context.for_run_failure() if failure else context)
