"""Integration lifecycle with real runs on a real instance and a real S3 server (moto)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from prism_dagster.archive import layout
from prism_dagster.lifecycle.status import Status
from prism_dagster.names import PARTITION_KEY_FORMAT
from prism_dagster.sources.simulate import simulate
from prism_dagster_tests.support.lifecycle import Daemon
from prism_dagster_tests.support.rows import hour
from prism_dagster_tests.support.stores import S3Store, new_name

NOW = hour("2026-04-01T02").replace(minute=30)  # hours up to 01:00 are closed
SINCE = hour("2026-03-31T20")


def _raw(spool: Path, tmp_path: Path, integration: dict[str, Any], **top: Any) -> dict[str, Any]:
    base = {
        "name": "prod",
        "start": "2026-03-01T00",
        "history": {"since": "2026-03-31T20"},
        "retry": {"attempts": 2, "initial_backoff_s": 0.05},
    }
    return {
        "source": {"kind": "spool", "path": str(spool)},
        "integrations": [{**base, **integration}],
        "status_store": {"url": f"sqlite:///{tmp_path / 'status.db'}"},
        **top,
    }


def _ranges(requests: list[dg.RunRequest]) -> list[tuple[str, str]]:
    return [
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in requests
    ]


def _pending(daemon: Daemon) -> int:
    """``pending_hours`` as the integration's observation shows it in the UI right now."""
    [observation] = [
        e for e in daemon.sensor("prism_status").asset_events if isinstance(e, dg.AssetObservation)
    ]
    return observation.metadata["pending_hours"].value


def test_missing_bucket_goes_to_error_then_recovers_and_catches_up(
    spool, tmp_path, moto, monkeypatch
) -> None:
    store = S3Store(moto)
    for name, value in store.env.items():
        monkeypatch.setenv(name, value)
    late_bucket = new_name()
    simulate(spool, SINCE, NOW, rate=120, seed=9)
    raw = _raw(spool, tmp_path, store.integration(bucket=late_bucket))
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw, instance, monkeypatch, NOW)
        requests = daemon.schedule()
        assert _ranges(requests) == [("2026-03-31-20:00", "2026-04-01-01:00")]  # six hours, one run
        assert _pending(daemon) == 6
        assert not daemon.launch(requests[0]).success
        state = daemon.store.get("prod")
        assert state.status is Status.ERROR and state.error_cause == "bucket or container missing"
        assert late_bucket in state.last_error and "testing-secret" not in state.last_error
        assert state.next_retry_at == NOW.replace(minute=35)

        skipped = daemon.sensor("prism_error_retry")
        assert (
            not skipped.run_requests and "next retry at 02:35Z" in skipped.skip_reason.skip_message
        )
        skip = daemon.schedule()
        assert isinstance(skip, dg.SkipReason) and "in Error" in skip.skip_message

        store.client.create_bucket(Bucket=late_bucket)
        daemon.now = NOW.replace(minute=36)
        retry = daemon.sensor("prism_error_retry").run_requests
        assert _ranges(retry) == [("2026-03-31-20:00", "2026-04-01-01:00")]
        assert daemon.launch(retry[0]).success
        state = daemon.store.get("prod")
        assert state.status is Status.ACTIVE and state.last_error is None and state.failures == 0
        assert state.last_archived_hour == hour("2026-04-01T01")
        assert isinstance(daemon.schedule(), dg.SkipReason)  # nothing left, nothing twice

    bucket = S3Store.__new__(S3Store)
    bucket.client, bucket.name = store.client, late_bucket
    objects = bucket.objects()
    manifests = [json.loads(v.data) for k, v in objects.items() if k.endswith(layout.MANIFEST_NAME)]
    ids = [
        line
        for k, v in objects.items()
        if layout.is_batch_key(k)
        for line in v.data and __import__("gzip").decompress(v.data).splitlines()
    ]
    assert len(ids) == len(set(ids)) == sum(m["total_rows"] for m in manifests) > 0


