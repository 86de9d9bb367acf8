"""The PostgreSQL source against a real PostgreSQL server started by the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import psycopg
import pytest

from prism_dagster.errors import FailureCause, SourceError
from prism_dagster.normalize import normalize
from prism_dagster.sources.postgres import PostgresSource
from prism_dagster.status import Status
from prism_dagster_tests import gateway_db
from prism_dagster_tests.conftest import hour, read_archive_lines
from prism_dagster_tests.lifecycle import Daemon

START, END = hour("2026-03-31T22"), hour("2026-04-01T02")
READER_PASSWORD = "reader-pw-Zq81"


@pytest.fixture(scope="module")
def gateway(postgres) -> dict[str, Any]:
    """A database holding four hours of traffic, and a role that may only SELECT."""
    db = gateway_db.new_database(postgres.dsn())
    rows = gateway_db.traffic(START, END, rate=150, seed=31)
    gateway_db.load(postgres.dsn(db=db), rows)
    with psycopg.connect(postgres.dsn(db=db), autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS reader_{db}")
        conn.execute(f"CREATE ROLE reader_{db} LOGIN PASSWORD '{READER_PASSWORD}'")
        conn.execute(f"GRANT SELECT ON agentcc_request_log TO reader_{db}")
    return {"db": db, "rows": rows, "reader": postgres.dsn(f"reader_{db}", READER_PASSWORD, db)}


def _expected(rows: pl.DataFrame, workspace: str | None = None) -> pl.DataFrame:
    """What the archive must hold: this organisation, not deleted, optionally one workspace."""
    keep = (pl.col("organization_id") == gateway_db.ORG) & ~pl.col("deleted")
    if workspace:
        keep &= pl.col("workspace_id") == workspace
    return normalize(rows.filter(keep))


def _config(spool_dir: Path, archive: Path, tmp_path: Path, **source: Any) -> dict[str, Any]:
    return {
        "source": {
            "kind": "postgres",
            "dsn": {"env": "TEST_GATEWAY_DSN"},
            "organization_id": gateway_db.ORG,
            **source,
        },
        "integrations": [
            {
                "name": "prod",
                "provider": "local",
                "path": str(archive),
                "start": "2026-03-31T00",
                "history": {"since": "2026-03-31T22"},
            }
        ],
        "status_store": {"url": f"sqlite:///{tmp_path / 'status.db'}"},
    }


def _archive_all(raw: dict[str, Any], monkeypatch, now_hour: str = "2026-04-01T02") -> Daemon:
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw, instance, monkeypatch, hour(now_hour).replace(minute=30))
        requests = daemon.schedule()
        assert not isinstance(requests, dg.SkipReason), requests
        for request in requests:
            assert daemon.launch(request).success
        return daemon


@pytest.mark.parametrize("workspace", [None, gateway_db.WORKSPACE])
def test_archive_holds_exactly_the_scoped_rows_per_hour(
    gateway, tmp_path, monkeypatch, workspace
) -> None:
    monkeypatch.setenv("TEST_GATEWAY_DSN", gateway["reader"])  # a SELECT-only role suffices
    source = {"workspace_id": workspace} if workspace else {}
    raw = _config(tmp_path, tmp_path / "archive", tmp_path, **source)
    _archive_all(raw, monkeypatch)
    expected = _expected(gateway["rows"], workspace)
    archived = [
        line for lines in read_archive_lines(tmp_path / "archive").values() for line in lines
    ]
    got = pl.DataFrame(archived, schema=expected.schema, orient="row")
    assert got.height == expected.height > 0
    assert got.sort("request_id").equals(expected.sort("request_id"))
    assert got["request_id"].n_unique() == got.height  # none twice
    assert max(len(m) for m in got["error_message"]) == 500  # long messages cut, not dropped
    for path, lines in read_archive_lines(tmp_path / "archive").items():
        folder = path.split("logs/")[1].rsplit("/", 1)[0]
        stamps = {line["timestamp"] for line in lines}
        assert {f"{t[:4]}/{t[5:7]}/{t[8:10]}/hour={t[11:13]}" for t in stamps} == {folder}
    if workspace:
        assert set(gateway["rows"]["workspace_id"].drop_nulls()) > {workspace}  # others exist


def test_the_read_only_role_cannot_write(gateway) -> None:
    with (
        psycopg.connect(gateway["reader"]) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("DELETE FROM agentcc_request_log")


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        ("bad_password", FailureCause.SOURCE_UNREACHABLE),
        ("no_server", FailureCause.SOURCE_UNREACHABLE),
        ("missing_table", FailureCause.BAD_SOURCE_SCHEMA),
        ("missing_column", FailureCause.BAD_SOURCE_SCHEMA),
        ("no_grant", FailureCause.SOURCE_DENIED),
    ],
)
def test_source_failures_are_classified_without_the_password(
    gateway, postgres, change, cause
) -> None:
    from prism_dagster_tests import servers

    dsn, options = gateway["reader"], {}
    secret = READER_PASSWORD
    if change == "bad_password":
        secret = "wrong-Pa55word"
        dsn = dsn.replace(READER_PASSWORD, secret)
    elif change == "no_server":
        dsn = dsn.replace(f":{postgres.port}/", f":{servers.free_port()}/")
    elif change == "missing_table":
        options["table"] = "request_log_typo"
    elif change == "missing_column":
        options["columns"] = {"latency_ms": "latency_millis"}
    else:
        with psycopg.connect(postgres.dsn(db=gateway["db"]), autocommit=True) as conn:
            conn.execute("DROP ROLE IF EXISTS nogrant")
            conn.execute(f"CREATE ROLE nogrant LOGIN PASSWORD '{READER_PASSWORD}'")
        dsn = postgres.dsn("nogrant", READER_PASSWORD, gateway["db"])
    source = PostgresSource(dsn=dsn, organization_id=gateway_db.ORG, **options)
    with pytest.raises(SourceError) as caught:
        source.read_window(START, END)
    assert caught.value.cause is cause, str(caught.value)
    assert secret not in str(caught.value) and dsn not in str(caught.value)
    if change == "missing_column":
        assert "latency_millis" in str(caught.value)


def test_a_failing_source_run_marks_the_integration_error(gateway, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TEST_GATEWAY_DSN", gateway["reader"])
    raw = _config(tmp_path, tmp_path / "archive", tmp_path, table="missing_table")
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw, instance, monkeypatch, hour("2026-04-01T02").replace(minute=30))
        [request, *_] = daemon.schedule()
        assert not daemon.launch(request).success
        state = daemon.store.get("prod")
    assert state.status is Status.ERROR and state.error_cause == "bad source schema"
    assert READER_PASSWORD not in state.last_error


def test_late_rows_are_detected_and_the_hour_rearchived_once(
    gateway, postgres, tmp_path, monkeypatch
) -> None:
    db = gateway_db.new_database(postgres.dsn())
    rows = gateway_db.traffic(START, END, rate=80, seed=32)
    gateway_db.load(postgres.dsn(db=db), rows)
    monkeypatch.setenv("TEST_GATEWAY_DSN", postgres.dsn(db=db))
    raw = _config(tmp_path, tmp_path / "archive", tmp_path)
    now = hour("2026-04-01T02").replace(minute=30)
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw, instance, monkeypatch, now)
        for request in daemon.schedule():
            assert daemon.launch(request).success
        assert daemon.sensor("prism_late_rows").run_requests == []  # nothing changed yet
        late = (
            rows.filter(pl.col("organization_id") == gateway_db.ORG)
            .head(1)
            .with_columns(
                pl.lit("req_late_arrival").alias("request_id"),
                pl.lit("2026-03-31T23:59:59.999Z").alias("started_at"),
                pl.lit(False).alias("deleted"),
                pl.lit(gateway_db.WORKSPACE).alias("workspace_id"),
            )
        )
        gateway_db.load(postgres.dsn(db=db), late, create=False)
        [request] = daemon.sensor("prism_late_rows").run_requests
        assert request.tags["dagster/partition"] == "2026-03-31-23:00"
        assert daemon.launch(request).success
        assert daemon.sensor("prism_late_rows").run_requests == []
    archived = [
        line for lines in read_archive_lines(tmp_path / "archive").values() for line in lines
    ]
    ids = [line["request_id"] for line in archived]
    assert ids.count("req_late_arrival") == 1 and len(ids) == len(set(ids))
    expected = _expected(pl.concat([rows, late], how="vertical_relaxed"))
    assert sorted(ids) == sorted(expected["request_id"])


def test_spool_files_arriving_late_are_rearchived(tmp_path, monkeypatch) -> None:
    from prism_dagster.simulate import simulate
    from prism_dagster_tests.conftest import gateway_row, write_spool

    spool = tmp_path / "spool"
    simulate(spool, START, END, rate=60, seed=33)
    raw = {
        "source": {"kind": "spool", "path": str(spool)},
        "integrations": [
            {"name": "prod", "provider": "local", "path": str(tmp_path / "archive"),
             "start": "2026-03-31T00", "history": {"since": "2026-03-31T22"}}
        ],
        "status_store": {"url": f"sqlite:///{tmp_path / 'status.db'}"},
    }  # fmt: skip
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw, instance, monkeypatch, hour("2026-04-01T02").replace(minute=30))
        for request in daemon.schedule():
            assert daemon.launch(request).success
        assert daemon.sensor("prism_late_rows").run_requests == []
        write_spool(
            spool / "late" / "retry.ndjson", [gateway_row("late_one", "2026-04-01T00:15:00Z")]
        )
        [request] = daemon.sensor("prism_late_rows").run_requests
        assert request.tags["dagster/partition"] == "2026-04-01-00:00"
        assert daemon.launch(request).success
    ids = [
        line["request_id"]
        for lines in read_archive_lines(tmp_path / "archive").values()
        for line in lines
    ]
    assert ids.count("late_one") == 1 and len(ids) == len(set(ids))
