"""A writer killed with SIGKILL does not block its hour: its lease names its host and process,
and a writer on the same host takes the hour over once that process is gone. A hour still
held is refused with the holder and the lease's end in the failure's first line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from prism_dagster.archive import layout
from prism_dagster.archive.lease import HourLease, Lease
from prism_dagster.config import parse_config
from prism_dagster.defs.resources import live
from prism_dagster.destinations import Destination, LocalDestination
from prism_dagster.errors import HourBusyError
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.archive_reader import read_hour
from prism_dagster_tests.support.rows import records
from prism_dagster_tests.support.runs import failure_message, materialise
from prism_dagster_tests.support.stores import S3Store
from prism_dagster_tests.support.writing import H14, PREFIX, write

LEASE = layout.lease_key(PREFIX, H14)
HALF_AN_HOUR = 1800  # the default lease: what a rerun used to wait for


@contextmanager
def writing(integration: dict[str, Any]) -> Iterator[subprocess.Popen[str]]:
    """A writer of hour 14 in another process, holding its lease and inside an upload."""
    key = f"{layout.hour_dir(PREFIX, H14)}/batch_000000000000.jsonl.gz"
    module = "prism_dagster_tests.support.crash_writer"
    args = [json.dumps(integration), LEASE, key, str(HALF_AN_HOUR)]
    child = subprocess.Popen(
        [sys.executable, "-m", module, *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "READY"
        yield child
    finally:
        child.kill()
        child.wait(10)


def _local(root: Path) -> dict[str, Any]:
    return {"name": "prod", "start": "2026-03-01T00", "provider": "local", "path": str(root)}


def _s3(moto, monkeypatch) -> tuple[Destination, dict[str, Any]]:
    store = S3Store(moto)
    for name, value in store.env.items():
        monkeypatch.setenv(name, value)
    integration = {"name": "prod", "start": "2026-03-01T00", "part_size_mb": 5}
    integration |= store.integration()
    config = parse_config(
        {"source": {"kind": "spool", "path": "/x"}, "integrations": [integration]}
    )
    return live(config.integrations[0].destination()), integration


@pytest.mark.parametrize("reaped", [True, False])
def test_a_killed_writers_hour_is_taken_over_at_once(archive_root: Path, reaped: bool) -> None:
    dest = LocalDestination(path=str(archive_root))
    with writing(_local(archive_root)) as child:
        child.send_signal(signal.SIGKILL)
        if reaped:
            child.wait(10)
        else:  # dead but a zombie: its parent has not collected it yet
            os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        # Its lease runs for half an hour; nothing waits for it.
        result = write(dest, records(1000), lease_wait_s=0)
    assert result.manifest.total_rows == 1000
    assert [Path(k).name.startswith(".batch_") for k in result.cleaned] == [True]
    assert read_hour(dest, PREFIX, H14).equals(records(1000))
    assert not dest.exists(LEASE)


def test_a_killed_s3_writers_hour_is_taken_over_at_once(moto, monkeypatch) -> None:
    dest, integration = _s3(moto, monkeypatch)
    with writing(integration) as child:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        result = write(dest, records(1000), lease_wait_s=0)
    assert result.cleaned == [f"{layout.hour_dir(PREFIX, H14)}/batch_000000000000.jsonl.gz"]
    assert read_hour(dest, PREFIX, H14).equals(records(1000))
    assert dest.client().list_multipart_uploads(Bucket=dest.bucket).get("Uploads", []) == []


def test_a_live_writer_keeps_its_hour_and_is_named_with_its_lease_end(archive_root) -> None:
    dest = LocalDestination(path=str(archive_root))
    with writing(_local(archive_root)) as child:
        held = Lease.from_bytes(dest.get_object(LEASE))
        with pytest.raises(HourBusyError) as caught:
            write(dest, records(1000), lease_wait_s=0)
    assert held is not None and held.pid == child.pid
    first_line = str(caught.value).splitlines()[0]
    assert first_line.startswith(
        f"hour 2026-03-31T14:00:00Z of 'prod' is being written by run doomed-{child.pid} "
        f"(pid {child.pid} on host {held.host}), whose lease ends {held.until}"
    )
    assert (caught.value.holder, caught.value.until) == (f"doomed-{child.pid}", held.until)


def test_a_holder_on_another_host_is_never_judged_gone(archive_root: Path) -> None:
    dest = LocalDestination(path=str(archive_root))
    HourLease(dest, LEASE, "run-elsewhere", HALF_AN_HOUR).try_acquire()
    found = json.loads(dest.get_object(LEASE))
    # The same pid space and a pid free here: on another host it may well be running.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    found |= {"host": "another-host", "pid": int(dead.stdout)}
    dest.delete_object(LEASE)
    assert dest.create_if_absent(LEASE, json.dumps(found).encode())
    with pytest.raises(
        HourBusyError, match=r"run run-elsewhere \(pid [0-9]+ on host another-host\)"
    ):
        write(dest, records(10), lease_wait_s=0)


def _config(spool: Path, archive: Path) -> dict[str, Any]:
    integration = _local(archive) | {"prefix": PREFIX, "lease_wait_s": 0}
    return {"source": {"kind": "spool", "path": str(spool)}, "integrations": [integration]}


def test_a_run_after_a_killed_writer_archives_the_hour(spool, archive_root) -> None:
    simulate(spool, H14, H14.replace(hour=15), rate=40, seed=5)
    dest = LocalDestination(path=str(archive_root))
    with writing(_local(archive_root)) as child:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        # Dagster never heard of that writer's run: only its process tells it is gone.
        materialise(_config(spool, archive_root), H14)
    assert dest.exists(layout.manifest_key(PREFIX, H14)) and not dest.exists(LEASE)


def test_a_refused_runs_first_line_names_the_holder_and_the_lease_end(spool, archive_root):
    simulate(spool, H14, H14.replace(hour=15), rate=40, seed=5)
    dest = LocalDestination(path=str(archive_root))
    lease = HourLease(dest, LEASE, "run-elsewhere", HALF_AN_HOUR)
    assert lease.try_acquire() is None and lease.lease is not None  # held, by a live process
    result = materialise(_config(spool, archive_root), H14, check=False)
    assert not result.success
    first_line = failure_message(result).splitlines()[0]
    # (Whatever Dagster puts before it: the operator's sentence is on the first line.)
    assert (
        "1 hour(s) were being written by another run and were left to it: "
        "hour 2026-03-31T14:00:00Z of 'prod' (run run-elsewhere holds it until "
        f"{lease.lease.until})"
    ) in first_line
    assert not dest.exists(layout.manifest_key(PREFIX, H14))