def test_pause_skips_and_resume_catches_up_oldest_first(
    spool, tmp_path, monkeypatch, capsys
) -> None:
    from prism_dagster.cli import main

    simulate(spool, SINCE, NOW, rate=60, seed=10)
    raw = _raw(
        spool,
        tmp_path,
        {"provider": "local", "path": str(tmp_path / "archive")},
        catch_up={"max_runs_per_tick": 2, "max_hours_per_run": 2},
    )
    config_file = tmp_path / "prism.yaml"
    config_file.write_text(json.dumps(raw))
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw, instance, monkeypatch, NOW)
        assert main(["pause", "prod", "--config", str(config_file)]) == 0
        skip = daemon.schedule()
        assert isinstance(skip, dg.SkipReason) and "prod is paused" in skip.skip_message
        assert main(["status", "--json", "--config", str(config_file)]) == 0
        capsys.readouterr()
        assert main(["resume", "prod", "--config", str(config_file)]) == 0
        first = daemon.schedule()
        # bounded: two runs of two hours, oldest first; the rest waits for the next tick
        assert _ranges(first) == [
            ("2026-03-31-20:00", "2026-03-31-21:00"),
            ("2026-03-31-22:00", "2026-03-31-23:00"),
        ]
        for request in first:
            assert daemon.launch(request).success
        second = daemon.schedule()
        assert _ranges(second) == [("2026-04-01-00:00", "2026-04-01-01:00")]
        assert daemon.launch(second[0]).success
        assert isinstance(daemon.schedule(), dg.SkipReason)
        done = instance.get_materialized_partitions(dg.AssetKey(["prism", "archive", "prod"]))
    expected = {
        h.strftime(PARTITION_KEY_FORMAT) for h in layout.hours_between(SINCE, hour("2026-04-01T02"))
    }
    assert done == expected


def test_in_flight_hours_are_not_requested_twice(spool, tmp_path, monkeypatch) -> None:
    raw = _raw(spool, tmp_path, {"provider": "local", "path": str(tmp_path / "archive")})
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw, instance, monkeypatch, NOW)
        [request] = daemon.schedule()
        job = daemon.defs.resolve_job_def("archive_prod")
        # A run the daemon launched and has not finished: its hours are in flight.
        instance.create_run_for_job(
            job_def=job, tags=request.tags, status=dg.DagsterRunStatus.STARTED
        )
        skip = daemon.schedule()
    assert isinstance(skip, dg.SkipReason) and "in progress" in skip.skip_message


