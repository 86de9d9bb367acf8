"""Materialise an integration's hours in process, as the UI's launch would, and read failures."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg

from prism_dagster.config import parse_config
from prism_dagster.definitions import build_definitions
from prism_dagster.names import CAUSE_METADATA_KEY, PARTITION_KEY_FORMAT, archive_job_name
from prism_dagster_tests.support.stores import Store


def spool_config(spool: Path, store: Store, prefix: str, **extra: Any) -> dict[str, Any]:
    """prism.yaml for one integration ``prod`` reading ``spool`` and writing to ``store``."""
    integration = {
        "name": "prod",
        "prefix": prefix,
        "start": "2026-03-31T00",
        **store.integration(**extra),
    }
    return {"source": {"kind": "spool", "path": str(spool)}, "integrations": [integration]}


def materialise(
    config: dict[str, Any], *hours: datetime, check: bool = True
) -> dg.ExecuteInProcessResult:
    """Run ``prod``'s archive job for each hour; the last result (asserted a success if
    ``check``)."""
    with dg.instance_for_test() as instance:
        job = build_definitions(parse_config(config)).resolve_job_def(archive_job_name("prod"))
        for h in hours:
            result = job.execute_in_process(
                partition_key=h.strftime(PARTITION_KEY_FORMAT),
                instance=instance,
                raise_on_error=False,
            )
            if check:
                assert result.success, failure_message(result)
    return result


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The step failure's message as the run's event log shows it (the cause if wrapped)."""
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    if not failures:
        return ""
    error = failures[0].step_failure_data.error
    return error.cause.message if error.cause else error.message


def failure_cause(result: dg.ExecuteInProcessResult) -> tuple[str, str]:
    """(cause, category) as the failed step's metadata carries them to the UI and sensors."""
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    data = failures[0].step_failure_data.user_failure_data
    return data.metadata[CAUSE_METADATA_KEY].value, data.metadata["category"].value
