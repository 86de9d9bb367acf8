"""The PostgreSQL source against a real PostgreSQL server started by the tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import psycopg
import pytest

from prism_dagster.archive.normalize import normalize
from prism_dagster.archive.schema import GATEWAY_SCHEMA
from prism_dagster.config import parse_config
from prism_dagster.errors import FailureCause, SourceError
from prism_dagster.lifecycle.status import Status
from prism_dagster.sources.base import (
    REJECT_TIME,
    UPDATED_AT,
    SourceBatch,
    batch_fingerprints,
)
from prism_dagster.sources.pg_stream import KEEPALIVES, where, with_params
from prism_dagster.sources.postgres import PostgresSource
from prism_dagster_tests.support import gateway_db
from prism_dagster_tests.support.archive_reader import read_archive_lines
from prism_dagster_tests.support.lifecycle import Daemon
from prism_dagster_tests.support.rows import gateway_row, hour

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
        ("bad_password", FailureCause.SOURCE_DENIED),
        ("no_server", FailureCause.SOURCE_UNREACHABLE),
        ("missing_table", FailureCause.BAD_SOURCE_SCHEMA),
        ("missing_column", FailureCause.BAD_SOURCE_SCHEMA),
        ("no_grant", FailureCause.SOURCE_DENIED),
    ],
)
def test_source_failures_are_classified_without_the_password(
    gateway, postgres, change, cause
) -> None:
    from prism_dagster_tests.support.process import free_port

    dsn, options = gateway["reader"], {}
    secret = READER_PASSWORD
    if change == "bad_password":
        secret = "wrong-Pa55word"
        dsn = dsn.replace(READER_PASSWORD, secret)
    elif change == "no_server":
        dsn = dsn.replace(f":{postgres.port}/", f":{free_port()}/")
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
    # The first line says where, why and what to fix; the driver's words come after it.
    first = str(caught.value).splitlines()[0]
    assert first.startswith("PostgreSQL table public.") and f": {cause.value}: " in first
    assert any(word in first for word in ("check", "GRANT", "map them")), first
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
    from prism_dagster.sources.simulate import simulate
    from prism_dagster_tests.support.rows import gateway_row, write_spool

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


TABLE = "PostgreSQL table public.agentcc_request_log"
ONE_ROW = [gateway_row("only", "2026-03-31T22:10:00Z")]


def _source(dsn: str, **options: Any) -> PostgresSource:
    return PostgresSource(dsn=dsn, organization_id=gateway_db.ORG, **options)


def test_an_hour_without_rows_is_an_empty_typed_frame(postgres) -> None:
    dsn = gateway_db.fresh(postgres, gateway_db.scoped(ONE_ROW))
    batch = _source(dsn).read_window(hour("2026-03-31T23"), hour("2026-04-01T00"))
    assert batch.rows.schema == pl.Schema({**GATEWAY_SCHEMA, UPDATED_AT: pl.Datetime("us", "UTC")})
    assert batch.rows.height == 0 and batch.rejects.height == 0
    assert normalize(batch.rows).height == 0


def test_windows_without_rows_are_archived_as_empty_hours(postgres, tmp_path, monkeypatch) -> None:
    before = [gateway_row("before", "2026-03-31T21:10:00Z")]  # outside every archived hour
    monkeypatch.setenv("TEST_GATEWAY_DSN", gateway_db.fresh(postgres, gateway_db.scoped(before)))
    _archive_all(_config(tmp_path, tmp_path / "archive", tmp_path), monkeypatch)  # all succeed
    assert read_archive_lines(tmp_path / "archive") == {}


@pytest.fixture(scope="module")
def out_of_range(postgres) -> str:
    """A table with one good row and two whose values are outside their documented range."""
    rows = [
        gateway_row("good", "2026-03-31T22:10:00Z"),
        gateway_row("slow", "2026-03-31T22:20:00Z", latency_ms=-5),
        gateway_row("dear", "2026-03-31T23:30:00Z", cost=-0.5, status_code=1200),
    ]
    return gateway_db.fresh(postgres, gateway_db.scoped(rows))


def test_values_outside_their_range_become_rejects_not_records(out_of_range) -> None:
    batch = _source(out_of_range).read_window(START, END)
    assert batch.rows["request_id"].to_list() == ["good"]
    rejects = batch.rejects.sort(REJECT_TIME)
    assert rejects.schema == SourceBatch.empty_rejects().schema
    file = "postgresql:public.agentcc_request_log"
    assert rejects.drop("line").rows() == [
        (
            file,
            0,
            "latency_ms: expected 0 to 86400000, got -5",
            datetime(2026, 3, 31, 22, 20, tzinfo=UTC),
        ),
        (
            file,
            0,
            "cost: expected 0.0 to 1000000.0, got -0.5; status_code: expected 0 to 999, got 1200",
            datetime(2026, 3, 31, 23, 30, tzinfo=UTC),
        ),
    ]
    lines = [json.loads(line) for line in rejects["line"]]
    assert [(r["request_id"], r["latency_ms"], r["cost"]) for r in lines] == [
        ("slow", -5, 0.02),
        ("dear", 842, -0.5),
    ]
    assert all(list(r) == list(GATEWAY_SCHEMA) for r in lines)


def test_fingerprints_count_out_of_range_rows_as_the_read_does(out_of_range) -> None:
    source = _source(out_of_range)
    found = source.fingerprints(START, END)
    # Equal to what the archive records, or the late-rows sensor would rearchive forever.
    assert found == batch_fingerprints(source.read_window(START, END), START, END)
    assert found[hour("2026-03-31T23")] == "rows=0;rejects=1;updated=-"


def test_rows_without_any_event_time_are_counted(postgres) -> None:
    untimed = [
        gateway_row("timed", "2026-03-31T22:10:00Z"),
        gateway_row("untimed", None),
        gateway_row("untimed_elsewhere", None, workspace_id=gateway_db.OTHER_WORKSPACE),
        gateway_row("untimed_other_org", None, organization_id=gateway_db.OTHER_ORG),
        gateway_row("untimed_deleted", None, deleted=True),
    ]
    nullable = "ALTER TABLE agentcc_request_log ALTER COLUMN created_at DROP NOT NULL"
    dsn = gateway_db.fresh(postgres, gateway_db.scoped(untimed), setup=nullable)
    assert _source(dsn).rows_without_event_time() == 2
    assert _source(dsn, workspace_id=gateway_db.WORKSPACE).rows_without_event_time() == 1
    assert _source(dsn).read_window(START, END).rows["request_id"].to_list() == ["timed"]


@pytest.mark.parametrize("setting", ["organization_id", "workspace_id"])
def test_a_scope_value_of_the_wrong_type_is_a_bad_setting(gateway, postgres, setting) -> None:
    scope = {"organization_id": gateway_db.ORG, "workspace_id": gateway_db.WORKSPACE}
    source = PostgresSource(dsn=gateway["reader"], **{**scope, setting: "acme-prod"})
    with pytest.raises(SourceError) as caught:
        source.read_window(START, END)
    assert caught.value.cause is FailureCause.BAD_SOURCE_SETTING
    assert str(caught.value).splitlines()[0] == (
        f"{TABLE} on 127.0.0.1:{postgres.port}/{gateway['db']}: bad source setting: "
        f"source.{setting} 'acme-prod' is not a valid uuid; set the gateway's own id"
    )
    assert READER_PASSWORD not in str(caught.value)


def test_scope_values_reach_the_server_verbatim(postgres) -> None:
    # They are inlined as constants (ADBC streams only queries without parameters): quotes
    # and backslashes must match as written, whatever standard_conforming_strings says.
    org = "o'x\\y'); DROP TABLE agentcc_request_log; --"
    rows = [gateway_row("theirs", "2026-03-31T22:10:00Z", organization_id=org)]
    setup = (
        "ALTER TABLE agentcc_request_log ALTER COLUMN organization_id TYPE text; "
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET standard_conforming_strings = off', "
        "current_database()); END $$"
    )
    dsn = gateway_db.fresh(postgres, gateway_db.scoped(rows), setup=setup)
    batch = PostgresSource(dsn=dsn, organization_id=org).read_window(START, END)
    assert batch.rows["request_id"].to_list() == ["theirs"]
    assert _source(dsn).read_window(START, END).rows.height == 0


def test_a_bad_scope_value_marks_the_integration_a_bad_setting(
    gateway, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("TEST_GATEWAY_DSN", gateway["reader"])
    raw = _config(tmp_path, tmp_path / "archive", tmp_path)
    raw["source"]["organization_id"] = "acme-prod"
    with dg.instance_for_test() as instance:
        daemon = Daemon(raw, instance, monkeypatch, hour("2026-04-01T02").replace(minute=30))
        [request, *_] = daemon.schedule()
        assert not daemon.launch(request).success
        state = daemon.store.get("prod")
    assert state.status is Status.ERROR and state.error_cause == "bad source setting"


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ("uri", "port 'abc' is not a number; fix the port in the DSN"),
        ("key_value", "port 'abc' is not a number; fix the port in the DSN"),
        ("slash_in_password", "the password cannot be told from the host"),
    ],
)
def test_a_malformed_dsn_is_a_bad_setting_without_the_password(
    gateway, postgres, form, problem
) -> None:
    db = gateway["db"]
    secret = "Zq8/1pw" if form == "slash_in_password" else "Zq8-1pw"
    dsn = {
        "uri": f"postgresql://admin:{secret}@127.0.0.1:abc/{db}",
        "key_value": f"host=127.0.0.1 port=abc dbname={db} user=admin password={secret}",
        "slash_in_password": f"postgresql://admin:{secret}@127.0.0.1:{postgres.port}/{db}",
    }[form]
    with pytest.raises(SourceError) as caught:
        _source(dsn).read_window(START, END)
    assert caught.value.cause is FailureCause.BAD_SOURCE_SETTING
    first = str(caught.value).splitlines()[0]
    assert first.startswith(TABLE) and f": bad source setting: source.dsn: {problem}" in first
    assert all(part not in str(caught.value) for part in ("Zq8", "1pw"))


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://u:pw@db.example:abc/logs", "db.example:abc/logs"),
        ("postgresql://u:p%2Fw@[::1]/logs", "[::1]:5432/logs"),
        ("postgresql://u:pw@h1:5432,h2:5433/logs?sslmode=require", "h1:5432,h2:5433/logs"),
        ("postgresql://u:pw@[::1/logs", "[::1/logs"),
        ("postgresql://u:pa/ss@h/logs", "a host not readable from source.dsn"),
        ("postgresql://u:pa?ss@h/logs", "a host not readable from source.dsn"),
        ("host=h port=abc dbname=logs password='p w'", "h:abc/logs"),
        ("", "localhost:5432/"),
    ],
)
def test_where_names_host_port_and_database_and_never_raises(dsn, shown) -> None:
    assert where(dsn) == shown


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u:p%40ss@h:5/db",
        "postgresql://u:p@h/db?sslmode=disable&connect_timeout=99",
        "postgresql://u:p@h/db?",
        "host=h port=5 user=u password='a b\\'c' connect_timeout=99",
    ],
)
def test_timeouts_and_keepalives_join_the_dsn_and_win(dsn) -> None:
    ours = {"connect_timeout": 10, **KEEPALIVES}
    parsed = psycopg.conninfo.conninfo_to_dict(with_params(dsn, ours))  # libpq's own parser
    expected = psycopg.conninfo.conninfo_to_dict(dsn) | {k: str(v) for k, v in ours.items()}
    assert parsed == expected


def test_the_timeouts_come_from_prism_yaml_with_one_default_each(tmp_path) -> None:
    raw = _config(tmp_path, tmp_path / "archive", tmp_path, idle_timeout_s=5)
    source = parse_config(raw).source.log_source()
    assert isinstance(source, PostgresSource)
    assert (source.connect_timeout_s, source.statement_timeout_s, source.idle_timeout_s) == (
        10,
        600,
        5,
    )
    defaults = PostgresSource(dsn="", organization_id="o")
    assert (defaults.connect_timeout_s, defaults.statement_timeout_s) == (10, 600)
    assert defaults.idle_timeout_s == 60


def test_validate_reports_rows_no_hour_can_hold_once(postgres, tmp_path, monkeypatch, capsys):
    from prism_dagster.cli import main

    untimed = [gateway_row("timed", "2026-03-31T22:10:00Z"), gateway_row("untimed", None)]
    nullable = "ALTER TABLE agentcc_request_log ALTER COLUMN created_at DROP NOT NULL"
    dsn = gateway_db.fresh(postgres, gateway_db.scoped(untimed), setup=nullable)
    monkeypatch.setenv("TEST_GATEWAY_DSN", dsn)
    raw = _config(tmp_path, tmp_path / "archive", tmp_path)
    (tmp_path / "prism.yaml").write_text(json.dumps(raw))
    assert main(["validate", "prod", "--config", str(tmp_path / "prism.yaml")]) == 0
    out = capsys.readouterr().out
    assert "WARN  source" in out and "1 row(s) have neither started_at nor created_at" in out