def _dead_endpoint() -> str:
    from prism_dagster_tests.support.process import free_port

    return f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize(
    "case",
    [
        "wrong_secret",
        "missing_bucket",
        "unreachable",
        "throttled",
        "bad_source",
        "not_a_folder",
        "kms_key",
        "corrupted",
    ],
)
def test_each_failure_cause_is_classified(
    case, spool, tmp_path, moto, s3_auth, monkeypatch
) -> None:
    from prism_dagster_tests.support.fault_proxy import S3_SLOW_DOWN, faulty_proxy

    store = S3Store(moto)
    for name, value in store.env.items():
        monkeypatch.setenv(name, value)
    simulate(spool, SINCE, SINCE + layout.ONE_HOUR, rate=40, seed=3, bad_lines=1)
    integration = store.integration()
    source: dict[str, Any] = {}
    expected = {
        "wrong_secret": "authentication/permission",
        "missing_bucket": "bucket or container missing",
        "unreachable": "endpoint unreachable",
        "throttled": "throttled",
        "bad_source": "bad source data",
        "not_a_folder": "not a folder",
        "kms_key": "authentication/permission",
        "corrupted": "checksum mismatch",
    }[case]
    missing_key = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000000"
    secret = "testing-secret"
    with faulty_proxy(moto.endpoint_url, fail_first=1000, body=S3_SLOW_DOWN) as proxy:
        if case == "wrong_secret":
            key_id, real = s3_auth["keys"]["writer"]
            secret = real[::-1]
            monkeypatch.setenv("TEST_AWS_KEY_ID", key_id)
            monkeypatch.setenv("TEST_AWS_SECRET", secret)
            integration |= {"bucket": s3_auth["bucket"], "endpoint_url": s3_auth["endpoint"]}
        elif case == "missing_bucket":
            integration["bucket"] = new_name()
        elif case == "unreachable":
            integration["endpoint_url"] = _dead_endpoint()
        elif case == "throttled":
            integration["endpoint_url"] = proxy.url
        elif case == "bad_source":
            source["bad_records"] = "fail"
        elif case == "kms_key":
            monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", moto.endpoint_url)
            integration |= {"sse": "aws:kms", "kms_key_id": missing_key}
        elif case == "corrupted":  # a byte flipped on the way to the store
            proxy.fail_next(0)
            proxy.corrupt_next(1, lambda method, path, size: size > 1000)
            integration["endpoint_url"] = proxy.url
        else:
            blocker = tmp_path / "not-a-folder"
            blocker.write_text("a file where the archive folder should be")
            integration = {"provider": "local", "path": str(blocker)}
        raw = _raw(spool, tmp_path, integration)
        raw["source"] |= source
        with dg.instance_for_test() as instance:
            daemon = Daemon(raw, instance, monkeypatch, NOW)
            request = dg.RunRequest(tags={"dagster/partition": "2026-03-31-20:00"})
            assert not daemon.launch(request).success
            state = daemon.store.get("prod")
    assert state.status is Status.ERROR
    assert state.error_cause == expected, state.last_error
    if case == "kms_key":
        assert repr(missing_key) in state.last_error
    assert secret not in state.last_error
    # Operator words first: never a Python class name such as "prism_dagster.errors.X: ".
    assert not re.match(r"^[\w.]*(Error|Exception|Failure)\b", state.last_error), state.last_error


def test_stale_syncing_is_recovered(spool, tmp_path, monkeypatch) -> None:
    raw = _raw(spool, tmp_path, {"provider": "local", "path": str(tmp_path / "archive")})
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw, instance, monkeypatch, NOW)
        daemon.store.ensure(["prod"])
        daemon.store.mark_syncing("prod", "0f1e2d3c-dead-beef-0000-000000000000")
        assert daemon.store.get("prod").status is Status.SYNCING
        daemon.sensor("prism_status")
        state = daemon.store.get("prod")
        assert state.status is Status.ERROR and "was deleted without reporting" in state.last_error
        # A run that succeeded while no sensor was watching: the status sensor settles it.
        job = daemon.defs.resolve_job_def("archive_prod")
        result = job.execute_in_process(instance=instance, partition_key="2026-03-31-20:00")
        daemon.store.mark_syncing("prod", result.run_id)
        daemon.sensor("prism_status")
        state = daemon.store.get("prod")
    assert state.status is Status.ACTIVE and state.last_archived_hour == SINCE


def test_status_is_observed_on_the_asset_once_per_change(spool, tmp_path, monkeypatch) -> None:
    raw = _raw(spool, tmp_path, {"provider": "local", "path": str(tmp_path / "archive")})
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw, instance, monkeypatch, NOW)
        first = daemon.sensor("prism_status")
        [event, check] = first.asset_events  # an observation and the status check
        assert isinstance(event, dg.AssetObservation) and check.check_name == "integration_status"
        assert event.asset_key == check.asset_key == dg.AssetKey(["prism", "archive", "prod"])
        assert event.metadata["status"].value == "Active" and check.passed
        assert event.metadata["pending_hours"].value == 6  # 20:00 to 01:00, none archived
        assert daemon.sensor("prism_status", cursor=first.cursor).asset_events == []
        daemon.store.set_paused("prod", True)
        [changed, _] = daemon.sensor("prism_status", cursor=first.cursor).asset_events
    assert changed.metadata["status"].value == "Paused"


