"""The process holding an hour's lease: where it runs, and whether it is provably gone.

A writer killed with SIGKILL cannot release its lease, and Dagster may show its run as
STARTED for as long as nothing monitors it. The lease records the writer's host and process
id, so a writer on the same machine can see the holder no longer exists and take the hour
over at once, instead of waiting for the lease to lapse.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class Process:
    """One process: ``pid`` is only meaningful within ``pid_space`` (one boot, one PID
    namespace), and ``started`` tells it from a later process given the same pid."""

    host: str
    pid: int
    pid_space: str
    started: str


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) from ``/proc``, or None where unreadable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name, which may itself hold spaces and parentheses.
    fields = text.rsplit(")", 1)[-1].split()
    return (fields[0], fields[19]) if len(fields) > 19 else None


@cache
def _pid_space() -> str:
    """This boot and PID namespace, or "" where the system does not say (then no process
    is ever judged gone: a pid from another namespace or boot names some other process)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return f"{boot}/{namespace}"


def this_process() -> Process:
    """The process running this code, as a lease records its holder."""
    pid = os.getpid()
    stat = _stat(pid)
    return Process(socket.gethostname(), pid, _pid_space(), stat[1] if stat else "")


def is_gone(holder: Process) -> bool:
    """Whether ``holder`` provably no longer runs: same host, boot and PID namespace as this
    process, and its pid is free, a zombie (killed, not yet reaped) or another process's."""
    here = this_process()
    if not isinstance(holder.pid, int) or holder.pid <= 0 or not here.pid_space:
        return False
    if (holder.host, holder.pid_space) != (here.host, here.pid_space):
        return False  # another machine or container: nothing here can tell
    try:
        os.kill(holder.pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, under another user
    except OSError:
        return False
    stat = _stat(holder.pid)
    if stat is None:
        return False  # exited this instant, or unreadable: judged at the next look
    state, started = stat
    return state == "Z" or bool(holder.started and started != holder.started)
