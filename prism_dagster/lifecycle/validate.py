"""Validate & Continue: prove a destination can take the archive, step by step."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from enum import StrEnum

from prism_dagster import clock
from prism_dagster.archive import layout
from prism_dagster.archive.archive import Archive
from prism_dagster.destinations.base import Destination, ObjectKind
from prism_dagster.errors import DestinationError, FailureCause, SourceError
from prism_dagster.sources.base import LogSource


class Outcome(StrEnum):
    """Outcome of one step."""

    PASS = "PASS"
    FAIL = "FAIL"
    WARN = "WARN"
    SKIP = "SKIP"


@dataclass(frozen=True)
class Step:
    """One check: its name, outcome and, when it did not pass, the cause in operator terms."""

    name: str
    outcome: Outcome
    detail: str


@dataclass(frozen=True)
class Validation:
    """Every step of one validation; ``ok`` unless a step failed (warnings are fine)."""

    integration: str
    target: str
    steps: list[Step]

    @property
    def ok(self) -> bool:
        return all(step.outcome is not Outcome.FAIL for step in self.steps)

    def lines(self) -> list[str]:
        """One line per step, then a verdict: what ``prism-dagster validate`` prints."""
        out = [f"validating {self.integration!r}: {self.target}"]
        out += [f"  {s.outcome.value:4}  {s.name:12}  {s.detail}" for s in self.steps]
        warnings = sum(s.outcome is Outcome.WARN for s in self.steps)
        verdict = "OK" if self.ok else "FAILED"
        out.append(f"result: {verdict}" + (f" ({warnings} warning(s))" if warnings else ""))
        return out


def _attempt(name: str, action: Callable[[], str]) -> Step:
    try:
        return Step(name, Outcome.PASS, action())
    except DestinationError as exc:
        return Step(name, Outcome.FAIL, str(exc))


def validate_destination(archive: Archive) -> Validation:
    """Write a probe under the prefix, read it back, list the prefix, delete the probe."""
    dest, prefix, integration = archive.destination, archive.prefix, archive.integration
    token = uuid.uuid4().hex
    folder = layout.probe_dir(prefix)
    key = layout.probe_key(prefix, "probe", token)
    payload = json.dumps({"probe": token, "by": "prism-dagster validate"}).encode()
    where = f"{dest.provider} {dest.target()}, prefix {prefix or '(none)'}"

    def write() -> str:
        dest.put_object(key, payload, ObjectKind.JSON)
        return dest.uri(key)

    def read_back() -> str:
        got = dest.get_object(key)
        if got != payload:
            raise dest.error("reading the probe back", FailureCause.UNKNOWN, "bytes differ", "")
        return f"{len(got)} bytes match"

    def listing() -> str:
        keys = dest.list_keys(folder)
        if key not in keys:
            raise dest.error("listing the prefix", FailureCause.UNKNOWN, "probe not listed", "")
        return f"probe listed under {dest.uri(folder)}"

    steps = [_attempt("write probe", write)]
    if steps[0].outcome is Outcome.FAIL:
        rest = ("read back", "list prefix", "one writer", "delete probe")
        return Validation(integration, where, steps + [Step(n, Outcome.SKIP, "") for n in rest])
    steps.append(_attempt("read back", read_back))
    steps.append(_attempt("list prefix", listing))
    steps.append(_one_writer(dest, layout.probe_key(prefix, "lease", token), payload))
    steps.append(_delete(dest, key))
    return Validation(integration, where, steps)


def validate_source(source: LogSource) -> Step:
    """The source opens as a run opens it, and how many of its rows no hour can ever hold."""
    try:
        unreadable = _open(source)
        timeless = source.rows_without_event_time()
    except SourceError as exc:
        return Step("source", Outcome.FAIL, str(exc))
    if unreadable:
        return Step(
            "source",
            Outcome.WARN,
            f"{source.describe()}: {len(unreadable)} path(s) cannot be read, first "
            f"{unreadable[0]}; runs archive each as a rejected line naming its cause",
        )
    if timeless:
        return Step(
            "source",
            Outcome.WARN,
            f"{source.describe()}: {timeless} row(s) have neither started_at nor created_at; "
            "no hour holds them, so they are never archived: fix them at the gateway",
        )
    return Step("source", Outcome.PASS, f"{source.describe()} answers")


def _open(source: LogSource) -> tuple[str, ...]:
    """What of the source cannot be read, each with its cause; a SourceError when none of it
    can (a spool folder missing or denied, a database unreachable).

    The source is opened over an empty window, as a run opens it (the spool listed, the
    table queried), so no rows are read.
    """
    now = layout.as_utc_hour(clock.utc_now())
    with closing(iter(source.read_pieces(now, now))) as pieces:
        first = next(pieces, None)
    return first.unreadable if first is not None else ()


def _one_writer(dest: Destination, key: str, payload: bytes) -> Step:
    """The hour lease needs a create that fails when the key exists: does this store honour it?"""
    try:
        first = dest.create_if_absent(key, payload)
        second = dest.create_if_absent(key, payload)
    except DestinationError as exc:
        return Step("one writer", Outcome.FAIL, str(exc))
    try:
        dest.delete_object(key)
    except DestinationError as exc:
        if exc.cause is not FailureCause.ACCESS_DENIED:
            return Step("one writer", Outcome.FAIL, str(exc))
        if first and not second:
            note = "hour leases work but cannot be released without delete permission: a "
            note += "rerun of an hour waits for its lease to lapse (lease_ttl_s)"
            return Step("one writer", Outcome.WARN, note)
    if first and not second:
        return Step("one writer", Outcome.PASS, "a second create of the same key was refused")
    return Step(
        "one writer",
        Outcome.WARN,
        "this store ignores create-if-absent, so two runs of one hour are not kept apart "
        "here; run one Dagster instance and let its schedules and sensors start the runs",
    )


def _delete(dest: Destination, key: str) -> Step:
    try:
        dest.delete_object(key)
        return Step("delete probe", Outcome.PASS, "removed")
    except DestinationError as exc:
        if exc.cause is FailureCause.ACCESS_DENIED:
            # Archiving needs only write; without delete, reruns cannot remove stale batches.
            note = (
                "no delete permission: archiving works, but reruns cannot remove stale batch files"
            )
            return Step("delete probe", Outcome.WARN, f"{note} ({exc})")
        return Step("delete probe", Outcome.FAIL, str(exc))
