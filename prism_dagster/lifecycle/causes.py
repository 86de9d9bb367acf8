"""Why a run failed, read as data from Dagster's own failure events (never parsed from text).

Our errors reach Dagster as ``dg.Failure`` whose metadata carries the ``FailureCause`` and
whose description is the operator's message (see ``defs.failures``). Anything else (a bug,
a resource that could not start) is *unknown*, with its message in the operator's words.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from prism_dagster.errors import FailureCause, redact
from prism_dagster.names import CAUSE_METADATA_KEY


def _words(error: object) -> str:
    """An error's message without the ``module.ClassName: `` Dagster puts before it."""
    message = str(getattr(error, "message", "") or "").strip()
    cls_name = str(getattr(error, "cls_name", "") or "")
    head, sep, rest = message.partition(": ")
    return rest.strip() if sep and head.rsplit(".", 1)[-1] == cls_name else message


def run_failure(
    instance: dg.DagsterInstance, run_id: str, secrets: Sequence[str] = ()
) -> tuple[FailureCause, str]:
    """The cause and message of a failed run: its steps' failures, else the run's own."""
    deepest = None
    for kind in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE):
        for record in instance.get_records_for_run(run_id, of_type=kind).records:
            event = record.event_log_entry.dagster_event
            if event is None:
                continue
            data = event.event_specific_data
            user = getattr(data, "user_failure_data", None)
            if user is not None and CAUSE_METADATA_KEY in user.metadata:
                cause = FailureCause(user.metadata[CAUSE_METADATA_KEY].value)
                return cause, redact(user.description or cause.value, secrets)
            error = getattr(data, "error", None)
            while error is not None:  # the innermost error says what really went wrong
                deepest, error = error, getattr(error, "cause", None)
        if deepest is not None:
            break
    message = _words(deepest) if deepest is not None else "no error reported"
    return FailureCause.UNKNOWN, redact(message, secrets)
