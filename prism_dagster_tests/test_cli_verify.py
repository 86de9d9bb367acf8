"""`prism-dagster verify`: the archive_complete judgement of a range of hours, as a user runs it."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prism_dagster_tests.support.cli import World, archived_world
from prism_dagster_tests.support.rows import gateway_row, write_spool

RANGE = ("--from", "2026-04-01T00", "--to", "2026-04-01T02")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return archived_world(tmp_path_factory.mktemp("verify") / "world")


@pytest.fixture
def own_world(world: World, tmp_path: Path) -> World:
    """A copy of the world that the test may damage."""
    shutil.copytree(world.root, tmp_path / "world")
    return World(tmp_path / "world")


def test_verify_proves_each_hour_of_the_range(world: World) -> None:
    done = world.run("verify", "prod", *RANGE)
    assert done.returncode == 0, done.stdout + done.stderr
    header, *hours, result = done.stdout.splitlines()
    assert header.endswith("3 hour(s), 2026-04-01T00:00Z to 2026-04-01T02:00Z")
    assert [line.split()[1] for line in hours] == [f"2026-04-01T0{h}:00Z" for h in range(3)]
    assert all("is complete" in line for line in hours)
    assert result == "result: OK: 3 hour(s): 3 complete, 0 with warnings, 0 with errors"


def test_a_corrupt_object_fails_verify_naming_it(own_world: World) -> None:
    [batch] = (own_world.root / "archive/logs/2026/04/01/hour=01").glob("batch_*")
    data = bytearray(batch.read_bytes())
    data[len(data) // 2] ^= 0xFF
    batch.write_bytes(bytes(data))
    done = own_world.run("verify", "prod", *RANGE)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "hour 2026-04-01T01:00Z: ERROR" in done.stdout
    assert f"{batch.name} does not match its manifest SHA-256" in done.stdout
    result = done.stdout.splitlines()[-1]
    assert result == "result: FAILED: 3 hour(s): 2 complete, 0 with warnings, 1 with errors"


def test_late_rows_are_counted_as_warnings_and_pass(own_world: World) -> None:
    late = [gateway_row("late_1", "2026-04-01T02:30:00Z")]
    write_spool(own_world.root / "spool" / "late.ndjson", late)
    done = own_world.run("verify", "prod", *RANGE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the source changed after hour 2026-04-01T02:00Z was archived" in done.stdout
    result = done.stdout.splitlines()[-1]
    assert result == "result: OK: 3 hour(s): 2 complete, 1 with warnings, 0 with errors"


def test_hours_before_the_integrations_first_are_not_verified(world: World) -> None:
    done = world.run("verify", "prod", "--from", "2026-03-31T00", "--to", "2026-04-01T02")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0].endswith("3 hour(s), 2026-04-01T00:00Z to 2026-04-01T02:00Z")


def test_without_a_range_verify_takes_the_last_24_closed_hours(world: World) -> None:
    def closed_until() -> datetime:  # an hour is closed 10 minutes (grace_minutes) after it ends
        return (datetime.now(UTC) - timedelta(minutes=10)).replace(
            minute=0, second=0, microsecond=0
        )

    before = closed_until()
    done = world.run("verify", "prod")
    after = closed_until()
    header = done.stdout.splitlines()[0]
    ranges = {
        f"24 hour(s), {end - timedelta(hours=24):%Y-%m-%dT%H:%M}Z to "
        f"{end - timedelta(hours=1):%Y-%m-%dT%H:%M}Z"
        for end in (before, after)
    }
    assert any(header.endswith(expected) for expected in ranges), header
    assert done.returncode == 1  # none of them was archived
