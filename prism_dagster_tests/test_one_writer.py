"""One writer per hour: the lease, concurrent runs of one hour, crashes and their leftovers."""

from __future__ import annotations

import gzip
import hashlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from prism_dagster import clock
from prism_dagster.archive import layout
from prism_dagster.archive.lease import HourLease, Lease
from prism_dagster.archive.manifest import Manifest
from prism_dagster.archive.writer import HourResult, Writer
from prism_dagster.config import parse_config
from prism_dagster.defs.resources import live
from prism_dagster.destinations import Destination, LocalDestination, ObjectKind, ObjectSink
from prism_dagster.errors import HourBusyError
from prism_dagster_tests.support.archive_reader import read_hour
from prism_dagster_tests.support.rows import hour, records
from prism_dagster_tests.support.stores import S3Store
from prism_dagster_tests.support.writing import H14, PREFIX
from prism_dagster_tests.support.writing import write as write_hour_14

LEASE = layout.lease_key(PREFIX, H14)


@pytest.fixture
def s3_dest(moto, monkeypatch) -> Destination:
    return _s3(moto, monkeypatch)[0]


def _s3(moto, monkeypatch) -> tuple[Destination, dict[str, Any]]:
    store = S3Store(moto)
    for name, value in store.env.items():
        monkeypatch.setenv(name, value)
    integration = {
        "name": "prod",
        "start": "2026-03-01T00",
        "part_size_mb": 5,
        **store.integration(),
    }
    config = parse_config(
        {"source": {"kind": "spool", "path": "/x"}, "integrations": [integration]}
    )
    return live(config.integrations[0].destination()), integration


def write(dest: Destination, frame: pl.DataFrame, writer: Writer | None = None, **settings: Any):
    """Hour 14, in files of 700 rows: enough files for writers to interleave."""
    return write_hour_14(dest, frame, writer=writer, **{"max_rows_per_file": 700, **settings})


def hold(dest: Destination, holder: str, ttl_s: float = 600) -> HourLease:
    lease = HourLease(dest, LEASE, holder, ttl_s)
    assert lease.try_acquire() is None and lease.lease is not None
    return lease


def assert_hour_is_consistent(dest: Destination, expected: list[pl.DataFrame]) -> Manifest:
    """The manifest lists exactly the hour's batches, each matches, and it equals one source."""
    folder = layout.hour_dir(PREFIX, H14)
    manifest = Manifest.from_bytes(dest.get_object(layout.manifest_key(PREFIX, H14)), "m")
    batches = [k for k in dest.list_keys(folder + "/") if layout.is_batch_key(k)]
    assert sorted(f"{folder}/{f.name}" for f in manifest.files) == sorted(batches)
    glob_rows = 0
    for entry in manifest.files:
        data = dest.get_object(f"{folder}/{entry.name}")
        assert hashlib.sha256(data).hexdigest() == entry.sha256
        glob_rows += len(gzip.decompress(data).splitlines())
    assert glob_rows == manifest.total_rows  # a glob reader sees no duplicate and no gap
    archived = read_hour(dest, PREFIX, H14)
    assert any(archived.equals(frame) for frame in expected)
    assert not dest.exists(LEASE)
    return manifest


def test_a_held_hour_is_refused_and_left_untouched(archive_root: Path) -> None:
    dest = LocalDestination(path=str(archive_root))
    write(dest, records(1000))
    hold(dest, "run-a")
    with pytest.raises(HourBusyError, match="being written by run run-a") as caught:
        write(dest, records(2000), lease_wait_s=0)
    assert caught.value.hours == ["hour 2026-03-31T14:00:00Z of 'prod'"]
    assert read_hour(dest, PREFIX, H14).equals(records(1000))


def test_an_expired_lease_is_taken_over(archive_root: Path, monkeypatch) -> None:
    dest = LocalDestination(path=str(archive_root))
    hold(dest, "crashed-run", ttl_s=60)
    later = clock.utc_now() + timedelta(seconds=61)
    monkeypatch.setattr(clock, "utc_now", lambda: later)
    result = write(dest, records(1000), lease_wait_s=0)
    assert result.manifest is not None and result.manifest.total_rows == 1000
    assert not dest.exists(LEASE)


def test_the_lease_of_a_finished_run_is_taken_over(archive_root: Path) -> None:
    dest = LocalDestination(path=str(archive_root))
    hold(dest, "failed-run")
    writer = Writer("run-b", run_finished=lambda run_id: run_id == "failed-run")
    result = write(dest, records(1000), writer=writer, lease_wait_s=0)
    assert result.manifest is not None and result.manifest.total_rows == 1000