def test_concurrent_updates_lose_no_writes(tmp_path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from prism_dagster.lifecycle.status import StatusStore

    url = f"sqlite:///{tmp_path / 'status.db'}"
    names = [f"i{n}" for n in range(8)]

    def first_sight(i: int) -> None:  # sensors, schedule and CLI meeting a new integration
        StatusStore(url).ensure(names)

    def success(i: int) -> None:  # out-of-order successes: the newest hour must win
        StatusStore(url).mark_success("i0", f"ok{i}", hour("2026-03-31T00") + i * layout.ONE_HOUR)

    def operator(i: int) -> None:  # an operator pausing while runs report
        StatusStore(url).set_paused("i0", True)

    def planner(i: int) -> None:
        StatusStore(url).set_pending(names[i % 8], i)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(first_sight, range(40)))  # no IntegrityError from racing inserts
        jobs = [pool.submit(f, i) for i in range(40) for f in (success, operator, planner)]
        for job in jobs:
            job.result()
    store = StatusStore(url)
    assert [state.name for state in store.all()] == names
    first = store.get("i0")
    assert first.status is Status.PAUSED  # success never clears an operator's pause
    assert first.last_archived_hour == hour("2026-03-31T00") + 39 * layout.ONE_HOUR
    for k, name in enumerate(names):  # last writer wins, but some write always landed
        assert store.get(name).pending_hours in {i for i in range(40) if i % 8 == k}


def test_failures_count_attempts_not_runs(tmp_path) -> None:
    from prism_dagster.lifecycle.status import StatusStore

    store = StatusStore(f"sqlite:///{tmp_path / 'status.db'}")
    store.ensure(["prod"])
    now = hour("2026-04-01T02")
    for run in range(4):  # one tick launched four runs; all failed
        store.mark_error("prod", f"r{run}", "throttled", "boom", now=now)
    assert store.get("prod").failures == 1
    assert store.get("prod").next_retry_at == now.replace(minute=5)
    later = now.replace(minute=6)  # the retry ran and failed again
    store.mark_error("prod", "r5", "throttled", "boom", now=later)
    assert store.get("prod").failures == 2
    assert store.get("prod").next_retry_at == later.replace(minute=21)


def test_multi_day_history_backfills_in_few_runs_like_hour_by_hour(
    spool, tmp_path, monkeypatch
) -> None:
    from prism_dagster_tests.support.archive_reader import tree_bytes

    since = hour("2026-03-29T00")
    simulate(spool, since, hour("2026-04-01T00"), rate=40, seed=12)
    now = hour("2026-04-01T00").replace(minute=30)
    local = {
        "provider": "local",
        "path": str(tmp_path / "backfill"),
        "history": {"since": "2026-03-29"},
        "max_rows_per_file": 20,
    }
    raw = _raw(spool, tmp_path, local)
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw, instance, monkeypatch, now)
        requests = daemon.schedule()
        assert len(requests) == 3  # 72 hours in three runs, not 72 launches
        for request in requests:
            assert daemon.launch(request).success
    hourly = {**local, "path": str(tmp_path / "hourly")}
    raw2 = _raw(spool, tmp_path / "h", hourly)
    (tmp_path / "h").mkdir()
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw2, instance, monkeypatch, now)
        job = daemon.defs.resolve_job_def("archive_prod")
        for h in layout.hours_between(since, hour("2026-04-01T00")):
            assert job.execute_in_process(
                instance=instance, partition_key=h.strftime(PARTITION_KEY_FORMAT)
            ).success
    assert tree_bytes(tmp_path / "backfill") == tree_bytes(tmp_path / "hourly") != {}


