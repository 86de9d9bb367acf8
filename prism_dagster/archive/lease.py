"""One writer per hour: a lease object created only if absent, in the destination itself.

The lease lives beside the hour it guards, so it holds whoever writes: a scheduled run, a
backfill, the late-rows sensor, the CLI or a second Dagster instance. It names the run that
holds it, the process writing (host and pid) and when it expires; a lease whose run has
finished, whose process is gone from this host (killed), or that expired, is taken over.
Before the manifest is written the writer checks the lease is still its own, so a writer
that stalled past its lease never publishes over its successor.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta

from prism_dagster import clock
from prism_dagster.archive import layout
from prism_dagster.archive.holder import Process, is_gone, this_process
from prism_dagster.destinations.base import Destination
from prism_dagster.errors import DestinationError, HourBusyError

_POLL_S = 1.0
_log = logging.getLogger("prism_dagster")

#: Tells whether the run that holds a lease has finished (its lease is then stale).
HolderFinished = Callable[[str], bool]


@dataclass(frozen=True)
class Lease:
    """Who writes an hour, until when; ``token`` tells this acquisition from any other.

    ``host``, ``pid``, ``pid_space`` and ``started`` name the writing process (empty in
    leases of earlier versions: their holders are never judged gone, only expired).
    """

    holder: str
    token: str
    acquired_at: str
    expires_at: str
    host: str = ""
    pid: int = 0
    pid_space: str = ""
    started: str = ""

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Lease | None:
        try:
            found = json.loads(data)
            # Fields a later version adds are not ours to judge: read the ones we know.
            return cls(**{f.name: found[f.name] for f in fields(cls) if f.name in found})
        except (ValueError, TypeError, AttributeError):
            return None  # unreadable: treated as stale, never as held

    @property
    def acquired(self) -> datetime:
        return datetime.fromisoformat(self.acquired_at)

    @property
    def until(self) -> str:
        """When the lease lapses, as the operator reads it (``2026-03-31T14:42:07Z``)."""
        return f"{datetime.fromisoformat(self.expires_at):%Y-%m-%dT%H:%M:%SZ}"

    @property
    def process(self) -> Process:
        return Process(self.host, self.pid, self.pid_space, self.started)

    def describe(self) -> str:
        """``run R (pid P on host H)``: who holds the hour, as the operator looks for it."""
        where = f" (pid {self.pid} on host {self.host})" if self.pid and self.host else ""
        return f"run {self.holder}{where}"

    def expired(self, now: datetime) -> bool:
        return datetime.fromisoformat(self.expires_at) <= now


class HourLease:
    """The lease on one hour's folder, held by ``holder`` (a run id)."""

    def __init__(
        self,
        dest: Destination,
        key: str,
        holder: str,
        ttl_s: float,
        holder_finished: HolderFinished | None = None,
    ) -> None:
        self.dest, self.key, self.holder, self.ttl_s = dest, key, holder, ttl_s
        self._finished = holder_finished or (lambda _: False)
        self.lease: Lease | None = None

    def _current(self) -> tuple[bool, Lease | None]:
        """(whether a lease object exists, the lease it holds: None if unreadable)."""
        try:
            return True, Lease.from_bytes(self.dest.get_object(self.key))
        except DestinationError:
            if not self.dest.exists(self.key):
                return False, None  # released between our look and our read: absent
            raise

    def _stale(self, found: Lease | None, now: datetime) -> bool:
        if found is None or found.expired(now) or found.holder == self.holder:
            return True  # unreadable, expired, or ours from an earlier attempt of this run
        # Its run finished (Dagster marked it failed, say), or its process was killed here.
        return self._finished(found.holder) or is_gone(found.process)

    def _take_over(self, stale: Lease | None) -> None:
        """Remove a stale lease, if this writer is the one taker allowed to remove it."""
        token = stale.token if stale else "unreadable"
        claim = layout.lease_claim_key(self.key, token)
        # Only one taker wins the claim of a given stale lease, so two takers can never both
        # delete: the loser would otherwise delete the winner's fresh lease.
        if not self.dest.create_if_absent(claim, b"{}"):
            return
        present, found = self._current()
        if present and (found.token if found else "unreadable") == token:
            self.dest.delete_object(self.key)

    def try_acquire(self) -> Lease | None:
        """Take the lease if it is free or stale; the holder's lease if another run holds it."""
        now = clock.utc_now()
        process = this_process()
        mine = Lease(
            holder=self.holder,
            token=uuid.uuid4().hex,
            acquired_at=now.isoformat(),
            expires_at=(now + timedelta(seconds=self.ttl_s)).isoformat(),
            host=process.host,
            pid=process.pid,
            pid_space=process.pid_space,
            started=process.started,
        )
        found: Lease | None = None
        for _ in range(3):
            if self.dest.create_if_absent(self.key, mine.to_bytes()):
                self.lease = mine
                return None
            present, found = self._current()
            if not present:
                continue  # released meanwhile: try the create again, never delete
            if found is not None and found.token == mine.token:
                self.lease = mine  # our create went through but its answer was lost
                return None
            if not self._stale(found, now):
                return found
            self._take_over(found)
        return found

    def acquire(self, wait_s: float, what: str) -> Lease:
        """Take the lease, waiting up to ``wait_s`` for another run to finish the hour."""
        deadline = time.monotonic() + wait_s
        while True:
            held = self.try_acquire()
            if self.lease is not None:
                return self.lease
            holder = held.describe() if held else "another writer"
            until = held.until if held else "unknown"
            if time.monotonic() >= deadline:
                raise HourBusyError(
                    f"{what} is being written by {holder}, whose lease ends {until}; "
                    "this run left it untouched. Rerun the hour once that run has finished.",
                    [what],
                    holder=held.holder if held else "",
                    until=until,
                )
            _log.info(f"{what} is being written by {holder} (lease until {until}); waiting")
            time.sleep(min(_POLL_S, max(0.0, deadline - time.monotonic())))

    def check(self) -> None:
        """Raise if the lease is no longer ours (we stalled past it and another run took over)."""
        _, found = self._current()
        if self.lease is None or found is None or found.token != self.lease.token:
            raise HourBusyError(
                f"lost the writer lease {self.dest.uri(self.key)} while writing (this run "
                "stalled past its lease); the hour was left to the run that took it over",
                [self.key],
            )

    def release(self) -> None:
        """Give the lease back, if it is still ours (best effort: else it lapses at expiry)."""
        if self.lease is None:
            return
        try:
            _, found = self._current()
            # Expired: another run may be taking it over right now; let it lapse instead.
            mine = found is not None and found.token == self.lease.token
            if mine and not found.expired(clock.utc_now()):
                self.dest.delete_object(self.key)
        except DestinationError as exc:
            # Without delete permission the hour is still archived; its lease just lapses.
            _log.warning(f"could not release {self.dest.uri(self.key)}: {exc}")
        finally:
            self.lease = None  # tried once: a second release is a no-op