def test_a_writer_that_lost_its_lease_publishes_nothing(archive_root: Path) -> None:
    dest = LocalDestination(path=str(archive_root))
    write(dest, records(1000))

    class Usurped(LocalDestination):
        """Another run takes the lease over while this one is writing its batches."""

        @contextmanager
        def open_object(self, key: str, kind: ObjectKind) -> Iterator[ObjectSink]:
            if layout.is_batch_key(key) and dest.exists(LEASE):
                found = Lease.from_bytes(dest.get_object(LEASE))
                if found is not None and found.holder == "slow-run":
                    dest.delete_object(LEASE)
                    hold(dest, "successor")
            with super().open_object(key, kind) as sink:
                yield sink

    with pytest.raises(Exception, match="lost the writer lease"):
        write(Usurped(path=str(archive_root)), records(2000), writer=Writer("slow-run"))
    assert read_hour(dest, PREFIX, H14).equals(records(1000))


class OverlappingDestination(LocalDestination):
    """Pauses the first writer inside its first batch until a second writer asks for the lease.

    That forces the interleaving that corrupted hours before: two writers inside one hour.
    """

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        self.__dict__["asked"] = threading.Event()
        self.__dict__["paused"] = threading.Event()

    def create_if_absent(self, key: str, data: bytes) -> bool:
        if self.__dict__["paused"].is_set():
            self.__dict__["asked"].set()
        return super().create_if_absent(key, data)

    @contextmanager
    def open_object(self, key: str, kind: ObjectKind) -> Iterator[ObjectSink]:
        if layout.is_batch_key(key) and not self.__dict__["paused"].is_set():
            self.__dict__["paused"].set()
            assert self.__dict__["asked"].wait(10), "the second writer never asked for the lease"
        with super().open_object(key, kind) as sink:
            yield sink


def _race(dest: Destination, first: pl.DataFrame, second: pl.DataFrame) -> list[HourResult]:
    results: list[HourResult] = []
    errors: list[BaseException] = []

    def run(frame: pl.DataFrame, name: str) -> None:
        try:
            results.append(write(dest, frame, writer=Writer(name), lease_wait_s=30))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(first, "run-a"))]
    threads[0].start()
    threads.append(threading.Thread(target=run, args=(second, "run-b")))
    threads[1].start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    return results


def test_two_runs_of_one_hour_at_once_leave_one_true_hour(archive_root: Path) -> None:
    dest = OverlappingDestination(path=str(archive_root))
    a, b = records(5000), records(5500, minute_step=0.0005)  # late rows: a different source
    write(LocalDestination(path=str(archive_root)), records(4000))  # an archive to replace
    results = _race(dest, a, b)
    assert len(results) == 2  # the second waited for the first, then wrote
    # Whichever got the lease second wrote last; its rows, whole, and nothing else.
    manifest = assert_hour_is_consistent(dest, [a, b])
    assert manifest.total_rows in (5000, 5500)


@pytest.mark.parametrize("rounds", [3])
def test_two_runs_of_one_hour_on_s3_leave_one_true_hour(rounds: int, moto, s3_dest) -> None:
    sources = [records(3000), records(3300, minute_step=0.0007)]
    write(s3_dest, records(2000))
    for i in range(rounds):
        first, second = sources[i % 2], sources[(i + 1) % 2]
        _race(s3_dest, first, second)
        assert_hour_is_consistent(s3_dest, sources)


def test_a_crash_then_an_empty_rerun_keeps_the_archive(archive_root: Path) -> None:
    dest = LocalDestination(path=str(archive_root))
    write(dest, records(3000))

    class Crashing(LocalDestination):
        @contextmanager
        def open_object(self, key: str, kind: ObjectKind) -> Iterator[ObjectSink]:
            if layout.is_batch_key(key):
                raise ConnectionError("killed while writing")
            with super().open_object(key, kind) as sink:
                yield sink

    with pytest.raises(ConnectionError):
        write(Crashing(path=str(archive_root)), records(3500, minute_step=0.002))
    result = write(dest, records(0))  # the source was pruned meanwhile
    assert result.kept
    assert read_hour(dest, PREFIX, H14).equals(records(3000))


def test_manifest_and_lease_hold_no_run_specific_bytes_after_a_rerun(archive_root: Path) -> None:
    dest = LocalDestination(path=str(archive_root))
    write(dest, records(1500), writer=Writer("run-1"))
    first = {p.name: p.read_bytes() for p in archive_root.rglob("*") if p.is_file()}
    write(dest, records(1500), writer=Writer("run-2"))
    again = {p.name: p.read_bytes() for p in archive_root.rglob("*") if p.is_file()}
    assert again == first and layout.LEASE_NAME not in again
    assert json.loads(first[layout.MANIFEST_NAME])["total_rows"] == 1500


def _kill_mid_write(integration: dict[str, Any]) -> str:
    """Start a writer of hour 14, kill -9 it inside an upload; the key it was writing."""
    key = f"{layout.hour_dir(PREFIX, H14)}/batch_000000000000.jsonl.gz"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prism_dagster_tests.support.crash_writer",
            json.dumps(integration),
            LEASE,
            key,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "READY"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    time.sleep(1.2)  # the doomed writer's 1 s lease runs out; nothing tells us it died
    return key