def test_status_command_prints_a_table_and_json(spool, tmp_path, monkeypatch, capsys) -> None:
    from prism_dagster.cli import main

    raw = _raw(spool, tmp_path, {"provider": "local", "path": str(tmp_path / "archive")})
    config_file = tmp_path / "prism.yaml"
    config_file.write_text(json.dumps(raw))
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw, instance, monkeypatch, NOW)
        daemon.store.ensure(["prod"])
        url = "s3://b/prism/production/logs/2026/03/31/hour=14/batch_0123456789ab.jsonl.gz"
        message = f"integration 'prod' (s3 bucket 'b'): writing {url} failed: throttled " * 2
        daemon.store.mark_error("prod", "r1", "throttled", message.strip())
    assert main(["status", "--config", str(config_file)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == [
        "NAME", "PROVIDER", "DESTINATION", "STATUS", "LAST_ARCHIVED_HOUR", "LAST_SUCCESS"
    ]  # fmt: skip
    row = ["prod", "local", (tmp_path / "archive").as_uri(), "Error", "-", "-"]
    assert table[1].split() == row  # unknown is "-", the error goes on its own lines
    assert table[2].strip().startswith("last error") and "(throttled):" in table[2]
    wrapped = [line for line in table[3:] if line.startswith("    ") and "next retry" not in line]
    assert all(len(line) <= 100 for line in wrapped)
    assert " ".join(line.strip() for line in wrapped) == (
        message.strip()
    )  # whole, and no URL cut in two
    assert main(["status", "--json", "--config", str(config_file)]) == 0
    [record] = json.loads(capsys.readouterr().out)
    assert record["status"] == "Error" and record["error_cause"] == "throttled"
    assert main(["pause", "nope", "--config", str(config_file)]) == 2


def test_sensor_order_cannot_undo_a_finished_run(spool, tmp_path, monkeypatch) -> None:
    simulate(spool, SINCE, SINCE + layout.ONE_HOUR, rate=30, seed=5, bad_lines=1)
    raw = _raw(spool, tmp_path, {"provider": "local", "path": str(tmp_path / "archive")})
    raw["source"]["bad_records"] = "fail"
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw, instance, monkeypatch, NOW)
        result = daemon.launch(dg.RunRequest(tags={"dagster/partition": "2026-03-31-20:00"}))
        run = instance.get_run_by_id(result.run_id)
        daemon._fire("prism_run_started", run, dg.DagsterEventType.RUN_START)  # arrives late
        state = daemon.store.get("prod")
        assert state.status is Status.ERROR and state.error_cause == "bad source data"
        # Had the late STARTED won anyway, recovery reads the run's own failure, once.
        daemon.store.mark_syncing("prod", run.run_id)
        daemon.sensor("prism_status")
        state = daemon.store.get("prod")
    assert state.status is Status.ERROR and state.error_cause == "bad source data"
    assert state.failures == 1


def test_a_hung_run_does_not_hold_syncing_forever(spool, tmp_path, monkeypatch) -> None:
    raw = _raw(spool, tmp_path, {"provider": "local", "path": str(tmp_path / "archive")})
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw, instance, monkeypatch, NOW)
        [request] = daemon.schedule()
        job = daemon.defs.resolve_job_def("archive_prod")
        run = instance.create_run_for_job(
            job_def=job, tags=request.tags, status=dg.DagsterRunStatus.STARTED
        )
        daemon.store.mark_syncing("prod", run.run_id, now=NOW)
        daemon.sensor("prism_status")
        assert daemon.store.get("prod").status is Status.SYNCING  # still plausibly running
        daemon.now = NOW + 7 * layout.ONE_HOUR
        daemon.sensor("prism_status")
        state = daemon.store.get("prod")
    assert state.status is Status.ERROR and "no result for over 6:00:00" in state.last_error


