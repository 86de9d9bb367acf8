"""Sensors that keep each integration's status true, retry failures and show status in the UI."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import dagster as dg

from prism_dagster import clock
from prism_dagster.config import Integration, PrismConfig, secret_env_values
from prism_dagster.defs.resources import StatusStoreResource
from prism_dagster.errors import FailureCause
from prism_dagster.lifecycle.catchup import STALE_RUN_AFTER, pending_hours, tick
from prism_dagster.lifecycle.run_outcome import record_outcome
from prism_dagster.lifecycle.status import IntegrationState, Status, StatusStore
from prism_dagster.names import (
    ERROR_RETRY_SENSOR,
    RUN_FAILED_SENSOR,
    RUN_STARTED_SENSOR,
    RUN_SUCCEEDED_SENSOR,
    STATUS_CHECK,
    STATUS_SENSOR,
    AssetJob,
    archive_key,
    hour_text,
    integration_key,
    sensor_name,
    status_resource_key,
)

Jobs = Sequence[AssetJob]


def build_sensors(config: PrismConfig, jobs: Jobs) -> list[dg.SensorDefinition]:
    """Run-status sensors, the failure sensor, the error-retry sensor and the status sensor."""
    ns = config.namespace
    by_key = {integration_key(i): i for i in config.integrations}
    status_key = status_resource_key(ns)

    def store_of(context: dg.SensorEvaluationContext) -> StatusStore:
        resource: StatusStoreResource = getattr(context.resources, status_key)
        return resource.store()

    def record(context: dg.RunStatusSensorContext, **_: object) -> None:
        # The run as stored now: sensors evaluate in no fixed order, so a STARTED event may
        # be read after the run already reported its result (which must then stand).
        run = context.instance.get_run_by_id(context.dagster_run.run_id) or context.dagster_run
        integrations = config.integrations
        secrets = secret_env_values(config)
        record_outcome(store_of(context), context.instance, run, integrations, secrets)

    # Every run of the instance, whatever its job or code location: runs of Dagster's implicit
    # asset job (the asset page's Materialize, backfills) and runs executed in the CLI's own
    # process (`dagster job execute`, `dagster asset materialize -m …`, whose origin is another
    # location name) keep status true like our jobs' runs. `record` picks out the runs that
    # archive an integration, by tag or by asset selection.
    def on_status(name: str, status: dg.DagsterRunStatus, what: str) -> dg.SensorDefinition:
        # The definition class, not the decorators: they take no required_resource_keys, and
        # the status store's key is namespaced, so it cannot be a parameter's name.
        return dg.RunStatusSensorDefinition(
            name=sensor_name(ns, name),
            run_status=status,
            run_status_sensor_fn=record,
            monitor_all_code_locations=True,
            default_status=dg.DefaultSensorStatus.RUNNING,
            description=f"Marks an integration {what}.",
            required_resource_keys={status_key},
        )

    run_started = on_status(
        RUN_STARTED_SENSOR, dg.DagsterRunStatus.STARTED, "Syncing when a run archiving it starts"
    )
    run_succeeded = on_status(
        RUN_SUCCEEDED_SENSOR,
        dg.DagsterRunStatus.SUCCESS,
        "Active (error cleared) when a run archiving it succeeds",
    )
    run_failed = on_status(
        RUN_FAILED_SENSOR,
        dg.DagsterRunStatus.FAILURE,
        "Error with a classified cause when a run archiving it fails",
    )

    @dg.sensor(
        name=sensor_name(ns, ERROR_RETRY_SENSOR),
        jobs=list(jobs),
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={status_key},
        description="Retries integrations in Error after 5, 15, 60 minutes, then hourly.",
    )
    def error_retry(context: dg.SensorEvaluationContext, **_: object) -> dg.SensorResult:
        requests, skipped = [], []
        for integration in config.integrations:
            result = tick(
                context.instance,
                integration,
                config.catch_up,
                store_of(context),
                clock.utc_now(),
                retrying=True,
            )
            if isinstance(result, dg.SkipReason):
                skipped.append(result.skip_message or "")
            else:
                requests.extend(result)
        return dg.SensorResult(
            run_requests=requests, skip_reason=None if requests else "; ".join(skipped)
        )

    @dg.sensor(
        name=sensor_name(ns, STATUS_SENSOR),
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={status_key},
        description="Clears a stale Syncing (run gone or ended silently) and records each "
        "integration's status as an observation on its archive asset.",
    )
    def status(context: dg.SensorEvaluationContext, **_: object) -> dg.SensorResult:
        store = store_of(context)
        store.ensure(list(by_key))
        secrets, now = secret_env_values(config), clock.utc_now()
        for state in store.all():
            if state.status is Status.SYNCING and state.name in by_key:
                integration = by_key[state.name]
                recover_stale_syncing(context.instance, store, integration, state, secrets, now)
        seen = json.loads(context.cursor) if context.cursor else {}
        events = []
        for state in store.all():
            if state.name not in by_key:
                continue
            integration = by_key[state.name]
            pending = len(pending_hours(context.instance, integration, state.added_at, now))
            shown = observation_metadata(state, pending)
            fingerprint = json.dumps(shown, sort_keys=True, default=str)
            if seen.get(state.name) != fingerprint:
                seen[state.name] = fingerprint
                events.append(
                    dg.AssetObservation(asset_key=archive_key(integration), metadata=shown)
                )
                events.append(status_evaluation(integration, state, pending))
        return dg.SensorResult(asset_events=events, cursor=json.dumps(seen, sort_keys=True))

    return [run_started, run_succeeded, run_failed, error_retry, status]


def recover_stale_syncing(
    instance: dg.DagsterInstance,
    store: StatusStore,
    integration: Integration,
    state: IntegrationState,
    secrets: list[str],
    now: datetime,
) -> None:
    """A Syncing whose run is gone, ended unreported, or hung must not stick.

    Updates are conditional on the row still showing this run as Syncing, so a result the
    run-status sensors record meanwhile always wins.
    """
    run = instance.get_run_by_id(state.run_id) if state.run_id else None
    if run is not None and not run.is_finished:
        if state.syncing_since and now - state.syncing_since < STALE_RUN_AFTER:
            return
        message = f"run {run.run_id} has shown no result for over {STALE_RUN_AFTER}; hung?"
        store.mark_error(state.name, run.run_id, "unknown", message, now, only_if_syncing=True)
        return
    if run is not None and record_outcome(
        store, instance, run, [integration], secrets, now, only_if_syncing=True
    ):
        return  # it finished and its result was never recorded: record it now
    what = f"run {state.run_id} " + ("was deleted" if run is None else f"ended {run.status.value}")
    message = f"{what} without reporting a result; the hours it covered will be retried"
    category = FailureCause.UNKNOWN.category
    store.mark_error(state.name, state.run_id, category, message, now, only_if_syncing=True)


def observation_metadata(state: IntegrationState, pending: int) -> dict[str, str | int]:
    """What the UI shows of an integration's status; ``pending``: closed hours not archived
    (``lifecycle.catchup.pending_hours``, read from Dagster when shown)."""

    def when(value: datetime | None) -> str:
        return hour_text(value) if value else "-"

    return {
        "status": state.status.value,
        "last_archived_hour": when(state.last_archived_hour),
        "last_success": when(state.last_success_at),
        "last_error": state.last_error or "-",
        "error_cause": state.error_cause or "-",
        "last_error_at": when(state.last_error_at),
        "next_retry_at": when(state.next_retry_at),
        "pending_hours": pending,
    }


def status_evaluation(
    integration: Integration, state: IntegrationState, pending: int
) -> dg.AssetCheckEvaluation:
    """The integration's status as its ``integration_status`` check: red (ERROR) in Error."""
    failing = state.status is Status.ERROR
    return dg.AssetCheckEvaluation(
        asset_key=archive_key(integration),
        check_name=STATUS_CHECK,
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"Error ({state.error_cause}): {state.last_error}" if failing else state.status.value
        ),
        metadata=observation_metadata(state, pending),
    )