def test_a_killed_local_writers_temp_files_are_removed_by_the_next_run(archive_root: Path) -> None:
    integration = {"name": "prod", "start": "2026-03-01T00", "provider": "local"}
    integration["path"] = str(archive_root)
    key = _kill_mid_write(integration)
    folder = archive_root / layout.hour_dir(PREFIX, H14)
    [temp] = [p.name for p in folder.iterdir() if p.name.startswith(".")]
    assert temp.startswith(f".{Path(key).name}.tmp-")
    dest = LocalDestination(path=str(archive_root))
    result = write(dest, records(1000))
    assert result.cleaned == [f"{layout.hour_dir(PREFIX, H14)}/{temp}"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [layout.MANIFEST_NAME, *(f.name for f in result.manifest.files)]
    )


def test_a_killed_s3_writers_multipart_upload_is_aborted_by_the_next_run(moto, monkeypatch) -> None:
    dest, integration = _s3(moto, monkeypatch)
    key = _kill_mid_write(integration)
    client = dest.client()
    open_uploads = client.list_multipart_uploads(Bucket=dest.bucket).get("Uploads", [])
    assert [u["Key"] for u in open_uploads] == [key]  # 5 MiB of billed parts, left behind
    result = write(dest, records(1000))
    assert result.cleaned == [key]
    assert client.list_multipart_uploads(Bucket=dest.bucket).get("Uploads", []) == []
    assert_hour_is_consistent(dest, [records(1000)])


def test_a_run_refused_an_hour_shows_the_cause_in_operator_words(spool, tmp_path, monkeypatch):
    from prism_dagster.lifecycle.status import Status
    from prism_dagster.sources.simulate import simulate
    from prism_dagster_tests.support.lifecycle import Daemon

    simulate(spool, hour("2026-03-31T20"), hour("2026-03-31T22"), rate=40, seed=3)
    archive = tmp_path / "archive"
    raw = {
        "source": {"kind": "spool", "path": str(spool)},
        "integrations": [
            {"name": "prod", "provider": "local", "path": str(archive), "start": "2026-03-31T20"}
            | {"prefix": PREFIX, "lease_wait_s": 0}
        ],
        "status_store": {"url": f"sqlite:///{tmp_path / 'status.db'}"},
    }
    dest = LocalDestination(path=str(archive))
    held = HourLease(dest, layout.lease_key(PREFIX, hour("2026-03-31T21")), "run-elsewhere", 600)
    held.try_acquire()
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw, instance, monkeypatch, hour("2026-03-31T23"))
        tags = {
            "dagster/asset_partition_range_start": "2026-03-31-20:00",
            "dagster/asset_partition_range_end": "2026-03-31-21:00",
        }
        assert not daemon.launch(dg.RunRequest(tags=tags)).success
        state = daemon.store.get("prod")
    assert state.status is Status.ERROR and state.error_cause == "hour being written by another run"
    assert state.last_error.startswith("1 hour(s) were being written by another run")
    # Which run holds the hour and until when, on the first line: what the operator waits for.
    assert state.last_error.splitlines()[0].startswith(
        "1 hour(s) were being written by another run and were left to it: hour "
        f"2026-03-31T21:00:00Z of 'prod' (run run-elsewhere holds it until {held.lease.until})"
    )
    # The other hour of the run was archived all the same.
    assert dest.exists(layout.manifest_key(PREFIX, hour("2026-03-31T20")))
    assert not dest.exists(layout.manifest_key(PREFIX, hour("2026-03-31T21")))


def test_two_takers_of_one_stale_lease_never_both_hold_the_hour(archive_root, monkeypatch):
    dest = LocalDestination(path=str(archive_root))
    stale = hold(dest, "crashed-run", ttl_s=60).lease
    later = clock.utc_now() + timedelta(seconds=61)
    monkeypatch.setattr(clock, "utc_now", lambda: later)
    first = HourLease(dest, LEASE, "run-a", 600)
    assert first.try_acquire() is None  # took the stale lease over
    # A second taker that read the same stale lease before: it must not remove run-a's.
    HourLease(dest, LEASE, "run-b", 600)._take_over(stale)
    first.check()  # still run-a's
    assert Lease.from_bytes(dest.get_object(LEASE)).holder == "run-a"


def test_a_lease_released_while_a_waiter_reads_it_is_taken_not_a_failure(archive_root):
    class ReleasedMidRead(LocalDestination):
        """The holder releases between the waiter's failed create and its read."""

        def get_object(self, key: str) -> bytes:
            if key == LEASE and self.exists(key):
                self.delete_object(key)
            return super().get_object(key)

    hold(LocalDestination(path=str(archive_root)), "run-a")
    waiter = HourLease(ReleasedMidRead(path=str(archive_root)), LEASE, "run-b", 600)
    assert waiter.try_acquire() is None and waiter.lease is not None
    assert waiter.lease.holder == "run-b"


def test_an_expired_lease_is_left_to_lapse_not_released(archive_root, monkeypatch):
    dest = LocalDestination(path=str(archive_root))
    lease = hold(dest, "slow-run", ttl_s=60)
    later = clock.utc_now() + timedelta(seconds=61)
    monkeypatch.setattr(clock, "utc_now", lambda: later)
    lease.release()  # another run may be taking it over: do not delete what may be theirs
    assert dest.exists(LEASE)