def test_a_ui_materialisation_in_flight_is_not_requested_again(
    spool, tmp_path, monkeypatch
) -> None:
    raw = _raw(spool, tmp_path, {"provider": "local", "path": str(tmp_path / "archive")})
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw, instance, monkeypatch, NOW)
        [request] = daemon.schedule()
        # What the UI's Materialize launches: the implicit asset job, selecting our asset.
        asset_job = daemon.defs.resolve_implicit_global_asset_job_def()
        instance.create_run_for_job(
            job_def=asset_job,
            tags=request.tags,
            status=dg.DagsterRunStatus.STARTED,
            asset_selection=frozenset({dg.AssetKey(["prism", "archive", "prod"])}),
        )
        skip = daemon.schedule()
    assert isinstance(skip, dg.SkipReason) and "in progress" in skip.skip_message


def test_materialize_from_the_asset_page_keeps_status_true(spool, tmp_path, monkeypatch) -> None:
    simulate(spool, SINCE, SINCE + layout.ONE_HOUR, rate=40, seed=3)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the archive folder should be")
    broken = _raw(spool, tmp_path, {"provider": "local", "path": str(blocker)})
    fixed = _raw(spool, tmp_path, {"provider": "local", "path": str(tmp_path / "archive")})
    with dg.instance_for_test() as instance:
        daemon = Daemon(broken, instance, monkeypatch, NOW)
        assert not daemon.materialize_from_ui("2026-03-31-20:00", "prod").success
        failed = daemon.store.get("prod")
        # Red where the operator looks first: the asset's integration_status check fails.
        shown = daemon.sensor("prism_status")
        [red] = [e for e in shown.asset_events if isinstance(e, dg.AssetCheckEvaluation)]
        daemon = Daemon(fixed, instance, monkeypatch, NOW)  # the operator fixed the path
        assert daemon.materialize_from_ui("2026-03-31-20:00", "prod").success
        recovered = daemon.store.get("prod")
        shown = daemon.sensor("prism_status", cursor=shown.cursor)
        [green] = [e for e in shown.asset_events if isinstance(e, dg.AssetCheckEvaluation)]
    assert (red.check_name, red.passed, red.severity) == (
        "integration_status", False, dg.AssetCheckSeverity.ERROR
    )  # fmt: skip
    assert red.description.startswith("Error (not a folder): ") and str(blocker) in red.description
    assert green.passed and green.metadata["status"].value == "Active"
    assert failed.status is Status.ERROR and str(blocker) in failed.last_error
    assert recovered.status is Status.ACTIVE and recovered.last_error is None
    assert recovered.last_archived_hour == SINCE


def test_error_retry_reruns_a_failed_hour_outside_the_history(spool, tmp_path, monkeypatch):
    simulate(spool, SINCE, SINCE + layout.ONE_HOUR, rate=40, seed=3)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the archive folder should be")
    broken = _raw(spool, tmp_path, {"provider": "local", "path": str(blocker)})
    fixed = _raw(spool, tmp_path, {"provider": "local", "path": str(tmp_path / "archive")})
    for raw in (broken, fixed):
        raw["integrations"][0]["history"] = "none"  # first seen now: 20:00 is before that
    with dg.instance_for_test() as instance:
        daemon = Daemon(broken, instance, monkeypatch, NOW)
        assert not daemon.materialize_from_ui("2026-03-31-20:00", "prod").success
        daemon = Daemon(fixed, instance, monkeypatch, NOW + timedelta(minutes=6))
        [request] = daemon.sensor("prism_error_retry").run_requests
        assert _pending(daemon) == 1  # as the partition grid shows: Failed (1)
        assert _ranges([request]) == [("2026-03-31-20:00", "2026-03-31-20:00")]
        assert daemon.launch(request).success
        assert _pending(daemon) == 0  # at once, not at the next schedule tick
        state = daemon.store.get("prod")
    assert state.status is Status.ACTIVE and state.last_archived_hour == SINCE
    assert state.next_retry_at is None
